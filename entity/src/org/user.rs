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
    /// community, which lives on the membership).
    #[sea_orm(unique)]
    pub login_phone: Option<String>,
    pub password_hash: Option<String>,
    pub is_platform_admin: bool,
    pub failed_login_count: i32,
    pub locked_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
