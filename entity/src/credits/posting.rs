use sea_orm::entity::prelude::*;

/// One movement of points from one account to another. Never updated or
/// deleted (database triggers refuse it); a correction is a new posting of
/// the same kind, in the other direction, that names the one it reverses.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "posting")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub kind: PostingKind,
    /// The points moved, always positive (CHECK amount > 0).
    pub amount: i32,
    pub from_account_id: Uuid,
    pub to_account_id: Uuid,
    /// Who asked for it; none when the system posted it (expiry).
    pub actor_id: Option<Uuid>,
    pub memo: Option<String>,
    /// Minutes of service an EARN posting pays for (and its reversal takes back).
    pub minutes: Option<i32>,
    pub activity_id: Option<Uuid>,
    pub redemption_id: Option<Uuid>,
    /// The idempotency key of the client request that made it.
    pub request_id: Option<Uuid>,
    /// The posting this one reverses (UNIQUE: a posting is reversed once).
    pub reverses_posting_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum PostingKind {
    /// Confirmed service: issuing account → volunteer.
    #[sea_orm(string_value = "EARN")]
    Earn,
    /// Spent on a catalogue item: member → issuing account.
    #[sea_orm(string_value = "REDEEM")]
    Redeem,
    /// Given to another member.
    #[sea_orm(string_value = "TRANSFER")]
    Transfer,
    /// Points older than the validity period: member → issuing account.
    #[sea_orm(string_value = "EXPIRE")]
    Expire,
    /// A staff correction, with a reason.
    #[sea_orm(string_value = "ADJUST")]
    Adjust,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
