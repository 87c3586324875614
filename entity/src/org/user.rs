use sea_orm::entity::prelude::*;

/// One natural person. Residents come in through WeChat (openid), staff and
/// officers also by phone + password.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub display_name: String,
    #[sea_orm(unique)]
    pub wechat_openid: Option<String>,
    pub wechat_unionid: Option<String>,
    /// The phone used for password login (not the phone given when joining a
    /// community, which lives on the membership), sealed (`api::crypto`):
    /// never compare or show it as it is.
    #[sea_orm(column_name = "login_phone")]
    pub login_phone_sealed: Option<String>,
    /// The keyed blind index of the login phone (`api::crypto`), UNIQUE:
    /// what lookups by phone compare.
    #[sea_orm(unique)]
    pub login_phone_blind_index: Option<String>,
    pub password_hash: Option<String>,
    pub is_platform_admin: bool,
    pub failed_login_count: i32,
    pub locked_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// When the person erased their account (`deleteMyAccount`): the name is
    /// a pseudonym, the phones and logins are gone, and tokens are refused.
    pub erased_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
