//! The double-entry points ledger (DESIGN §6).
//!
//! Every community has one ISSUING account (it may go below zero: minus the
//! points in circulation) and one DONATION_POOL; every member who holds
//! points has one MEMBER account. A posting moves a positive whole number of
//! points from one account to another; [`post`] changes both balances in the
//! caller's transaction, so the sum over a community's accounts stays zero
//! and each balance equals the sum of its postings. A member balance never
//! goes below zero: the debit is a conditional UPDATE (`balance >= amount`)
//! and a CHECK constraint backs it. Postings are never changed; a correction
//! is a reversing posting (`reverses_posting_id`, unique).

use chrono::{DateTime, Months, Utc};
use entity::credits::point_account::{self, AccountKind};
use entity::credits::posting::{self, PostingKind};
use entity::org::membership::{self, MembershipStatus};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission};
use crate::service::credits::idempotency::{self, Claim, Request};
use crate::service::credits::settings;
use crate::service::page::{Order, Page, PageRequest, paginate};
use crate::service::validate;

/// A posting as seen from one account: its amount is signed from there.
#[derive(Debug, Clone)]
pub struct PostingView {
    pub posting: posting::Model,
    pub account_id: Uuid,
}

impl PostingView {
    /// Positive when the points came into the account, negative when they left.
    pub fn signed_amount(&self) -> i64 {
        let amount = i64::from(self.posting.amount);
        if self.posting.to_account_id == self.account_id {
            amount
        } else {
            -amount
        }
    }
}

// ---------- accounts ----------

/// The account of `kind` (and `owner` for a member), created when missing.
/// Safe under concurrency: the insert does nothing when another one won.
/// Writers call it inside the transaction that posts to the account, so a
/// refused request leaves no empty account behind. An account being opened
/// holds back others opening the same one until its transaction ends, so
/// each transaction opens its accounts before any other write and in one
/// order (issuing, donation pool, then members by owner id): two first
/// postings at once then never wait on each other in a cycle.
pub async fn ensure_account<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
    kind: AccountKind,
    owner_id: Option<Uuid>,
) -> ServiceResult<point_account::Model> {
    let find = || {
        let query = point_account::Entity::find()
            .filter(point_account::Column::CommunityId.eq(community_id))
            .filter(point_account::Column::Kind.eq(kind));
        match owner_id {
            Some(owner) => query.filter(point_account::Column::OwnerId.eq(owner)),
            None => query.filter(point_account::Column::OwnerId.is_null()),
        }
    };
    if let Some(found) = find().one(db).await? {
        return Ok(found);
    }
    point_account::Entity::insert(point_account::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(community_id),
        kind: Set(kind),
        owner_id: Set(owner_id),
        balance: Set(0),
        minutes_served: Set(0),
        created_at: Set(Utc::now()),
    })
    .on_conflict(OnConflict::new().do_nothing().to_owned())
    .try_insert()
    .exec_without_returning(db)
    .await?;
    find()
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("account not created")))
}

pub async fn issuing_account<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
) -> ServiceResult<point_account::Model> {
    ensure_account(db, community_id, AccountKind::Issuing, None).await
}

pub async fn donation_pool<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
) -> ServiceResult<point_account::Model> {
    ensure_account(db, community_id, AccountKind::DonationPool, None).await
}

pub async fn member_account<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
    user_id: Uuid,
) -> ServiceResult<point_account::Model> {
    ensure_account(db, community_id, AccountKind::Member, Some(user_id)).await
}

/// The accounts of two members, opened in owner-id order (see
/// [`ensure_account`]) and returned as `(a's, b's)`.
pub async fn member_account_pair<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
    a: Uuid,
    b: Uuid,
) -> ServiceResult<(point_account::Model, point_account::Model)> {
    if a <= b {
        let first = member_account(db, community_id, a).await?;
        Ok((first, member_account(db, community_id, b).await?))
    } else {
        let second = member_account(db, community_id, b).await?;
        Ok((member_account(db, community_id, a).await?, second))
    }
}

/// The accounts of `owners`, in that order, opened in owner-id order (see
/// [`ensure_account`]).
pub async fn member_accounts<C: ConnectionTrait>(
    db: &C,
    community_id: Uuid,
    owners: &[Uuid],
) -> ServiceResult<Vec<point_account::Model>> {
    let mut by_owner: Vec<usize> = (0..owners.len()).collect();
    by_owner.sort_by_key(|&i| owners[i]);
    let mut opened = vec![None; owners.len()];
    for i in by_owner {
        opened[i] = Some(member_account(db, community_id, owners[i]).await?);
    }
    Ok(opened.into_iter().flatten().collect())
}

// ---------- posting ----------

/// One movement of points, as [`post`] takes it.
#[derive(Debug, Clone)]
pub struct Movement {
    pub kind: PostingKind,
    pub amount: i64,
    pub from: Uuid,
    pub to: Uuid,
    pub actor_id: Option<Uuid>,
    pub memo: Option<String>,
    /// Minutes of service that move with the points (EARN and its reversal).
    pub minutes: Option<i32>,
    pub activity_id: Option<Uuid>,
    pub redemption_id: Option<Uuid>,
    pub request_id: Option<Uuid>,
    pub reverses: Option<Uuid>,
    /// Refuse the posting if the receiving member's balance would pass this.
    pub to_cap: Option<i64>,
    pub at: DateTime<Utc>,
}

impl Movement {
    pub fn new(kind: PostingKind, amount: i64, from: Uuid, to: Uuid, at: DateTime<Utc>) -> Self {
        Movement {
            kind,
            amount,
            from,
            to,
            actor_id: None,
            memo: None,
            minutes: None,
            activity_id: None,
            redemption_id: None,
            request_id: None,
            reverses: None,
            to_cap: None,
            at,
        }
    }
}

/// Writes a posting and moves both balances, in the caller's transaction.
/// INVALID_STATE when the paying member has too few points.
pub async fn post<C: ConnectionTrait>(
    txn: &C,
    community_id: Uuid,
    movement: Movement,
) -> ServiceResult<posting::Model> {
    let amount = i32::try_from(movement.amount)
        .ok()
        .filter(|a| *a > 0)
        .ok_or_else(|| {
            ServiceError::bad_input(Reason::ValueOutOfRange, "amount", "积分数额须为正整数")
        })?;
    if movement.from == movement.to {
        return Err(ServiceError::bad_input(
            Reason::SelfReference,
            "toUserId",
            "不能转给同一个账户",
        ));
    }
    let accounts = point_account::Entity::find()
        .filter(point_account::Column::Id.is_in([movement.from, movement.to]))
        .filter(point_account::Column::CommunityId.eq(community_id))
        .all(txn)
        .await?;
    let find = |id: Uuid| {
        accounts
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .ok_or(ServiceError::NotFound("积分账户"))
    };
    let from = find(movement.from)?;
    let to = find(movement.to)?;
    let minutes = i64::from(movement.minutes.unwrap_or(0));
    let member_minutes = |account: &point_account::Model| {
        if account.kind == AccountKind::Member {
            minutes
        } else {
            0
        }
    };

    // Debit and credit in account-id order: two postings between the same
    // accounts lock their rows in the same order and cannot deadlock.
    let mut steps = [
        (from.clone(), -i64::from(amount), -member_minutes(&from)),
        (to.clone(), i64::from(amount), member_minutes(&to)),
    ];
    steps.sort_by_key(|(account, _, _)| account.id);
    for (account, delta, minutes_delta) in steps {
        let mut update = point_account::Entity::update_many()
            .col_expr(
                point_account::Column::Balance,
                Expr::col(point_account::Column::Balance).add(delta),
            )
            .col_expr(
                point_account::Column::MinutesServed,
                Expr::col(point_account::Column::MinutesServed).add(minutes_delta),
            )
            .filter(point_account::Column::Id.eq(account.id));
        if delta < 0 && account.kind != AccountKind::Issuing {
            update = update.filter(point_account::Column::Balance.gte(-delta));
        }
        if minutes_delta < 0 {
            update = update.filter(point_account::Column::MinutesServed.gte(-minutes_delta));
        }
        if let (true, Some(cap)) = (delta > 0, movement.to_cap) {
            update = update.filter(point_account::Column::Balance.lte(cap - delta));
        }
        let done = update.exec(txn).await?;
        if done.rows_affected != 1 {
            return Err(if delta < 0 {
                ServiceError::invalid_state(Reason::InsufficientPoints, "积分余额不足")
            } else {
                ServiceError::invalid_state(
                    Reason::BalanceCapReached,
                    "对方积分已达上限，无法再接收",
                )
            });
        }
    }

    let saved = posting::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(community_id),
        kind: Set(movement.kind),
        amount: Set(amount),
        from_account_id: Set(from.id),
        to_account_id: Set(to.id),
        actor_id: Set(movement.actor_id),
        memo: Set(movement.memo),
        minutes: Set(movement.minutes),
        activity_id: Set(movement.activity_id),
        redemption_id: Set(movement.redemption_id),
        request_id: Set(movement.request_id),
        reverses_posting_id: Set(movement.reverses),
        created_at: Set(movement.at),
    }
    .insert(txn)
    .await?;
    audit::record(
        txn,
        AuditEntry::new("posting", saved.id, "post")
            .community(community_id)
            .actor(saved.actor_id)
            .change(None, Some(posting_json(&saved))),
    )
    .await?;
    Ok(saved)
}

fn posting_json(p: &posting::Model) -> serde_json::Value {
    json!({
        "kind": p.kind.to_value(),
        "amount": p.amount,
        "from": p.from_account_id,
        "to": p.to_account_id,
        "memo": p.memo,
        "minutes": p.minutes,
        "reverses": p.reverses_posting_id,
        "request": p.request_id,
    })
}

pub async fn postings_by_ids<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> ServiceResult<Vec<posting::Model>> {
    let rows = posting::Entity::find()
        .filter(posting::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    ids.iter()
        .map(|id| {
            rows.iter()
                .find(|p| p.id == *id)
                .cloned()
                .ok_or(ServiceError::NotFound("积分流水"))
        })
        .collect()
}

/// The caller's standing, requiring an active membership (an account
/// belongs to a member).
async fn member_standing(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<policy::Standing> {
    let standing = policy::standing(db, actor, community_id).await?;
    if !standing.is_member() || !standing.allows(Permission::UseCredits) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    Ok(standing)
}

// ---------- transfers ----------

#[derive(Debug, Clone)]
pub struct TransferInput {
    pub community_id: Uuid,
    pub to_user_id: Uuid,
    pub amount: i32,
    pub memo: Option<String>,
    pub idempotency_key: String,
}

/// A member gives points to another member (TRANSFER), as the community's
/// transfer rule allows. Seen from the giver's account.
pub async fn transfer_points(
    db: &DatabaseConnection,
    actor: &Actor,
    input: TransferInput,
) -> ServiceResult<PostingView> {
    let standing = member_standing(db, actor, input.community_id).await?;
    let user_id = standing.user_id;
    if input.amount <= 0 {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "amount",
            "转赠积分须为正整数",
        ));
    }
    let memo = match &input.memo {
        Some(memo) if !memo.trim().is_empty() => Some(validate::text("memo", memo, 200)?),
        _ => None,
    };
    if input.to_user_id == user_id {
        return Err(ServiceError::bad_input(
            Reason::SelfReference,
            "toUserId",
            "不能把积分转给自己",
        ));
    }
    let request = Request::new(
        input.community_id,
        &input.idempotency_key,
        "transfer",
        user_id,
        &[
            input.to_user_id.to_string(),
            input.amount.to_string(),
            memo.clone().unwrap_or_default(),
        ],
    )?;
    if let Some(Claim::Replay(ids)) = idempotency::lookup(db, &request).await? {
        return replay_one(db, &ids, |p| p.from_account_id).await;
    }

    let members = membership::Entity::find()
        .filter(membership::Column::CommunityId.eq(input.community_id))
        .filter(membership::Column::UserId.is_in([user_id, input.to_user_id]))
        .filter(membership::Column::Status.eq(MembershipStatus::Active))
        .all(db)
        .await?;
    let recipient = members
        .iter()
        .find(|m| m.user_id == input.to_user_id)
        .ok_or_else(|| {
            ServiceError::bad_input(
                Reason::ReferenceInvalid,
                "toUserId",
                "接收人不是本社区的在册成员",
            )
        })?;
    let rules = settings::rules(db, input.community_id).await?;
    if rules.transfer_policy == entity::credits::credit_setting::TransferPolicy::FamilyOnly {
        let own_household = members
            .iter()
            .find(|m| m.user_id == user_id)
            .and_then(|m| m.household_id);
        if own_household.is_none() || own_household != recipient.household_id {
            return Err(ServiceError::bad_input(
                Reason::TransferFamilyOnly,
                "toUserId",
                "本社区只允许转赠给登记在同一户的家庭成员",
            ));
        }
    }

    let txn = begin_write(db).await?;
    let key_id = match idempotency::claim(&txn, &request).await? {
        Claim::Fresh(id) => id,
        Claim::Replay(ids) => {
            drop(txn);
            return replay_one(db, &ids, |p| p.from_account_id).await;
        }
    };
    let (sender, receiver) =
        member_account_pair(&txn, input.community_id, user_id, input.to_user_id).await?;
    let mut movement = Movement::new(
        PostingKind::Transfer,
        i64::from(input.amount),
        sender.id,
        receiver.id,
        Utc::now(),
    );
    movement.actor_id = Some(user_id);
    movement.memo = memo;
    movement.request_id = Some(key_id);
    movement.to_cap = rules.balance_cap.map(i64::from);
    let saved = post(&txn, input.community_id, movement).await?;
    idempotency::finish(&txn, key_id, &[saved.id]).await?;
    txn.commit().await?;
    Ok(PostingView {
        posting: saved,
        account_id: sender.id,
    })
}

async fn replay_one(
    db: &DatabaseConnection,
    ids: &[Uuid],
    account_of: impl FnOnce(&posting::Model) -> Uuid,
) -> ServiceResult<PostingView> {
    let posting = postings_by_ids(db, ids)
        .await?
        .into_iter()
        .next()
        .ok_or(ServiceError::NotFound("积分流水"))?;
    Ok(PostingView {
        account_id: account_of(&posting),
        posting,
    })
}

// ---------- staff corrections ----------

#[derive(Debug, Clone)]
pub struct AdjustInput {
    pub account_id: Uuid,
    /// Positive: points added to the account; negative: taken from it.
    pub amount: i32,
    pub reason: String,
    pub idempotency_key: String,
}

/// Staff correct a member's (or the donation pool's) balance against the
/// issuing account (ADJUST), with a reason; never their own account.
pub async fn adjust_points(
    db: &DatabaseConnection,
    actor: &Actor,
    input: AdjustInput,
) -> ServiceResult<PostingView> {
    actor.user_id()?;
    let account = point_account::Entity::find_by_id(input.account_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("积分账户"))?;
    let grant =
        policy::authorize(db, actor, account.community_id, Permission::ManageLedger).await?;
    if account.kind == AccountKind::Issuing {
        return Err(ServiceError::bad_input(
            Reason::InvalidField,
            "accountId",
            "不能调整社区发行账户",
        ));
    }
    if account.owner_id == Some(grant.user_id) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    if input.amount == 0 {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "amount",
            "调整积分不能为0",
        ));
    }
    let reason = validate::text("reason", &input.reason, 500)?;
    let request = Request::new(
        account.community_id,
        &input.idempotency_key,
        "adjust",
        grant.user_id,
        &[
            account.id.to_string(),
            input.amount.to_string(),
            reason.clone(),
        ],
    )?;
    if let Some(Claim::Replay(ids)) = idempotency::lookup(db, &request).await? {
        return replay_one(db, &ids, |_| account.id).await;
    }
    let txn = begin_write(db).await?;
    let key_id = match idempotency::claim(&txn, &request).await? {
        Claim::Fresh(id) => id,
        Claim::Replay(ids) => {
            drop(txn);
            return replay_one(db, &ids, |_| account.id).await;
        }
    };
    let issuing = issuing_account(&txn, account.community_id).await?;
    let (from, to) = if input.amount > 0 {
        (issuing.id, account.id)
    } else {
        (account.id, issuing.id)
    };
    let mut movement = Movement::new(
        PostingKind::Adjust,
        i64::from(input.amount).abs(),
        from,
        to,
        Utc::now(),
    );
    movement.actor_id = Some(grant.user_id);
    movement.memo = Some(reason);
    movement.request_id = Some(key_id);
    let saved = post(&txn, account.community_id, movement).await?;
    idempotency::finish(&txn, key_id, &[saved.id]).await?;
    txn.commit().await?;
    Ok(PostingView {
        posting: saved,
        account_id: account.id,
    })
}

/// Staff reverse a posting: a new posting of the same kind, back the other
/// way, linked to it. A posting is reversed once; a reversal is not reversed;
/// a redemption is undone by cancelling it (which refunds its stock too).
pub async fn reverse_posting(
    db: &DatabaseConnection,
    actor: &Actor,
    posting_id: Uuid,
    reason: &str,
    idempotency_key: &str,
) -> ServiceResult<PostingView> {
    actor.user_id()?;
    let original = posting::Entity::find_by_id(posting_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("积分流水"))?;
    let grant =
        policy::authorize(db, actor, original.community_id, Permission::ManageLedger).await?;
    let reason = validate::text("reason", reason, 500)?;
    let request = Request::new(
        original.community_id,
        idempotency_key,
        "reverse",
        grant.user_id,
        &[original.id.to_string(), reason.clone()],
    )?;
    if let Some(Claim::Replay(ids)) = idempotency::lookup(db, &request).await? {
        return replay_one(db, &ids, |_| original.to_account_id).await;
    }
    if original.reverses_posting_id.is_some() {
        return Err(ServiceError::invalid_state(
            Reason::ReversalNotAllowed,
            "冲正记录本身不能再冲正",
        ));
    }
    if original.kind == PostingKind::Redeem {
        return Err(ServiceError::invalid_state(
            Reason::ReversalNotAllowed,
            "兑换的积分请通过取消兑换退回，库存会一并恢复",
        ));
    }
    let txn = begin_write(db).await?;
    let key_id = match idempotency::claim(&txn, &request).await? {
        Claim::Fresh(id) => id,
        Claim::Replay(ids) => {
            drop(txn);
            return replay_one(db, &ids, |_| original.to_account_id).await;
        }
    };
    let already = posting::Entity::find()
        .filter(posting::Column::ReversesPostingId.eq(original.id))
        .count(&txn)
        .await?;
    if already > 0 {
        return Err(ServiceError::invalid_state(
            Reason::AlreadyReversed,
            "该笔流水已冲正，不能重复冲正",
        ));
    }
    let saved = post(
        &txn,
        original.community_id,
        reversal_of(&original, Some(grant.user_id), reason, Some(key_id)),
    )
    .await?;
    idempotency::finish(&txn, key_id, &[saved.id]).await?;
    txn.commit().await?;
    Ok(PostingView {
        posting: saved,
        account_id: original.to_account_id,
    })
}

/// The movement that reverses `original`.
pub fn reversal_of(
    original: &posting::Model,
    actor_id: Option<Uuid>,
    reason: String,
    request_id: Option<Uuid>,
) -> Movement {
    let mut movement = Movement::new(
        original.kind,
        i64::from(original.amount),
        original.to_account_id,
        original.from_account_id,
        Utc::now(),
    );
    movement.actor_id = actor_id;
    movement.memo = Some(reason);
    movement.minutes = original.minutes;
    movement.activity_id = original.activity_id;
    movement.redemption_id = original.redemption_id;
    movement.request_id = request_id;
    movement.reverses = Some(original.id);
    movement
}

// ---------- reading ----------

/// The caller's account in a community (opened on first look).
pub async fn my_account(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<point_account::Model> {
    let standing = member_standing(db, actor, community_id).await?;
    member_account(db, community_id, standing.user_id).await
}

/// An account, for its owner and for those who may see the ledger.
pub async fn visible_account(
    db: &DatabaseConnection,
    actor: &Actor,
    account_id: Uuid,
) -> ServiceResult<point_account::Model> {
    let user_id = actor.user_id()?;
    let account = point_account::Entity::find_by_id(account_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("积分账户"))?;
    let standing = policy::standing(db, actor, account.community_id).await?;
    if account.owner_id == Some(user_id) || standing.allows(Permission::ViewLedger) {
        Ok(account)
    } else {
        Err(ServiceError::NotFound("积分账户"))
    }
}

/// An account's statement, newest first.
pub async fn account_postings(
    db: &DatabaseConnection,
    actor: &Actor,
    account_id: Uuid,
    page: PageRequest,
) -> ServiceResult<Page<PostingView>> {
    let account = visible_account(db, actor, account_id).await?;
    let either = Condition::any()
        .add(posting::Column::FromAccountId.eq(account.id))
        .add(posting::Column::ToAccountId.eq(account.id));
    let rows = paginate(
        db,
        posting::Entity::find().filter(either),
        Order::NewestFirst,
        page,
    )
    .await?;
    Ok(rows.map(|posting| PostingView {
        posting,
        account_id: account.id,
    }))
}

// ---------- expiry ----------

/// What one expiry run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    pub accounts: i64,
    pub points: i64,
}

/// Staff run expiry for their community now.
pub async fn run_expiry(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<ExpiryReport> {
    let grant = policy::authorize(db, actor, community_id, Permission::ManageLedger).await?;
    expire_points(db, community_id, Utc::now(), Some(grant.user_id)).await
}

/// Expires, as of `now`, the points of every member account of the community
/// that are older than the validity period: spending uses the oldest points
/// first, so what is left of the points received up to `now − validity` is
/// the points received by then minus everything ever paid out (never more
/// than the balance). Each such remainder goes to the issuing account by an
/// EXPIRE posting. Running it again with the same `now` finds nothing left.
pub async fn expire_points(
    db: &DatabaseConnection,
    community_id: Uuid,
    now: DateTime<Utc>,
    actor_id: Option<Uuid>,
) -> ServiceResult<ExpiryReport> {
    let rules = settings::rules(db, community_id).await?;
    let months = u32::try_from(rules.validity_months).unwrap_or(1);
    let Some(cutoff) = now.checked_sub_months(Months::new(months)) else {
        return Ok(ExpiryReport::default());
    };
    let txn = begin_write(db).await?;
    let issuing = issuing_account(&txn, community_id).await?;
    let accounts = point_account::Entity::find()
        .filter(point_account::Column::CommunityId.eq(community_id))
        .filter(point_account::Column::Kind.eq(AccountKind::Member))
        .filter(point_account::Column::Balance.gt(0))
        .all(&txn)
        .await?;
    let received: Vec<(Uuid, i64)> = posting::Entity::find()
        .select_only()
        .column(posting::Column::ToAccountId)
        .column_as(posting::Column::Amount.sum(), "total")
        .filter(posting::Column::CommunityId.eq(community_id))
        .filter(posting::Column::CreatedAt.lte(cutoff))
        .group_by(posting::Column::ToAccountId)
        .into_tuple()
        .all(&txn)
        .await?;
    let paid: Vec<(Uuid, i64)> = posting::Entity::find()
        .select_only()
        .column(posting::Column::FromAccountId)
        .column_as(posting::Column::Amount.sum(), "total")
        .filter(posting::Column::CommunityId.eq(community_id))
        .group_by(posting::Column::FromAccountId)
        .into_tuple()
        .all(&txn)
        .await?;
    let sum_for = |rows: &[(Uuid, i64)], id: Uuid| {
        rows.iter()
            .find(|(account, _)| *account == id)
            .map(|(_, total)| *total)
            .unwrap_or(0)
    };
    let mut report = ExpiryReport::default();
    for account in accounts {
        let stale = sum_for(&received, account.id) - sum_for(&paid, account.id);
        let due = Ord::min(stale, account.balance);
        if due <= 0 {
            continue;
        }
        let mut movement = Movement::new(PostingKind::Expire, due, account.id, issuing.id, now);
        movement.actor_id = actor_id;
        movement.memo = Some(format!(
            "积分超过{}个月有效期（{}前获得）",
            rules.validity_months,
            cutoff.format("%Y-%m-%d")
        ));
        post(&txn, community_id, movement).await?;
        report.accounts += 1;
        report.points += due;
    }
    txn.commit().await?;
    Ok(report)
}

/// Every community that holds member accounts (for the scheduler).
pub async fn communities_with_accounts(db: &DatabaseConnection) -> ServiceResult<Vec<Uuid>> {
    Ok(point_account::Entity::find()
        .select_only()
        .column(point_account::Column::CommunityId)
        .filter(point_account::Column::Kind.eq(AccountKind::Member))
        .distinct()
        .into_tuple()
        .all(db)
        .await?)
}
