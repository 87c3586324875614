//! Matching needs and resources (DESIGN §3), without any external service:
//! a category fit, a skill fit and the similarity of the texts as sets of
//! character bigrams (Chinese needs no word segmenter for this).
//!
//! score = 0.5 × category fit + 0.2 × skill fit + 0.3 × text similarity
//!
//! - category fit: 1 when the need's category names the resource's category
//!   (SERVICE or 服务, GOODS or 物资, …), else 0;
//! - skill fit: the best share of a resource skill's bigrams found in the
//!   need's title and description;
//! - text similarity: Dice's coefficient of the bigrams of the need's title,
//!   category and description and of the resource's title, description and
//!   skills.
//!
//! Resources of the need's community come first, then those of other
//! communities of its street (marked STREET); within each, by score.

use std::collections::HashSet;

use chrono::Utc;
use entity::lists::need::{self, NeedStatus};
use entity::lists::need_match;
use entity::lists::resource::{self, ResourceCategory, ResourceStatus};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::needs::{self as need_service, NeedView};
use super::text::{bigrams, coverage, dice};
use crate::audit::{self, AuditEntry};
use crate::db::begin_write;
use crate::error::{Reason, ServiceError, ServiceResult};
use crate::policy::{self, Actor, Permission};

/// How many candidates of each scope are scored at most (newest first).
const CANDIDATES: u64 = 500;
pub const MAX_SUGGESTIONS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A resource of the need's own community.
    Community,
    /// A resource of another community of the same street.
    Street,
}

#[derive(Debug, Clone)]
pub struct Suggestion {
    pub resource: resource::Model,
    pub scope: Scope,
    pub score: f64,
    pub category_fit: f64,
    pub skill_fit: f64,
    pub text_similarity: f64,
}

/// The resource category a need's free-text category names, if any.
pub fn category_of(text: &str) -> Option<ResourceCategory> {
    let t = text.trim().to_uppercase();
    Some(match t.as_str() {
        "VENUE" | "场地" | "活动场地" => ResourceCategory::Venue,
        "SKILL" | "技能" | "专业技能" => ResourceCategory::Skill,
        "FUNDS" | "资金" | "经费" => ResourceCategory::Funds,
        "GOODS" | "物资" | "物品" => ResourceCategory::Goods,
        "SERVICE" | "服务" | "生活服务" => ResourceCategory::Service,
        "VOLUNTEER_TIME" | "志愿服务" | "志愿时间" | "志愿者" => {
            ResourceCategory::VolunteerTime
        }
        _ => return None,
    })
}

fn need_text(n: &need::Model) -> String {
    format!("{} {} {}", n.title, n.category, n.description)
}

fn resource_text(r: &resource::Model) -> String {
    format!(
        "{} {} {}",
        r.title,
        r.description.as_deref().unwrap_or_default(),
        r.skills.replace(',', " ")
    )
}

/// Scores one resource for one need.
pub fn score(n: &need::Model, r: &resource::Model) -> (f64, f64, f64, f64) {
    let need_grams = bigrams(&need_text(n));
    let category_fit = if category_of(&n.category) == Some(r.category) {
        1.0
    } else {
        0.0
    };
    let skill_fit = r
        .skill_list()
        .iter()
        .map(|s| coverage(&bigrams(s), &need_grams))
        .fold(0.0, f64::max);
    let text_similarity = dice(&need_grams, &bigrams(&resource_text(r)));
    let total = 0.5 * category_fit + 0.2 * skill_fit + 0.3 * text_similarity;
    (total, category_fit, skill_fit, text_similarity)
}

/// Ranked AVAILABLE resources for a need: staff and grid workers of its community.
pub async fn suggestions_for_need(
    db: &DatabaseConnection,
    actor: &Actor,
    need_id: Uuid,
    first: usize,
) -> ServiceResult<Vec<Suggestion>> {
    let (found, standing) =
        need_service::load(db, actor, need_id, Permission::SuggestMatches).await?;
    let community = standing.community;
    let street_id = community.street_id.unwrap_or(community.district_id);
    let mut out = Vec::new();
    for scope in [Scope::Community, Scope::Street] {
        let mut query = resource::Entity::find()
            .filter(resource::Column::StreetId.eq(street_id))
            .filter(resource::Column::Status.eq(ResourceStatus::Available));
        query = match scope {
            Scope::Community => query.filter(resource::Column::CommunityId.eq(community.id)),
            Scope::Street => query.filter(resource::Column::CommunityId.ne(community.id)),
        };
        let candidates = query
            .order_by_desc(resource::Column::Id)
            .limit(CANDIDATES)
            .all(db)
            .await?;
        let mut ranked: Vec<Suggestion> = candidates
            .into_iter()
            .map(|r| {
                let (score, category_fit, skill_fit, text_similarity) = score(&found, &r);
                Suggestion {
                    resource: r,
                    scope,
                    score,
                    category_fit,
                    skill_fit,
                    text_similarity,
                }
            })
            .filter(|s| s.score > 0.0)
            .collect();
        ranked.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.resource.id.cmp(&b.resource.id))
        });
        out.extend(ranked);
    }
    out.truncate(first.min(MAX_SUGGESTIONS));
    Ok(out)
}

/// The other way round: ACCEPTED needs of the resource's community that it
/// could serve, best first (for staff and grid workers there).
pub async fn needs_for_resource(
    db: &DatabaseConnection,
    actor: &Actor,
    resource_id: Uuid,
    first: usize,
) -> ServiceResult<Vec<(NeedView, f64)>> {
    actor.user_id()?;
    let found = resource::Entity::find_by_id(resource_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("资源"))?;
    let standing = policy::standing(db, actor, found.community_id).await?;
    if !standing.allows(Permission::ViewLists) {
        return Err(ServiceError::NotFound("资源"));
    }
    if !standing.allows(Permission::SuggestMatches) {
        return Err(ServiceError::Forbidden(Reason::NotPermitted));
    }
    let candidates = need::Entity::find()
        .filter(need::Column::CommunityId.eq(found.community_id))
        .filter(need::Column::Status.eq(NeedStatus::Accepted))
        .order_by_asc(need::Column::Id)
        .limit(CANDIDATES)
        .all(db)
        .await?;
    let mut ranked: Vec<(need::Model, f64)> = candidates
        .into_iter()
        .map(|n| {
            let s = score(&n, &found).0;
            (n, s)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    ranked.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| b.0.urgency_rank.cmp(&a.0.urgency_rank))
            .then_with(|| a.0.id.cmp(&b.0.id))
    });
    ranked.truncate(first.min(MAX_SUGGESTIONS));
    Ok(ranked
        .into_iter()
        .map(|(n, s)| (NeedView::for_standing(n, &standing), s))
        .collect())
}

/// Staff confirm a match of a need with a resource of the street: the link
/// is kept and an ACCEPTED need becomes MATCHED (a MATCHED one may gain
/// more resources).
pub async fn confirm_match(
    db: &DatabaseConnection,
    actor: &Actor,
    need_id: Uuid,
    resource_id: Uuid,
) -> ServiceResult<NeedView> {
    let (found, standing) = need_service::load(db, actor, need_id, Permission::ManageNeeds).await?;
    let street_id = standing
        .community
        .street_id
        .unwrap_or(standing.community.district_id);
    let res = resource::Entity::find_by_id(resource_id)
        .filter(resource::Column::StreetId.eq(street_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("资源"))?;
    if !matches!(found.status, NeedStatus::Accepted | NeedStatus::Matched) {
        return Err(ServiceError::invalid_state(
            Reason::NeedStatusWrong,
            "只能为已受理的需求确认匹配",
        ));
    }
    if res.status != ResourceStatus::Available {
        return Err(ServiceError::invalid_state(
            Reason::ResourceStatusWrong,
            "该资源当前不可用",
        ));
    }
    let txn = begin_write(db).await?;
    let link = need_match::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(found.community_id),
        need_id: Set(found.id),
        resource_id: Set(res.id),
        confirmed_by: Set(standing.user_id),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEntry::new("need_match", link.id, "confirm")
            .community(found.community_id)
            .actor(Some(standing.user_id))
            .change(None, Some(json!({"need": found.id, "resource": res.id}))),
    )
    .await?;
    let saved = if found.status == NeedStatus::Accepted {
        need_service::move_need(
            &txn,
            &found,
            NeedStatus::Matched,
            None,
            standing.user_id,
            "match",
        )
        .await?
    } else {
        found
    };
    txn.commit().await?;
    Ok(NeedView::for_standing(saved, &standing))
}

/// The resources confirmed for a need.
pub async fn matched_resources(
    db: &DatabaseConnection,
    need_id: Uuid,
) -> ServiceResult<Vec<resource::Model>> {
    let ids: Vec<Uuid> = need_match::Entity::find()
        .select_only()
        .column(need_match::Column::ResourceId)
        .filter(need_match::Column::NeedId.eq(need_id))
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let set: HashSet<Uuid> = ids.into_iter().collect();
    Ok(resource::Entity::find()
        .filter(resource::Column::Id.is_in(set))
        .order_by_asc(resource::Column::Id)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(title: &str, category: &str, description: &str) -> need::Model {
        let now = Utc::now();
        need::Model {
            id: Uuid::now_v7(),
            community_id: Uuid::now_v7(),
            requester_id: Uuid::now_v7(),
            submitted_by: Uuid::now_v7(),
            beneficiary_group: need::BeneficiaryGroup::ElderlyAlone,
            category: category.into(),
            urgency: need::Urgency::High,
            urgency_rank: 3,
            title: title.into(),
            description: description.into(),
            status: NeedStatus::Accepted,
            status_reason: None,
            project_id: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn res(title: &str, category: ResourceCategory, skills: &str) -> resource::Model {
        let now = Utc::now();
        resource::Model {
            id: Uuid::now_v7(),
            community_id: Uuid::now_v7(),
            street_id: Uuid::now_v7(),
            organisation_id: None,
            provider_id: None,
            entered_by: Uuid::now_v7(),
            from_party_member: false,
            category,
            action: resource::FourAction::NeighbourMutualAid,
            title: title.into(),
            description: None,
            skills: skills.into(),
            quantity: 1,
            reserved: 0,
            used: 0,
            unit: "次".into(),
            status: ResourceStatus::Available,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn ranks_by_category_skill_and_text() {
        let n = need(
            "独居老人需要上门理发",
            "服务",
            "行动不便，希望每月上门理发一次",
        );
        let barber = res("上门理发服务", ResourceCategory::Service, "理发");
        let venue = res("社区活动室", ResourceCategory::Venue, "");
        let goods = res("理发工具", ResourceCategory::Goods, "");
        let (s_barber, cat, skill, _) = score(&n, &barber);
        assert_eq!(cat, 1.0);
        assert_eq!(skill, 1.0);
        let (s_goods, ..) = score(&n, &goods);
        let (s_venue, ..) = score(&n, &venue);
        assert!(
            s_barber > s_goods && s_goods > s_venue,
            "{s_barber} {s_goods} {s_venue}"
        );
        assert_eq!(
            category_of("volunteer_time"),
            Some(ResourceCategory::VolunteerTime)
        );
        assert_eq!(category_of("其他"), None);
    }
}
