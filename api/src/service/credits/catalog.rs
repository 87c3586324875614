//! The catalogue: items priced in points with stock, redemptions that
//! reserve stock and spend points atomically, pick-up by code, and
//! cancellation that refunds both.

use chrono::Utc;
use entity::credits::catalog_item;
use entity::credits::posting::{self, PostingKind};
use entity::credits::redemption::{self, RedemptionStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission};
use crate::service::credits::idempotency::{self, Claim, Request};
use crate::service::credits::ledger::{self, Movement};
use crate::service::credits::random_digits;
use crate::service::page::{Order, Page, PageRequest, paginate};
use crate::service::validate;

#[derive(Debug, Clone)]
pub struct NewItem {
    pub community_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub price_points: i32,
    pub stock: i32,
    pub resource_id: Option<Uuid>,
}

pub async fn create_item(
    db: &DatabaseConnection,
    actor: &Actor,
    input: NewItem,
) -> ServiceResult<catalog_item::Model> {
    let grant = policy::authorize(db, actor, input.community_id, Permission::ManageCatalog).await?;
    let title = validate::text("title", &input.title, 100)?;
    let description = match &input.description {
        Some(d) if !d.trim().is_empty() => Some(validate::text("description", d, 2000)?),
        _ => None,
    };
    if !(1..=1_000_000).contains(&input.price_points) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "pricePoints",
            "所需积分须在1到1000000之间",
        ));
    }
    if !(0..=100_000).contains(&input.stock) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "stock",
            "库存须在0到100000之间",
        ));
    }
    if let Some(resource_id) = input.resource_id {
        // The resource the item comes from: one of this community's resources list.
        let resource = entity::lists::resource::Entity::find_by_id(resource_id)
            .one(db)
            .await?;
        if resource.is_none_or(|r| r.community_id != input.community_id) {
            return Err(ServiceError::bad_input(
                Reason::ReferenceInvalid,
                "resourceId",
                "资源不存在或不属于本社区",
            ));
        }
    }
    let now = Utc::now();
    let txn = begin_write(db).await?;
    let created = catalog_item::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(input.community_id),
        title: Set(title),
        description: Set(description),
        price_points: Set(input.price_points),
        stock: Set(input.stock),
        resource_id: Set(input.resource_id),
        active: Set(true),
        created_by: Set(grant.user_id),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("catalog_item", created.id, "create")
            .community(created.community_id)
            .actor(Some(grant.user_id))
            .change(
                None,
                Some(json!({"title": created.title, "pricePoints": created.price_points, "stock": created.stock, "resource": created.resource_id})),
            ),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Staff add stock to an item.
pub async fn restock_item(
    db: &DatabaseConnection,
    actor: &Actor,
    item_id: Uuid,
    added: i32,
) -> ServiceResult<catalog_item::Model> {
    actor.user_id()?;
    let item = catalog_item::Entity::find_by_id(item_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("兑换物品"))?;
    let grant = policy::authorize(db, actor, item.community_id, Permission::ManageCatalog).await?;
    if !(1..=100_000).contains(&added) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "quantity",
            "补充数量须在1到100000之间",
        ));
    }
    let txn = begin_write(db).await?;
    catalog_item::Entity::update_many()
        .col_expr(
            catalog_item::Column::Stock,
            Expr::col(catalog_item::Column::Stock).add(added),
        )
        .col_expr(catalog_item::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(catalog_item::Column::Id.eq(item.id))
        .exec(&txn)
        .await?;
    let saved = catalog_item::Entity::find_by_id(item.id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound("兑换物品"))?;
    audit::record(
        &txn,
        AuditEntry::new("catalog_item", item.id, "restock")
            .community(item.community_id)
            .actor(Some(grant.user_id))
            .change(
                Some(json!({"stock": item.stock})),
                Some(json!({"stock": saved.stock})),
            ),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

pub async fn list_items(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    page: PageRequest,
) -> ServiceResult<Page<catalog_item::Model>> {
    policy::authorize(db, actor, community_id, Permission::UseCredits).await?;
    let base = catalog_item::Entity::find()
        .filter(catalog_item::Column::CommunityId.eq(community_id))
        .filter(catalog_item::Column::Active.eq(true));
    Ok(paginate(db, base, Order::OldestFirst, page).await?)
}

/// A member redeems points for an item: the stock is reserved (a
/// conditional UPDATE: it never goes below zero, and of two requests for
/// the last item exactly one wins) and the points spent (REDEEM, member →
/// issuing account) in one transaction. Returns the redemption with its
/// pick-up code.
pub async fn redeem(
    db: &DatabaseConnection,
    actor: &Actor,
    item_id: Uuid,
    quantity: i32,
    idempotency_key: &str,
) -> ServiceResult<redemption::Model> {
    actor.user_id()?;
    let item = catalog_item::Entity::find_by_id(item_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("兑换物品"))?;
    let standing = policy::standing(db, actor, item.community_id).await?;
    if !standing.is_member() || !standing.allows(Permission::UseCredits) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let user_id = standing.user_id;
    if !(1..=100).contains(&quantity) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "quantity",
            "兑换数量须在1到100之间",
        ));
    }
    let request = Request::new(
        item.community_id,
        idempotency_key,
        "redeem",
        user_id,
        &[item.id.to_string(), quantity.to_string()],
    )?;
    if let Some(Claim::Replay(ids)) = idempotency::lookup(db, &request).await? {
        return replay(db, &ids).await;
    }
    if !item.active {
        return Err(ServiceError::invalid_state(
            Reason::ItemWithdrawn,
            "该物品已下架",
        ));
    }
    let points = i64::from(item.price_points) * i64::from(quantity);

    let txn = begin_write(db).await?;
    let key_id = match idempotency::claim(&txn, &request).await? {
        Claim::Fresh(id) => id,
        Claim::Replay(ids) => {
            drop(txn);
            return replay(db, &ids).await;
        }
    };
    let issuing = ledger::issuing_account(&txn, item.community_id).await?;
    let account = ledger::member_account(&txn, item.community_id, user_id).await?;
    let now = Utc::now();
    let reserved = catalog_item::Entity::update_many()
        .col_expr(
            catalog_item::Column::Stock,
            Expr::col(catalog_item::Column::Stock).sub(quantity),
        )
        .col_expr(catalog_item::Column::UpdatedAt, Expr::value(now))
        .filter(catalog_item::Column::Id.eq(item.id))
        .filter(catalog_item::Column::Stock.gte(quantity))
        .exec(&txn)
        .await?;
    if reserved.rows_affected != 1 {
        return Err(ServiceError::invalid_state(Reason::OutOfStock, "库存不足"));
    }
    let created = redemption::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(item.community_id),
        item_id: Set(item.id),
        user_id: Set(user_id),
        quantity: Set(quantity),
        points: Set(i32::try_from(points).map_err(|_| {
            ServiceError::bad_input(Reason::ValueOutOfRange, "quantity", "兑换所需积分过多")
        })?),
        status: Set(RedemptionStatus::Reserved),
        pickup_code: Set(random_digits(8)),
        posting_id: Set(None),
        refund_posting_id: Set(None),
        fulfilled_by: Set(None),
        fulfilled_at: Set(None),
        cancelled_by: Set(None),
        cancelled_at: Set(None),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let mut movement = Movement::new(PostingKind::Redeem, points, account.id, issuing.id, now);
    movement.actor_id = Some(user_id);
    movement.memo = Some(format!("兑换「{}」×{}", item.title, quantity));
    movement.redemption_id = Some(created.id);
    movement.request_id = Some(key_id);
    let spent = ledger::post(&txn, item.community_id, movement).await?;
    let mut active: redemption::ActiveModel = created.into();
    active.posting_id = Set(Some(spent.id));
    let saved = active.update(&txn).await?;
    audit::record(
        &txn,
        AuditEntry::new("redemption", saved.id, "redeem")
            .community(saved.community_id)
            .actor(Some(user_id))
            .change(
                None,
                Some(json!({"item": item.id, "quantity": quantity, "points": saved.points, "status": "RESERVED"})),
            ),
    )
    .await?;
    idempotency::finish(&txn, key_id, &[saved.id]).await?;
    txn.commit().await?;
    Ok(saved)
}

async fn replay(db: &DatabaseConnection, ids: &[Uuid]) -> ServiceResult<redemption::Model> {
    let id = ids
        .first()
        .copied()
        .ok_or(ServiceError::NotFound("兑换记录"))?;
    redemption::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("兑换记录"))
}

/// A redemption, for the member who made it and catalogue staff.
async fn redemption_for(
    db: &DatabaseConnection,
    actor: &Actor,
    redemption_id: Uuid,
) -> ServiceResult<(redemption::Model, policy::Standing)> {
    let user_id = actor.user_id()?;
    let found = redemption::Entity::find_by_id(redemption_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("兑换记录"))?;
    let standing = policy::standing(db, actor, found.community_id).await?;
    if found.user_id != user_id && !standing.allows(Permission::ManageCatalog) {
        return Err(ServiceError::NotFound("兑换记录"));
    }
    Ok((found, standing))
}

/// The member (or staff) cancels a RESERVED redemption: the stock comes
/// back and the points are refunded by a posting that reverses the REDEEM.
pub async fn cancel_redemption(
    db: &DatabaseConnection,
    actor: &Actor,
    redemption_id: Uuid,
) -> ServiceResult<redemption::Model> {
    let (found, standing) = redemption_for(db, actor, redemption_id).await?;
    if found.status != RedemptionStatus::Reserved {
        return Err(ServiceError::invalid_state(
            Reason::RedemptionNotReserved,
            "只能取消待领取的兑换",
        ));
    }
    let spent_id = found
        .posting_id
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("redemption without posting")))?;
    let now = Utc::now();
    let txn = begin_write(db).await?;
    let moved = redemption::Entity::update_many()
        .col_expr(
            redemption::Column::Status,
            Expr::value(RedemptionStatus::Cancelled),
        )
        .col_expr(
            redemption::Column::CancelledBy,
            Expr::value(standing.user_id),
        )
        .col_expr(redemption::Column::CancelledAt, Expr::value(now))
        .filter(redemption::Column::Id.eq(found.id))
        .filter(redemption::Column::Status.eq(RedemptionStatus::Reserved))
        .exec(&txn)
        .await?;
    if moved.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::RedemptionNotReserved,
            "只能取消待领取的兑换",
        ));
    }
    catalog_item::Entity::update_many()
        .col_expr(
            catalog_item::Column::Stock,
            Expr::col(catalog_item::Column::Stock).add(found.quantity),
        )
        .col_expr(catalog_item::Column::UpdatedAt, Expr::value(now))
        .filter(catalog_item::Column::Id.eq(found.item_id))
        .exec(&txn)
        .await?;
    let spent = posting::Entity::find_by_id(spent_id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound("积分流水"))?;
    let refund = ledger::post(
        &txn,
        found.community_id,
        ledger::reversal_of(
            &spent,
            Some(standing.user_id),
            "取消兑换，退回积分".to_string(),
            None,
        ),
    )
    .await?;
    redemption::Entity::update_many()
        .col_expr(redemption::Column::RefundPostingId, Expr::value(refund.id))
        .filter(redemption::Column::Id.eq(found.id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        AuditEntry::new("redemption", found.id, "cancel")
            .community(found.community_id)
            .actor(Some(standing.user_id))
            .change(
                Some(json!({"status": found.status.to_value()})),
                Some(json!({"status": "CANCELLED", "refund": refund.id})),
            ),
    )
    .await?;
    let saved = redemption::Entity::find_by_id(found.id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound("兑换记录"))?;
    txn.commit().await?;
    Ok(saved)
}

/// Staff hand the item over when the member shows the pick-up code.
pub async fn fulfil_redemption(
    db: &DatabaseConnection,
    actor: &Actor,
    redemption_id: Uuid,
    pickup_code: &str,
) -> ServiceResult<redemption::Model> {
    let (found, standing) = redemption_for(db, actor, redemption_id).await?;
    if !standing.allows(Permission::ManageCatalog) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    if found.status != RedemptionStatus::Reserved {
        return Err(ServiceError::invalid_state(
            Reason::RedemptionNotReserved,
            "只能核销待领取的兑换",
        ));
    }
    if found.pickup_code != pickup_code.trim() {
        return Err(ServiceError::bad_input(
            Reason::PickupCodeWrong,
            "pickupCode",
            "取货码不正确",
        ));
    }
    let now = Utc::now();
    let txn = begin_write(db).await?;
    let moved = redemption::Entity::update_many()
        .col_expr(
            redemption::Column::Status,
            Expr::value(RedemptionStatus::Fulfilled),
        )
        .col_expr(
            redemption::Column::FulfilledBy,
            Expr::value(standing.user_id),
        )
        .col_expr(redemption::Column::FulfilledAt, Expr::value(now))
        .filter(redemption::Column::Id.eq(found.id))
        .filter(redemption::Column::Status.eq(RedemptionStatus::Reserved))
        .exec(&txn)
        .await?;
    if moved.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::RedemptionNotReserved,
            "只能核销待领取的兑换",
        ));
    }
    audit::record(
        &txn,
        AuditEntry::new("redemption", found.id, "fulfil")
            .community(found.community_id)
            .actor(Some(standing.user_id))
            .change(
                Some(json!({"status": "RESERVED"})),
                Some(json!({"status": "FULFILLED"})),
            ),
    )
    .await?;
    let saved = redemption::Entity::find_by_id(found.id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound("兑换记录"))?;
    txn.commit().await?;
    Ok(saved)
}

/// The caller's redemptions in a community, newest first.
pub async fn my_redemptions(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<Vec<redemption::Model>> {
    let standing = policy::authorize(db, actor, community_id, Permission::UseCredits).await?;
    Ok(redemption::Entity::find()
        .filter(redemption::Column::CommunityId.eq(community_id))
        .filter(redemption::Column::UserId.eq(standing.user_id))
        .order_by_desc(redemption::Column::Id)
        .limit(100)
        .all(db)
        .await?)
}

pub async fn item_by_id(
    db: &DatabaseConnection,
    item_id: Uuid,
) -> ServiceResult<catalog_item::Model> {
    catalog_item::Entity::find_by_id(item_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("兑换物品"))
}
