//! The community covenant (DESIGN §5): one covenant per community, numbered
//! versions DRAFT → IN_COMMENT → VOTING → IN_FORCE (or REJECTED), the
//! previous version SUPERSEDED in the same transaction, exactly one in force
//! (a partial unique index says so too); comments, comparison, pledges,
//! filing, ratings and awards.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use entity::covenant::covenant_version::CovenantStatus;
use entity::covenant::{
    covenant, covenant_article, covenant_award, covenant_comment, covenant_filing, covenant_pledge,
    covenant_rating, covenant_version,
};
use entity::org::household;
use entity::org::membership::{self, MembershipStatus};
use entity::org::region::{self, RegionKind};
use entity::org::region_officer::OfficerRole;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission, RegionPermission};
use crate::service::page::{Order, Page, PageRequest, paginate};
use crate::service::validate;

pub const MAX_ARTICLES: usize = 200;
const MAX_COMMENT_CHARS: usize = 2000;

pub struct ArticleInput {
    pub chapter: String,
    pub title: String,
    pub body: String,
}

fn validate_articles(articles: &[ArticleInput]) -> ServiceResult<Vec<(String, String, String)>> {
    if articles.is_empty() {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "articles",
            "公约至少要有一条",
        ));
    }
    if articles.len() > MAX_ARTICLES {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "articles",
            format!("公约最多{MAX_ARTICLES}条"),
        ));
    }
    articles
        .iter()
        .map(|a| {
            Ok((
                validate::text("chapter", &a.chapter, 64)?,
                validate::text("title", &a.title, 100)?,
                validate::text("body", &a.body, 5000)?,
            ))
        })
        .collect()
}

async fn insert_articles<C: ConnectionTrait>(
    db: &C,
    version: &covenant_version::Model,
    articles: Vec<(String, String, String)>,
) -> ServiceResult<()> {
    let rows = articles
        .into_iter()
        .enumerate()
        .map(
            |(i, (chapter, title, body))| covenant_article::ActiveModel {
                id: Set(Uuid::now_v7()),
                version_id: Set(version.id),
                community_id: Set(version.community_id),
                position: Set(i as i32 + 1),
                chapter: Set(chapter),
                title: Set(title),
                body: Set(body),
            },
        );
    covenant_article::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Staff draft a new version (creating the community's covenant the first
/// time). One version at a time may be in progress (draft, comment or vote).
pub async fn draft(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
    articles: &[ArticleInput],
) -> ServiceResult<covenant_version::Model> {
    let grant = policy::authorize(db, actor, community_id, Permission::ManageCovenant).await?;
    let articles = validate_articles(articles)?;
    let now = Utc::now();
    let txn = begin_write(db).await?;
    let existing = covenant::Entity::find()
        .filter(covenant::Column::CommunityId.eq(community_id))
        .lock_exclusive()
        .one(&txn)
        .await?;
    let covenant = match existing {
        Some(found) => found,
        None => {
            covenant::ActiveModel {
                id: Set(Uuid::now_v7()),
                community_id: Set(community_id),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?
        }
    };
    let in_progress = covenant_version::Entity::find()
        .filter(covenant_version::Column::CovenantId.eq(covenant.id))
        .filter(covenant_version::Column::Status.is_in([
            CovenantStatus::Draft,
            CovenantStatus::InComment,
            CovenantStatus::Voting,
        ]))
        .count(&txn)
        .await?;
    if in_progress > 0 {
        return Err(ServiceError::conflict(
            Reason::DraftExists,
            "已有一个正在修订的版本，请先完成它",
        ));
    }
    let last: Option<i32> = covenant_version::Entity::find()
        .select_only()
        .column_as(covenant_version::Column::Number.max(), "max")
        .filter(covenant_version::Column::CovenantId.eq(covenant.id))
        .into_tuple::<Option<i32>>()
        .one(&txn)
        .await?
        .flatten();
    let version = covenant_version::ActiveModel {
        id: Set(Uuid::now_v7()),
        covenant_id: Set(covenant.id),
        community_id: Set(community_id),
        number: Set(last.unwrap_or(0) + 1),
        status: Set(CovenantStatus::Draft),
        comment_until: Set(None),
        ballot_id: Set(None),
        created_by: Set(grant.user_id),
        created_at: Set(now),
        updated_at: Set(now),
        in_force_at: Set(None),
    }
    .insert(&txn)
    .await?;
    let count = articles.len();
    insert_articles(&txn, &version, articles).await?;
    audit::record(
        &txn,
        AuditEntry::new("covenant_version", version.id, "draft")
            .community(community_id)
            .actor(Some(grant.user_id))
            .change(
                None,
                Some(json!({"status": "DRAFT", "number": version.number, "articles": count})),
            ),
    )
    .await?;
    txn.commit().await?;
    Ok(version)
}

/// Loads a version and the caller's standing in its community.
async fn load_version(
    db: &DatabaseConnection,
    actor: &Actor,
    version_id: Uuid,
) -> ServiceResult<(covenant_version::Model, policy::Standing)> {
    actor.user_id()?;
    let version = covenant_version::Entity::find_by_id(version_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("公约版本"))?;
    let standing = policy::standing(db, actor, version.community_id).await?;
    Ok((version, standing))
}

/// Replaces the articles of a draft; nothing but a draft is editable.
pub async fn update_draft(
    db: &DatabaseConnection,
    actor: &Actor,
    version_id: Uuid,
    articles: &[ArticleInput],
) -> ServiceResult<covenant_version::Model> {
    let (version, standing) = load_version(db, actor, version_id).await?;
    let grant = standing.require(Permission::ManageCovenant)?;
    let articles = validate_articles(articles)?;
    if version.status != CovenantStatus::Draft {
        return Err(ServiceError::invalid_state(
            Reason::CovenantStatusWrong,
            "只有草稿可以修改",
        ));
    }
    let txn = begin_write(db).await?;
    let moved = touch_status(
        &txn,
        &version,
        CovenantStatus::Draft,
        CovenantStatus::Draft,
        None,
    )
    .await?;
    covenant_article::Entity::delete_many()
        .filter(covenant_article::Column::VersionId.eq(version.id))
        .exec(&txn)
        .await?;
    let count = articles.len();
    insert_articles(&txn, &moved, articles).await?;
    audit::record(
        &txn,
        AuditEntry::new("covenant_version", version.id, "edit_draft")
            .community(version.community_id)
            .actor(Some(grant.user_id))
            .change(None, Some(json!({"articles": count}))),
    )
    .await?;
    txn.commit().await?;
    Ok(moved)
}

/// Moves a version from `from` to `to` only if it is still in `from`.
async fn touch_status<C: ConnectionTrait>(
    db: &C,
    version: &covenant_version::Model,
    from: CovenantStatus,
    to: CovenantStatus,
    comment_until: Option<DateTime<Utc>>,
) -> ServiceResult<covenant_version::Model> {
    let mut update = covenant_version::Entity::update_many()
        .col_expr(covenant_version::Column::Status, Expr::value(to))
        .col_expr(covenant_version::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(covenant_version::Column::Id.eq(version.id))
        .filter(covenant_version::Column::Status.eq(from));
    if let Some(until) = comment_until {
        update = update.col_expr(
            covenant_version::Column::CommentUntil,
            Expr::value(Some(until)),
        );
    }
    let result = update.exec(db).await?;
    if result.rows_affected != 1 {
        return Err(ServiceError::invalid_state(
            Reason::StaleState,
            "公约版本状态已变化，请刷新后重试",
        ));
    }
    covenant_version::Entity::find_by_id(version.id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("公约版本"))
}

/// DRAFT → IN_COMMENT: residents may comment until `until`.
pub async fn open_comment(
    db: &DatabaseConnection,
    actor: &Actor,
    version_id: Uuid,
    until: DateTime<Utc>,
) -> ServiceResult<covenant_version::Model> {
    let (version, standing) = load_version(db, actor, version_id).await?;
    let grant = standing.require(Permission::ManageCovenant)?;
    let now = Utc::now();
    if until <= now {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "until",
            "征求意见截止时间须晚于现在",
        ));
    }
    if until > now + chrono::Duration::days(366) {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "until",
            "征求意见期不能超过一年",
        ));
    }
    if version.status != CovenantStatus::Draft {
        return Err(ServiceError::invalid_state(
            Reason::CovenantStatusWrong,
            "只有草稿可以开始征求意见",
        ));
    }
    let txn = begin_write(db).await?;
    let moved = touch_status(
        &txn,
        &version,
        CovenantStatus::Draft,
        CovenantStatus::InComment,
        Some(until),
    )
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("covenant_version", version.id, "open_comment")
            .community(version.community_id)
            .actor(Some(grant.user_id))
            .change(
                Some(json!({"status": "DRAFT"})),
                Some(json!({"status": "IN_COMMENT", "until": until})),
            ),
    )
    .await?;
    txn.commit().await?;
    Ok(moved)
}

/// IN_COMMENT → VOTING when a ballot is opened on the version, inside the
/// ballot's transaction. The comment period must be over.
pub async fn begin_vote<C: ConnectionTrait>(
    db: &C,
    version_id: Uuid,
    community_id: Uuid,
    ballot_id: Uuid,
    actor_id: Uuid,
) -> ServiceResult<covenant_version::Model> {
    let version = covenant_version::Entity::find_by_id(version_id)
        .filter(covenant_version::Column::CommunityId.eq(community_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("公约版本"))?;
    if version.status != CovenantStatus::InComment {
        return Err(ServiceError::invalid_state(
            Reason::CovenantStatusWrong,
            "只有征求意见中的版本可以付诸表决",
        ));
    }
    if version
        .comment_until
        .is_some_and(|until| until > Utc::now())
    {
        return Err(ServiceError::invalid_state(
            Reason::ConsultationNotOver,
            "征求意见期尚未结束，不能开始表决",
        ));
    }
    let moved = touch_status(
        db,
        &version,
        CovenantStatus::InComment,
        CovenantStatus::Voting,
        None,
    )
    .await?;
    covenant_version::Entity::update_many()
        .col_expr(
            covenant_version::Column::BallotId,
            Expr::value(Some(ballot_id)),
        )
        .filter(covenant_version::Column::Id.eq(version.id))
        .exec(db)
        .await?;
    audit::record(
        db,
        AuditEntry::new("covenant_version", version.id, "begin_vote")
            .community(community_id)
            .actor(Some(actor_id))
            .change(
                Some(json!({"status": "IN_COMMENT"})),
                Some(json!({"status": "VOTING", "ballot": ballot_id})),
            ),
    )
    .await?;
    Ok(covenant_version::Model {
        ballot_id: Some(ballot_id),
        ..moved
    })
}

/// VOTING → IN_FORCE (the version in force before becomes SUPERSEDED) or
/// REJECTED, when its ballot closes, inside the closing transaction.
pub async fn conclude_vote<C: ConnectionTrait>(
    db: &C,
    version_id: Uuid,
    passed: bool,
    actor_id: Option<Uuid>,
) -> ServiceResult<covenant_version::Model> {
    let version = covenant_version::Entity::find_by_id(version_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("公约版本"))?;
    // Lock the covenant first: status changes of one covenant go one at a time.
    covenant::Entity::update_many()
        .col_expr(covenant::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(covenant::Column::Id.eq(version.covenant_id))
        .exec(db)
        .await?;
    if version.status != CovenantStatus::Voting {
        return Err(ServiceError::invalid_state(
            Reason::CovenantStatusWrong,
            "该版本不在表决中",
        ));
    }
    if !passed {
        let moved = touch_status(
            db,
            &version,
            CovenantStatus::Voting,
            CovenantStatus::Rejected,
            None,
        )
        .await?;
        audit::record(
            db,
            AuditEntry::new("covenant_version", version.id, "reject")
                .community(version.community_id)
                .actor(actor_id)
                .change(
                    Some(json!({"status": "VOTING"})),
                    Some(json!({"status": "REJECTED"})),
                ),
        )
        .await?;
        return Ok(moved);
    }
    let previous = covenant_version::Entity::find()
        .filter(covenant_version::Column::CommunityId.eq(version.community_id))
        .filter(covenant_version::Column::Status.eq(CovenantStatus::InForce))
        .all(db)
        .await?;
    for old in &previous {
        touch_status(
            db,
            old,
            CovenantStatus::InForce,
            CovenantStatus::Superseded,
            None,
        )
        .await?;
        audit::record(
            db,
            AuditEntry::new("covenant_version", old.id, "supersede")
                .community(old.community_id)
                .actor(actor_id)
                .change(
                    Some(json!({"status": "IN_FORCE"})),
                    Some(json!({"status": "SUPERSEDED", "by": version.id})),
                ),
        )
        .await?;
    }
    let moved = touch_status(
        db,
        &version,
        CovenantStatus::Voting,
        CovenantStatus::InForce,
        None,
    )
    .await?;
    let now = Utc::now();
    covenant_version::Entity::update_many()
        .col_expr(covenant_version::Column::InForceAt, Expr::value(Some(now)))
        .filter(covenant_version::Column::Id.eq(version.id))
        .exec(db)
        .await?;
    audit::record(
        db,
        AuditEntry::new("covenant_version", version.id, "adopt")
            .community(version.community_id)
            .actor(actor_id)
            .change(
                Some(json!({"status": "VOTING"})),
                Some(json!({"status": "IN_FORCE"})),
            ),
    )
    .await?;
    Ok(covenant_version::Model {
        in_force_at: Some(now),
        ..moved
    })
}

// ---------- comments ----------

/// A resident comments on a version in comment, on one article or the whole.
pub async fn comment(
    db: &DatabaseConnection,
    actor: &Actor,
    version_id: Uuid,
    article_id: Option<Uuid>,
    body: &str,
) -> ServiceResult<covenant_comment::Model> {
    let (version, standing) = load_version(db, actor, version_id).await?;
    let grant = standing.require(Permission::ParticipateCovenant)?;
    let body = validate::text("body", body, MAX_COMMENT_CHARS)?;
    let open = version.status == CovenantStatus::InComment
        && version
            .comment_until
            .is_some_and(|until| until > Utc::now());
    if !open {
        return Err(ServiceError::invalid_state(
            Reason::CovenantStatusWrong,
            "该版本当前不在征求意见期",
        ));
    }
    if let Some(article_id) = article_id {
        let belongs = covenant_article::Entity::find_by_id(article_id)
            .filter(covenant_article::Column::VersionId.eq(version.id))
            .count(db)
            .await?;
        if belongs == 0 {
            return Err(ServiceError::bad_input(
                Reason::ReferenceInvalid,
                "articleId",
                "该条款不属于这个版本",
            ));
        }
    }
    insert_comment(db, &version, article_id, None, grant.user_id, body).await
}

/// Staff reply to a resident's comment.
pub async fn reply(
    db: &DatabaseConnection,
    actor: &Actor,
    comment_id: Uuid,
    body: &str,
) -> ServiceResult<covenant_comment::Model> {
    actor.user_id()?;
    let parent = covenant_comment::Entity::find_by_id(comment_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("意见"))?;
    let (version, standing) = load_version(db, actor, parent.version_id).await?;
    let grant = standing.require(Permission::ManageCovenant)?;
    let body = validate::text("body", body, MAX_COMMENT_CHARS)?;
    if parent.parent_id.is_some() {
        return Err(ServiceError::bad_input(
            Reason::ReferenceInvalid,
            "commentId",
            "请回复居民的原始意见",
        ));
    }
    insert_comment(
        db,
        &version,
        parent.article_id,
        Some(parent.id),
        grant.user_id,
        body,
    )
    .await
}

async fn insert_comment(
    db: &DatabaseConnection,
    version: &covenant_version::Model,
    article_id: Option<Uuid>,
    parent_id: Option<Uuid>,
    author_id: Uuid,
    body: String,
) -> ServiceResult<covenant_comment::Model> {
    let txn = begin_write(db).await?;
    let created = covenant_comment::ActiveModel {
        id: Set(Uuid::now_v7()),
        version_id: Set(version.id),
        community_id: Set(version.community_id),
        article_id: Set(article_id),
        parent_id: Set(parent_id),
        author_id: Set(author_id),
        body: Set(body),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new(
            "covenant_comment",
            created.id,
            if parent_id.is_some() {
                "reply"
            } else {
                "comment"
            },
        )
        .community(version.community_id)
        .actor(Some(author_id)),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Comments on a version (optionally of one article), oldest first.
pub async fn comments(
    db: &DatabaseConnection,
    actor: &Actor,
    version_id: Uuid,
    article_id: Option<Uuid>,
    page: PageRequest,
) -> ServiceResult<Page<covenant_comment::Model>> {
    let (version, standing) = load_version(db, actor, version_id).await?;
    standing.require(Permission::ReadCovenantHistory)?;
    let mut condition = Condition::all().add(covenant_comment::Column::VersionId.eq(version.id));
    if let Some(article_id) = article_id {
        condition = condition.add(covenant_comment::Column::ArticleId.eq(article_id));
    }
    Ok(paginate(
        db,
        covenant_comment::Entity::find().filter(condition),
        Order::OldestFirst,
        page,
    )
    .await?)
}

// ---------- reading ----------

/// An article with how many comments it drew.
#[derive(Debug, Clone)]
pub struct ArticleView {
    pub article: covenant_article::Model,
    pub comment_count: i64,
}

pub async fn articles(
    db: &DatabaseConnection,
    version_id: Uuid,
) -> ServiceResult<Vec<ArticleView>> {
    let rows = covenant_article::Entity::find()
        .filter(covenant_article::Column::VersionId.eq(version_id))
        .order_by_asc(covenant_article::Column::Position)
        .all(db)
        .await?;
    let counts: Vec<(Uuid, i64)> = covenant_comment::Entity::find()
        .select_only()
        .column(covenant_comment::Column::ArticleId)
        .column_as(covenant_comment::Column::Id.count(), "n")
        .filter(covenant_comment::Column::VersionId.eq(version_id))
        .filter(covenant_comment::Column::ArticleId.is_not_null())
        .group_by(covenant_comment::Column::ArticleId)
        .into_tuple()
        .all(db)
        .await?;
    let counts: HashMap<Uuid, i64> = counts.into_iter().collect();
    Ok(rows
        .into_iter()
        .map(|article| ArticleView {
            comment_count: counts.get(&article.id).copied().unwrap_or(0),
            article,
        })
        .collect())
}

/// The community's covenant: readable by anyone (the version in force is public).
pub async fn for_community(
    db: &DatabaseConnection,
    community_id: Uuid,
) -> ServiceResult<Option<covenant::Model>> {
    policy::find_community(db, community_id).await?;
    Ok(covenant::Entity::find()
        .filter(covenant::Column::CommunityId.eq(community_id))
        .one(db)
        .await?)
}

pub async fn in_force(
    db: &DatabaseConnection,
    community_id: Uuid,
) -> ServiceResult<Option<covenant_version::Model>> {
    Ok(covenant_version::Entity::find()
        .filter(covenant_version::Column::CommunityId.eq(community_id))
        .filter(covenant_version::Column::Status.eq(CovenantStatus::InForce))
        .one(db)
        .await?)
}

/// Which versions a caller may read: staff all of them, members and officers
/// all but drafts, anyone else only the one in force.
async fn visible_statuses(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<Vec<CovenantStatus>> {
    use CovenantStatus::*;
    let standing = match actor {
        Actor::Anonymous => return Ok(vec![InForce]),
        Actor::User(_) => policy::standing(db, actor, community_id).await?,
    };
    Ok(if standing.allows(Permission::ManageCovenant) {
        vec![Draft, InComment, Voting, InForce, Superseded, Rejected]
    } else if standing.allows(Permission::ReadCovenantHistory) {
        vec![InComment, Voting, InForce, Superseded, Rejected]
    } else {
        vec![InForce]
    })
}

pub async fn versions_visible(
    db: &DatabaseConnection,
    actor: &Actor,
    covenant: &covenant::Model,
) -> ServiceResult<Vec<covenant_version::Model>> {
    let statuses = visible_statuses(db, actor, covenant.community_id).await?;
    Ok(covenant_version::Entity::find()
        .filter(covenant_version::Column::CovenantId.eq(covenant.id))
        .filter(covenant_version::Column::Status.is_in(statuses))
        .order_by_asc(covenant_version::Column::Number)
        .all(db)
        .await?)
}

pub async fn version_visible(
    db: &DatabaseConnection,
    actor: &Actor,
    version_id: Uuid,
) -> ServiceResult<covenant_version::Model> {
    let version = covenant_version::Entity::find_by_id(version_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("公约版本"))?;
    let statuses = visible_statuses(db, actor, version.community_id).await?;
    if statuses.contains(&version.status) {
        Ok(version)
    } else {
        Err(ServiceError::NotFound("公约版本"))
    }
}

/// Pledges to a version, and the share of the community's households (those
/// with an active member) with at least one pledge.
#[derive(Debug, Clone, Copy, Default)]
pub struct PledgeStats {
    pub pledge_count: i64,
    pub pledged_households: i64,
    pub households: i64,
}

impl PledgeStats {
    pub fn household_coverage(&self) -> f64 {
        if self.households == 0 {
            0.0
        } else {
            self.pledged_households as f64 / self.households as f64
        }
    }
}

fn households_with_active_members(community_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(membership::Column::HouseholdId)
        .from(membership::Entity)
        .and_where(membership::Column::CommunityId.eq(community_id))
        .and_where(membership::Column::Status.eq(MembershipStatus::Active))
        .and_where(membership::Column::HouseholdId.is_not_null())
        .to_owned()
}

pub async fn pledge_stats(
    db: &DatabaseConnection,
    version: &covenant_version::Model,
) -> ServiceResult<PledgeStats> {
    let pledge_count = covenant_pledge::Entity::find()
        .filter(covenant_pledge::Column::VersionId.eq(version.id))
        .count(db)
        .await? as i64;
    let pledged_households = covenant_pledge::Entity::find()
        .select_only()
        .column(covenant_pledge::Column::HouseholdId)
        .distinct()
        .filter(covenant_pledge::Column::VersionId.eq(version.id))
        .filter(
            covenant_pledge::Column::HouseholdId
                .in_subquery(households_with_active_members(version.community_id)),
        )
        .into_tuple::<Option<Uuid>>()
        .all(db)
        .await?
        .len() as i64;
    let households = household::Entity::find()
        .filter(household::Column::CommunityId.eq(version.community_id))
        .filter(
            household::Column::Id.in_subquery(households_with_active_members(version.community_id)),
        )
        .count(db)
        .await? as i64;
    Ok(PledgeStats {
        pledge_count,
        pledged_households,
        households,
    })
}

/// Whether the caller has pledged to the version in force.
pub async fn has_pledged(
    db: &DatabaseConnection,
    actor: &Actor,
    version_id: Uuid,
) -> ServiceResult<bool> {
    let Actor::User(user_id) = actor else {
        return Ok(false);
    };
    Ok(covenant_pledge::Entity::find()
        .filter(covenant_pledge::Column::VersionId.eq(version_id))
        .filter(covenant_pledge::Column::UserId.eq(*user_id))
        .count(db)
        .await?
        > 0)
}

/// A resident pledges to keep the version in force (once per version).
pub async fn pledge(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<covenant::Model> {
    let grant = policy::authorize(db, actor, community_id, Permission::ParticipateCovenant).await?;
    let version = in_force(db, community_id).await?.ok_or_else(|| {
        ServiceError::invalid_state(Reason::NoCovenantInForce, "本社区尚无生效的公约")
    })?;
    let household_id: Option<Uuid> = membership::Entity::find()
        .select_only()
        .column(membership::Column::HouseholdId)
        .filter(membership::Column::CommunityId.eq(community_id))
        .filter(membership::Column::UserId.eq(grant.user_id))
        .into_tuple::<Option<Uuid>>()
        .one(db)
        .await?
        .flatten();
    let txn = begin_write(db).await?;
    let created = covenant_pledge::ActiveModel {
        id: Set(Uuid::now_v7()),
        version_id: Set(version.id),
        community_id: Set(community_id),
        user_id: Set(grant.user_id),
        household_id: Set(household_id),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("covenant_pledge", created.id, "pledge")
            .community(community_id)
            .actor(Some(grant.user_id))
            .change(None, Some(json!({"version": version.id}))),
    )
    .await?;
    txn.commit().await?;
    covenant::Entity::find_by_id(version.covenant_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("公约"))
}

/// Households (with an active member) that have not pledged to the version in
/// force, by building: for staff to visit.
pub async fn unpledged_households(
    db: &DatabaseConnection,
    actor: &Actor,
    community_id: Uuid,
) -> ServiceResult<Vec<(String, Vec<household::Model>)>> {
    policy::authorize(db, actor, community_id, Permission::ManageCovenant).await?;
    let pledged: HashSet<Uuid> = match in_force(db, community_id).await? {
        Some(version) => covenant_pledge::Entity::find()
            .select_only()
            .column(covenant_pledge::Column::HouseholdId)
            .filter(covenant_pledge::Column::VersionId.eq(version.id))
            .into_tuple::<Option<Uuid>>()
            .all(db)
            .await?
            .into_iter()
            .flatten()
            .collect(),
        None => HashSet::new(),
    };
    let households = household::Entity::find()
        .filter(household::Column::CommunityId.eq(community_id))
        .filter(household::Column::Id.in_subquery(households_with_active_members(community_id)))
        .order_by_asc(household::Column::Building)
        .order_by_asc(household::Column::Unit)
        .order_by_asc(household::Column::Room)
        .all(db)
        .await?;
    let mut by_building: BTreeMap<String, Vec<household::Model>> = BTreeMap::new();
    for h in households.into_iter().filter(|h| !pledged.contains(&h.id)) {
        by_building.entry(h.building.clone()).or_default().push(h);
    }
    Ok(by_building.into_iter().collect())
}

// ---------- comparing ----------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
    Unchanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Same,
    Added,
    Removed,
}

#[derive(Debug, Clone)]
pub struct ArticleChange {
    pub kind: ChangeKind,
    pub before: Option<covenant_article::Model>,
    pub after: Option<covenant_article::Model>,
    /// For a changed article: its body, marked span by span.
    pub body_diff: Vec<(SpanKind, String)>,
}

/// Compares two versions of one covenant article by article. Articles are
/// matched by chapter and title; a matched pair with another body is CHANGED.
pub async fn compare(
    db: &DatabaseConnection,
    actor: &Actor,
    from_id: Uuid,
    to_id: Uuid,
) -> ServiceResult<Vec<ArticleChange>> {
    let from = version_visible(db, actor, from_id).await?;
    let to = version_visible(db, actor, to_id).await?;
    if from.covenant_id != to.covenant_id {
        return Err(ServiceError::bad_input(
            Reason::ReferenceInvalid,
            "toVersionId",
            "只能比较同一份公约的版本",
        ));
    }
    let before: Vec<covenant_article::Model> = articles(db, from.id)
        .await?
        .into_iter()
        .map(|a| a.article)
        .collect();
    let after: Vec<covenant_article::Model> = articles(db, to.id)
        .await?
        .into_iter()
        .map(|a| a.article)
        .collect();
    Ok(diff_articles(before, after))
}

pub fn diff_articles(
    before: Vec<covenant_article::Model>,
    after: Vec<covenant_article::Model>,
) -> Vec<ArticleChange> {
    let key = |a: &covenant_article::Model| (a.chapter.clone(), a.title.clone());
    let mut old_by_key: HashMap<(String, String), covenant_article::Model> =
        before.iter().map(|a| (key(a), a.clone())).collect();
    let mut changes = Vec::new();
    for new in after {
        match old_by_key.remove(&key(&new)) {
            Some(old) if old.body == new.body => changes.push(ArticleChange {
                kind: ChangeKind::Unchanged,
                before: Some(old),
                after: Some(new),
                body_diff: Vec::new(),
            }),
            Some(old) => changes.push(ArticleChange {
                kind: ChangeKind::Changed,
                body_diff: diff_text(&old.body, &new.body),
                before: Some(old),
                after: Some(new),
            }),
            None => changes.push(ArticleChange {
                kind: ChangeKind::Added,
                before: None,
                after: Some(new),
                body_diff: Vec::new(),
            }),
        }
    }
    // What is left of the old version was removed, in its old order.
    for old in before {
        if old_by_key.remove(&key(&old)).is_some() {
            changes.push(ArticleChange {
                kind: ChangeKind::Removed,
                before: Some(old),
                after: None,
                body_diff: Vec::new(),
            });
        }
    }
    changes
}

/// A character diff (Chinese has no spaces to split words on), merged into spans.
pub fn diff_text(old: &str, new: &str) -> Vec<(SpanKind, String)> {
    let diff = similar::TextDiff::from_chars(old, new);
    let mut spans: Vec<(SpanKind, String)> = Vec::new();
    for change in diff.iter_all_changes() {
        let kind = match change.tag() {
            similar::ChangeTag::Equal => SpanKind::Same,
            similar::ChangeTag::Insert => SpanKind::Added,
            similar::ChangeTag::Delete => SpanKind::Removed,
        };
        match spans.last_mut() {
            Some((last, text)) if *last == kind => text.push_str(change.value()),
            _ => spans.push((kind, change.value().to_string())),
        }
    }
    spans
}

// ---------- filing, ratings, awards ----------

/// The street acknowledges filing (备案) of a version in force.
pub async fn file(
    db: &DatabaseConnection,
    actor: &Actor,
    version_id: Uuid,
    filed_on: Option<NaiveDate>,
) -> ServiceResult<covenant_filing::Model> {
    let (version, standing) = load_version(db, actor, version_id).await?;
    let grant = standing.require(Permission::OverseeCovenant)?;
    if version.status != CovenantStatus::InForce {
        return Err(ServiceError::invalid_state(
            Reason::CovenantStatusWrong,
            "只有生效的公约可以备案",
        ));
    }
    let today = Utc::now().date_naive();
    let filed_on = filed_on.unwrap_or(today);
    if filed_on > today {
        return Err(ServiceError::bad_input(
            Reason::TimeRangeInvalid,
            "filedOn",
            "备案日期不能晚于今天",
        ));
    }
    let txn = begin_write(db).await?;
    let created = covenant_filing::ActiveModel {
        id: Set(Uuid::now_v7()),
        version_id: Set(version.id),
        community_id: Set(version.community_id),
        filed_by: Set(grant.user_id),
        filed_on: Set(filed_on),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("covenant_filing", created.id, "file")
            .community(version.community_id)
            .actor(Some(grant.user_id))
            .change(
                None,
                Some(json!({"version": version.id, "filedOn": filed_on})),
            ),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

pub async fn filing_of(
    db: &DatabaseConnection,
    version_id: Uuid,
) -> ServiceResult<Option<covenant_filing::Model>> {
    Ok(covenant_filing::Entity::find()
        .filter(covenant_filing::Column::VersionId.eq(version_id))
        .one(db)
        .await?)
}

/// An officer rates a version (0–100); rating again replaces their rating.
pub async fn rate(
    db: &DatabaseConnection,
    actor: &Actor,
    version_id: Uuid,
    score: i32,
    comment: Option<&str>,
) -> ServiceResult<covenant_rating::Model> {
    let (version, standing) = load_version(db, actor, version_id).await?;
    let grant = standing.require(Permission::OverseeCovenant)?;
    if !(0..=100).contains(&score) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "score",
            "评分须在0到100之间",
        ));
    }
    let comment = match comment {
        Some(c) if !c.trim().is_empty() => Some(validate::text("comment", c, 1000)?),
        _ => None,
    };
    if !matches!(
        version.status,
        CovenantStatus::InForce | CovenantStatus::Superseded
    ) {
        return Err(ServiceError::invalid_state(
            Reason::CovenantStatusWrong,
            "只能评价已生效的公约",
        ));
    }
    let now = Utc::now();
    let txn = begin_write(db).await?;
    let existing = covenant_rating::Entity::find()
        .filter(covenant_rating::Column::VersionId.eq(version.id))
        .filter(covenant_rating::Column::RaterId.eq(grant.user_id))
        .one(&txn)
        .await?;
    let (saved, before) = match existing {
        Some(found) => {
            let before = json!({"score": found.score});
            let mut active: covenant_rating::ActiveModel = found.into();
            active.score = Set(score);
            active.comment = Set(comment);
            active.updated_at = Set(now);
            (active.update(&txn).await?, Some(before))
        }
        None => (
            covenant_rating::ActiveModel {
                id: Set(Uuid::now_v7()),
                version_id: Set(version.id),
                community_id: Set(version.community_id),
                rater_id: Set(grant.user_id),
                score: Set(score),
                comment: Set(comment),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?,
            None,
        ),
    };
    audit::record(
        &txn,
        AuditEntry::new("covenant_rating", saved.id, "rate")
            .community(version.community_id)
            .actor(Some(grant.user_id))
            .change(before, Some(json!({"score": score}))),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// The average officer score of a version and how many rated it.
pub async fn rating_summary(
    db: &DatabaseConnection,
    version_id: Uuid,
) -> ServiceResult<(Option<f64>, i64)> {
    let scores: Vec<i32> = covenant_rating::Entity::find()
        .select_only()
        .column(covenant_rating::Column::Score)
        .filter(covenant_rating::Column::VersionId.eq(version_id))
        .into_tuple()
        .all(db)
        .await?;
    let count = scores.len() as i64;
    let average =
        (count > 0).then(|| scores.iter().map(|s| f64::from(*s)).sum::<f64>() / count as f64);
    Ok((average, count))
}

/// A street or district names a covenant excellent (优秀公约) for a year.
pub async fn award(
    db: &DatabaseConnection,
    actor: &Actor,
    covenant_id: Uuid,
    year: i32,
) -> ServiceResult<covenant_award::Model> {
    actor.user_id()?;
    let covenant = covenant::Entity::find_by_id(covenant_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("公约"))?;
    let standing = policy::standing(db, actor, covenant.community_id).await?;
    // The award is the street's when a street officer gives it, else the district's.
    let region_id = if standing.officer_roles.contains(&OfficerRole::StreetAdmin) {
        standing
            .community
            .street_id
            .unwrap_or(standing.community.district_id)
    } else {
        standing.community.district_id
    };
    let grant = standing.require(Permission::OverseeCovenant)?;
    let this_year = Utc::now().year();
    if !(2000..=this_year + 1).contains(&year) {
        return Err(ServiceError::bad_input(
            Reason::ValueOutOfRange,
            "year",
            "年份不正确",
        ));
    }
    if in_force(db, covenant.community_id).await?.is_none() {
        return Err(ServiceError::invalid_state(
            Reason::CovenantStatusWrong,
            "尚无生效版本的公约不能评为优秀",
        ));
    }
    let txn = begin_write(db).await?;
    let created = covenant_award::ActiveModel {
        id: Set(Uuid::now_v7()),
        covenant_id: Set(covenant.id),
        community_id: Set(covenant.community_id),
        region_id: Set(region_id),
        year: Set(year),
        awarded_by: Set(grant.user_id),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("covenant_award", created.id, "award")
            .community(covenant.community_id)
            .actor(Some(grant.user_id))
            .change(None, Some(json!({"year": year, "region": region_id}))),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

pub async fn awards_of(
    db: &DatabaseConnection,
    covenant_ids: &[Uuid],
) -> ServiceResult<Vec<covenant_award::Model>> {
    Ok(covenant_award::Entity::find()
        .filter(covenant_award::Column::CovenantId.is_in(covenant_ids.iter().copied()))
        .order_by_asc(covenant_award::Column::Year)
        .all(db)
        .await?)
}

// ---------- the region view ----------

/// One community's covenant as a street or district sees it.
#[derive(Debug, Clone)]
pub struct RegionCovenantRow {
    pub community: region::Model,
    pub covenant: Option<covenant::Model>,
    pub in_force: Option<covenant_version::Model>,
    /// The newest version, whatever its status.
    pub latest: Option<covenant_version::Model>,
    pub stats: PledgeStats,
    pub filing: Option<covenant_filing::Model>,
    pub awards: Vec<covenant_award::Model>,
}

/// Every community below a street or district, with its covenant's status,
/// version, coverage, filing and awards.
pub async fn region_covenants(
    db: &DatabaseConnection,
    actor: &Actor,
    region_id: Uuid,
    page: PageRequest,
) -> ServiceResult<Page<RegionCovenantRow>> {
    let target = region::Entity::find_by_id(region_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("区域"))?;
    policy::authorize_region(db, actor, Some(&target), RegionPermission::ViewCovenants).await?;
    let below = match target.kind {
        RegionKind::District => region::Column::DistrictId.eq(target.id),
        RegionKind::Street => region::Column::StreetId.eq(target.id),
        RegionKind::Community => region::Column::Id.eq(target.id),
    };
    let condition = Condition::all()
        .add(region::Column::Kind.eq(RegionKind::Community))
        .add(below);
    let page = paginate(
        db,
        region::Entity::find().filter(condition),
        Order::OldestFirst,
        page,
    )
    .await?;
    let ids: Vec<Uuid> = page.items.iter().map(|c| c.id).collect();
    let covenants: HashMap<Uuid, covenant::Model> = covenant::Entity::find()
        .filter(covenant::Column::CommunityId.is_in(ids.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.community_id, c))
        .collect();
    let versions = covenant_version::Entity::find()
        .filter(covenant_version::Column::CommunityId.is_in(ids.clone()))
        .order_by_asc(covenant_version::Column::Number)
        .all(db)
        .await?;
    let covenant_ids: Vec<Uuid> = covenants.values().map(|c| c.id).collect();
    let awards = awards_of(db, &covenant_ids).await?;
    let mut rows = Vec::with_capacity(page.items.len());
    for community in &page.items {
        let mine: Vec<&covenant_version::Model> = versions
            .iter()
            .filter(|v| v.community_id == community.id)
            .collect();
        let in_force = mine
            .iter()
            .find(|v| v.status == CovenantStatus::InForce)
            .map(|v| (*v).clone());
        let (stats, filing) = match &in_force {
            Some(v) => (pledge_stats(db, v).await?, filing_of(db, v.id).await?),
            None => (PledgeStats::default(), None),
        };
        rows.push(RegionCovenantRow {
            community: community.clone(),
            covenant: covenants.get(&community.id).cloned(),
            latest: mine.last().map(|v| (*v).clone()),
            in_force,
            stats,
            filing,
            awards: awards
                .iter()
                .filter(|a| a.community_id == community.id)
                .cloned()
                .collect(),
        });
    }
    Ok(Page {
        items: rows,
        has_next_page: page.has_next_page,
        total_count: page.total_count,
    })
}
