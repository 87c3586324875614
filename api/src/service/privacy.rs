//! Personal data (issue 8): sealing rows written before encryption, a
//! person's export of everything Linli keeps about them, and the erasure of
//! their account.
//!
//! Erasure keeps the records a community must keep (postings, votes and
//! electorates, pledges, comments, proposals, audit rows): they still name
//! the user id, which now belongs to a pseudonym (`已注销用户-1a2b3c4d`) with
//! no name, phone, WeChat identity or password. A positive points balance or
//! a redemption not yet collected refuses the erasure (INVALID_STATE): the
//! points are the person's to spend or give (转赠) first, as a residents'
//! committee would ask at its counter, and the ledger is never touched.

use chrono::{DateTime, Utc};
use entity::auth::refresh_token;
use entity::consultation::{
    ballot_elector, ballot_proxy, ballot_vote, comment_report, council_member, meeting_attendance,
    proposal, proposal_comment, proposal_rating, proposal_second,
};
use entity::covenant::{covenant_comment, covenant_pledge};
use entity::credits::point_account::{self, AccountKind};
use entity::credits::redemption::{self, RedemptionStatus};
use entity::credits::{activity, activity_signup, posting, team_member, volunteer_profile};
use entity::lists::{need, organisation_representative, project_rating, resource};
use entity::org::membership::{self, MembershipStatus};
use entity::org::{household, personal_data_key, region, region_officer, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::crypto::{DataKeys, SEALED_PREFIX, SealedColumn};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor};
use crate::service::auth::open_login_phone;
use crate::service::org::{open_membership_phone, status_json};
use crate::service::validate;

/// What the person types to confirm the erasure of their account.
pub const ERASE_CONFIRMATION: &str = "确认注销";
/// What an erased person's needs say instead of their description.
pub const ERASED_NEED_DESCRIPTION: &str = "（申请人已注销账号，需求详情已清除）";
/// The format name of an export, for whoever reads the file later.
pub const EXPORT_FORMAT: &str = "linli-personal-data/1";
/// Rows sealed per transaction at start.
const SEAL_BATCH: u64 = 200;

// ---------- at start: the key check and sealing legacy plaintext ----------

/// How many plaintext values [`prepare`] sealed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealReport {
    pub login_phones: u64,
    pub membership_phones: u64,
}

/// Run after migrating and before serving (the binary and the test servers
/// do): refuses a key other than the one the database's personal data is
/// sealed with, then seals every phone still stored as plaintext (rows
/// written before encryption), one transaction per batch. Running it again
/// seals nothing.
pub async fn prepare(db: &DatabaseConnection, keys: &DataKeys) -> anyhow::Result<SealReport> {
    check_key(db, keys).await?;
    let report = SealReport {
        login_phones: seal_login_phones(db, keys).await?,
        membership_phones: seal_membership_phones(db, keys).await?,
    };
    if report != SealReport::default() {
        tracing::info!(
            login_phones = report.login_phones,
            membership_phones = report.membership_phones,
            "sealed phone numbers stored as plaintext"
        );
    }
    Ok(report)
}

/// Keeps the key's fingerprint on the first start; afterwards a process
/// with another key stops here, before it writes anything nobody could read.
async fn check_key(db: &DatabaseConnection, keys: &DataKeys) -> anyhow::Result<()> {
    let stored = personal_data_key::Entity::find_by_id(1).one(db).await?;
    let stored = match stored {
        Some(row) => row,
        None => {
            let inserted = personal_data_key::ActiveModel {
                id: Set(1),
                fingerprint: Set(keys.fingerprint().to_string()),
                created_at: Set(Utc::now()),
            }
            .insert(db)
            .await;
            // Another replica starting at the same moment may have won.
            match inserted {
                Ok(row) => row,
                Err(_) => personal_data_key::Entity::find_by_id(1)
                    .one(db)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("cannot record the data key fingerprint"))?,
            }
        }
    };
    if stored.fingerprint != keys.fingerprint() {
        anyhow::bail!(
            "DATA_ENCRYPTION_KEY is not the key this database's personal data was sealed with \
             (fingerprint {} here, {} in the database, recorded {}): start with the original key \
             (DATA_ENCRYPTION_KEY, or the data_encryption_key file of the data folder)",
            keys.fingerprint(),
            stored.fingerprint,
            stored.created_at.to_rfc3339()
        );
    }
    Ok(())
}

fn plaintext(column: impl ColumnTrait) -> Condition {
    Condition::all()
        .add(column.is_not_null())
        .add(column.ne(""))
        .add(column.not_like(format!("{SEALED_PREFIX}%")))
}

async fn seal_login_phones(db: &DatabaseConnection, keys: &DataKeys) -> anyhow::Result<u64> {
    let mut sealed = 0;
    loop {
        let txn = begin_write(db).await?;
        let rows = user::Entity::find()
            .filter(plaintext(user::Column::LoginPhoneSealed))
            .order_by_asc(user::Column::Id)
            .limit(SEAL_BATCH)
            .all(&txn)
            .await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(sealed);
        }
        for row in rows {
            let Some(stored) = row.login_phone_sealed.as_deref() else {
                continue;
            };
            // Phones were validated before they were stored; an odd legacy
            // value is sealed as it is, trimmed.
            let phone = validate::phone("phone", stored).unwrap_or_else(|_| stored.trim().into());
            user::Entity::update_many()
                .col_expr(
                    user::Column::LoginPhoneSealed,
                    Expr::value(Some(keys.seal(SealedColumn::LoginPhone, row.id, &phone)?)),
                )
                .col_expr(
                    user::Column::LoginPhoneBlindIndex,
                    Expr::value(Some(keys.phone_index(&phone))),
                )
                .filter(user::Column::Id.eq(row.id))
                .exec(&txn)
                .await?;
            sealed += 1;
        }
        txn.commit().await?;
    }
}

async fn seal_membership_phones(db: &DatabaseConnection, keys: &DataKeys) -> anyhow::Result<u64> {
    let mut sealed = 0;
    loop {
        let txn = begin_write(db).await?;
        let rows = membership::Entity::find()
            .filter(plaintext(membership::Column::PhoneSealed))
            .order_by_asc(membership::Column::Id)
            .limit(SEAL_BATCH)
            .all(&txn)
            .await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(sealed);
        }
        for row in rows {
            let phone = row.phone_sealed.trim();
            membership::Entity::update_many()
                .col_expr(
                    membership::Column::PhoneSealed,
                    Expr::value(keys.seal(SealedColumn::MembershipPhone, row.id, phone)?),
                )
                .filter(membership::Column::Id.eq(row.id))
                .exec(&txn)
                .await?;
            sealed += 1;
        }
        txn.commit().await?;
    }
}

// ---------- export ----------

/// Everything Linli keeps about the caller, as one JSON document, phones
/// opened. Only their own records: needs registered for them (not those a
/// grid worker registered for others), their votes (a secret ballot's vote
/// has no choice: it is never stored per voter), their postings and so on.
/// Other people appear only as opaque ids.
pub async fn export_my_data(
    db: &DatabaseConnection,
    keys: &DataKeys,
    actor: &Actor,
) -> ServiceResult<Value> {
    let user_id = policy::authorize_own_personal_data(actor)?;
    let me = user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or_else(ServiceError::session_invalid)?;

    let memberships = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .order_by_asc(membership::Column::Id)
        .all(db)
        .await?;
    let household_ids: Vec<Uuid> = memberships.iter().filter_map(|m| m.household_id).collect();
    let households = household::Entity::find()
        .filter(household::Column::Id.is_in(household_ids))
        .all(db)
        .await?;
    let community_ids: Vec<Uuid> = memberships.iter().map(|m| m.community_id).collect();
    let communities = region::Entity::find()
        .filter(region::Column::Id.is_in(community_ids))
        .all(db)
        .await?;
    let mut membership_json = Vec::with_capacity(memberships.len());
    for m in &memberships {
        let household = m
            .household_id
            .and_then(|id| households.iter().find(|h| h.id == id))
            .map(|h| json!({"building": h.building, "unit": h.unit, "room": h.room}));
        let community = communities
            .iter()
            .find(|c| c.id == m.community_id)
            .map(|c| c.name.clone());
        membership_json.push(json!({
            "id": m.id,
            "community_id": m.community_id,
            "community": community,
            "real_name": m.real_name,
            "phone": open_membership_phone(keys, m)?,
            "household": household,
            "roles": policy::Role::from_bits(m.roles).into_iter().map(role_name).collect::<Vec<_>>(),
            "status": status_json(m)["status"],
            "status_reason": m.status_reason,
            "created_at": m.created_at,
            "updated_at": m.updated_at,
        }));
    }

    let my_accounts: Vec<Uuid> = point_account::Entity::find()
        .select_only()
        .column(point_account::Column::Id)
        .filter(point_account::Column::OwnerId.eq(user_id))
        .into_tuple()
        .all(db)
        .await?;
    let sessions: Vec<SessionRow> = refresh_token::Entity::find()
        .select_only()
        .column(refresh_token::Column::Id)
        .column(refresh_token::Column::CreatedAt)
        .column(refresh_token::Column::ExpiresAt)
        .column(refresh_token::Column::RevokedAt)
        .filter(refresh_token::Column::UserId.eq(user_id))
        .order_by_asc(refresh_token::Column::Id)
        .into_tuple()
        .all(db)
        .await?;

    Ok(json!({
        "format": EXPORT_FORMAT,
        "exported_at": Utc::now(),
        "user": {
            "id": me.id,
            "display_name": me.display_name,
            "login_phone": open_login_phone(keys, &me)?,
            "wechat_openid": me.wechat_openid,
            "wechat_unionid": me.wechat_unionid,
            "has_password_login": me.password_hash.is_some(),
            "is_platform_admin": me.is_platform_admin,
            "created_at": me.created_at,
        },
        "sessions": sessions.into_iter().map(|(id, created_at, expires_at, revoked_at)| json!({
            "id": id, "created_at": created_at, "expires_at": expires_at, "revoked_at": revoked_at,
        })).collect::<Vec<_>>(),
        "memberships": membership_json,
        "region_roles": rows(db, region_officer::Entity::find()
            .filter(region_officer::Column::UserId.eq(user_id))).await?,
        // Three lists.
        "needs": rows(db, need::Entity::find()
            .filter(need::Column::RequesterId.eq(user_id))).await?,
        "resources": rows(db, resource::Entity::find()
            .filter(resource::Column::ProviderId.eq(user_id))).await?,
        "project_ratings": rows(db, project_rating::Entity::find()
            .filter(project_rating::Column::UserId.eq(user_id))).await?,
        "organisation_representations": rows(db, organisation_representative::Entity::find()
            .filter(organisation_representative::Column::UserId.eq(user_id))).await?,
        // Consultation.
        "proposals": rows(db, proposal::Entity::find()
            .filter(proposal::Column::AuthorId.eq(user_id))).await?,
        "proposal_seconds": rows(db, proposal_second::Entity::find()
            .filter(proposal_second::Column::UserId.eq(user_id))).await?,
        "proposal_comments": rows(db, proposal_comment::Entity::find()
            .filter(proposal_comment::Column::AuthorId.eq(user_id))).await?,
        "proposal_ratings": rows(db, proposal_rating::Entity::find()
            .filter(proposal_rating::Column::UserId.eq(user_id))).await?,
        "comment_reports": rows(db, comment_report::Entity::find()
            .filter(comment_report::Column::UserId.eq(user_id))).await?,
        "council_memberships": rows(db, council_member::Entity::find()
            .filter(council_member::Column::UserId.eq(user_id))).await?,
        "meeting_attendance": rows(db, meeting_attendance::Entity::find()
            .filter(meeting_attendance::Column::UserId.eq(user_id))).await?,
        "ballot_electorates": rows(db, ballot_elector::Entity::find()
            .filter(ballot_elector::Column::UserId.eq(user_id))).await?,
        "votes": rows(db, ballot_vote::Entity::find()
            .filter(ballot_vote::Column::VoterId.eq(user_id))).await?,
        "ballot_proxies": rows(db, ballot_proxy::Entity::find()
            .filter(Condition::any()
                .add(ballot_proxy::Column::PrincipalId.eq(user_id))
                .add(ballot_proxy::Column::HolderId.eq(user_id)))).await?,
        // Covenant.
        "covenant_pledges": rows(db, covenant_pledge::Entity::find()
            .filter(covenant_pledge::Column::UserId.eq(user_id))).await?,
        "covenant_comments": rows(db, covenant_comment::Entity::find()
            .filter(covenant_comment::Column::AuthorId.eq(user_id))).await?,
        // Time credits.
        "point_accounts": rows(db, point_account::Entity::find()
            .filter(point_account::Column::OwnerId.eq(user_id))).await?,
        "postings": rows(db, posting::Entity::find()
            .filter(Condition::any()
                .add(posting::Column::FromAccountId.is_in(my_accounts.clone()))
                .add(posting::Column::ToAccountId.is_in(my_accounts)))).await?,
        "redemptions": rows(db, redemption::Entity::find()
            .filter(redemption::Column::UserId.eq(user_id))).await?,
        "volunteer_profiles": rows(db, volunteer_profile::Entity::find()
            .filter(volunteer_profile::Column::UserId.eq(user_id))).await?,
        "team_memberships": rows(db, team_member::Entity::find()
            .filter(team_member::Column::UserId.eq(user_id))).await?,
        "activity_signups": rows(db, activity_signup::Entity::find()
            .filter(activity_signup::Column::UserId.eq(user_id))).await?,
        "activities_organised": rows(db, activity::Entity::find()
            .filter(activity::Column::OrganiserId.eq(user_id))).await?,
    }))
}

/// A session as exported: id, created, expires, revoked (never the token hash).
type SessionRow = (Uuid, DateTime<Utc>, DateTime<Utc>, Option<DateTime<Utc>>);

/// A role as the API names it.
fn role_name(role: policy::Role) -> &'static str {
    match role {
        policy::Role::Resident => "RESIDENT",
        policy::Role::Volunteer => "VOLUNTEER",
        policy::Role::PartyMember => "PARTY_MEMBER",
        policy::Role::CouncilMember => "COUNCIL_MEMBER",
        policy::Role::GridWorker => "GRID_WORKER",
        policy::Role::Staff => "STAFF",
    }
}

/// The rows of one table as JSON objects (column names as keys), in id
/// order where the table has one.
async fn rows<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    select: Select<E>,
) -> ServiceResult<Vec<Value>> {
    let mut found = select.into_json().all(db).await?;
    found.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(found)
}

// ---------- erasure ----------

/// What is left of an erased account.
#[derive(Debug, Clone)]
pub struct Erasure {
    pub user_id: Uuid,
    pub pseudonym: String,
    pub erased_at: DateTime<Utc>,
}

/// `已注销用户-` and the last 8 hex digits of the id (the random part of a UUID v7).
pub fn pseudonym(user_id: Uuid) -> String {
    let simple = user_id.simple().to_string();
    format!("已注销用户-{}", &simple[simple.len() - 8..])
}

/// The caller erases their own account, in one transaction: the name becomes
/// a pseudonym; phones, WeChat identity and password are gone; every session
/// is revoked (and `http` refuses the access tokens of an erased user); each
/// membership is LEFT with the pseudonym and no phone; officer, council and
/// team seats and volunteer skills are removed; the descriptions of the needs
/// registered for them are cleared. Postings, votes, electorates, pledges,
/// proposals, comments and audit rows stay, under the user id.
pub async fn delete_my_account(
    db: &DatabaseConnection,
    actor: &Actor,
    confirmation: &str,
) -> ServiceResult<Erasure> {
    let user_id = policy::authorize_own_personal_data(actor)?;
    if confirmation.trim() != ERASE_CONFIRMATION {
        return Err(ServiceError::bad_input(
            Reason::InvalidField,
            "confirmation",
            format!("请输入“{ERASE_CONFIRMATION}”以确认注销账号"),
        ));
    }
    let txn = begin_write(db).await?;
    let me = user::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .filter(|u| u.erased_at.is_none())
        .ok_or_else(ServiceError::session_invalid)?;
    let balances: Vec<i64> = point_account::Entity::find()
        .select_only()
        .column(point_account::Column::Balance)
        .filter(point_account::Column::OwnerId.eq(user_id))
        .filter(point_account::Column::Kind.eq(AccountKind::Member))
        .filter(point_account::Column::Balance.gt(0))
        .into_tuple()
        .all(&txn)
        .await?;
    let points: i64 = balances.iter().sum();
    if points > 0 {
        return Err(ServiceError::invalid_state(
            Reason::PointsUnspent,
            format!("您还有{points}积分未使用：请先兑换或转赠给家人邻里，再注销账号"),
        ));
    }
    let reserved = redemption::Entity::find()
        .filter(redemption::Column::UserId.eq(user_id))
        .filter(redemption::Column::Status.eq(RedemptionStatus::Reserved))
        .count(&txn)
        .await?;
    if reserved > 0 {
        return Err(ServiceError::invalid_state(
            Reason::RedemptionPending,
            "您还有未领取的积分兑换：请先领取或取消，再注销账号",
        ));
    }

    let now = Utc::now();
    let pseudonym = pseudonym(user_id);
    let mut active: user::ActiveModel = me.into();
    active.display_name = Set(pseudonym.clone());
    active.wechat_openid = Set(None);
    active.wechat_unionid = Set(None);
    active.login_phone_sealed = Set(None);
    active.login_phone_blind_index = Set(None);
    active.password_hash = Set(None);
    // A platform administrator who leaves is replaced with `api create-admin`.
    active.is_platform_admin = Set(false);
    active.failed_login_count = Set(0);
    active.locked_until = Set(None);
    active.erased_at = Set(Some(now));
    active.update(&txn).await?;

    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Some(now)))
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;

    let memberships = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .order_by_asc(membership::Column::Id)
        .all(&txn)
        .await?;
    let mut memberships_left = 0;
    for found in &memberships {
        let leaves = matches!(
            found.status,
            MembershipStatus::Pending | MembershipStatus::Active
        );
        let mut active: membership::ActiveModel = found.clone().into();
        active.real_name = Set(pseudonym.clone());
        active.phone_sealed = Set(String::new());
        active.updated_at = Set(now);
        if leaves {
            active.status = Set(MembershipStatus::Left);
            active.roles = Set(0);
            active.status_reason = Set(Some("本人已注销账号".to_string()));
            memberships_left += 1;
        }
        let saved = active.update(&txn).await?;
        audit::record(
            &txn,
            AuditEntry::new("membership", saved.id, "erase")
                .community(saved.community_id)
                .actor(Some(user_id))
                .change(Some(status_json(found)), Some(status_json(&saved))),
        )
        .await?;
    }

    let officer_roles = region_officer::Entity::delete_many()
        .filter(region_officer::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?
        .rows_affected;
    let council_seats = council_member::Entity::delete_many()
        .filter(council_member::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?
        .rows_affected;
    let team_seats = team_member::Entity::delete_many()
        .filter(team_member::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?
        .rows_affected;
    let volunteer_profiles = volunteer_profile::Entity::delete_many()
        .filter(volunteer_profile::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?
        .rows_affected;
    let needs_cleared = need::Entity::update_many()
        .col_expr(
            need::Column::Description,
            Expr::value(ERASED_NEED_DESCRIPTION),
        )
        .col_expr(need::Column::UpdatedAt, Expr::value(now))
        .filter(need::Column::RequesterId.eq(user_id))
        .filter(need::Column::Description.ne(ERASED_NEED_DESCRIPTION))
        .exec(&txn)
        .await?
        .rows_affected;

    audit::record(
        &txn,
        AuditEntry::new("user", user_id, "erase")
            .actor(Some(user_id))
            .change(
                Some(json!({"erased": false})),
                Some(json!({
                    "erased": true,
                    "pseudonym": pseudonym,
                    "memberships_left": memberships_left,
                    "officer_roles_removed": officer_roles,
                    "council_seats_removed": council_seats,
                    "team_seats_removed": team_seats,
                    "volunteer_profiles_removed": volunteer_profiles,
                    "needs_cleared": needs_cleared,
                })),
            ),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(user_id = %user_id, "account erased at the person's request");
    Ok(Erasure {
        user_id,
        pseudonym,
        erased_at: now,
    })
}
