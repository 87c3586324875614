//! Seeds a benchmark database with SeaORM bulk inserts, in the shapes the
//! services produce: a district with streets and communities, households,
//! members (one staff member per community), resources offered by members,
//! projects with pledges on those resources (reservations kept consistent
//! with the resources' `reserved`), needs (a fifth taken on by a project),
//! open ballots on proposals with every resident an elector, past volunteer
//! activities with checked-in-and-out sign-ups, and a points ledger.
//!
//! The first community is the one the workloads use; the others only make
//! the tables (and their indexes) as big as the chosen size says.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use entity::consultation::ballot::{BallotStatus, BallotTarget, Electorate, PassRule};
use entity::consultation::proposal::ProposalStatus;
use entity::consultation::{ballot, ballot_elector, proposal};
use entity::credits::activity::ActivityStatus;
use entity::credits::activity_signup::SignupStatus;
use entity::credits::point_account::AccountKind;
use entity::credits::posting::PostingKind;
use entity::credits::{activity, activity_signup, point_account, posting};
use entity::lists::need::{BeneficiaryGroup, NeedStatus, Urgency};
use entity::lists::pledge::PledgeStatus;
use entity::lists::project::ProjectStatus;
use entity::lists::resource::{FourAction, ResourceCategory, ResourceStatus};
use entity::lists::{need, pledge, project, project_need, resource};
use entity::org::membership::MembershipStatus;
use entity::org::region::RegionKind;
use entity::org::{household, membership, region, user};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel};
use uuid::Uuid;

use api::crypto::{DataKeys, SealedColumn};

/// Role bits (see `api::policy::Role`).
const RESIDENT: i32 = 1;
const VOLUNTEER: i32 = 1 << 1;
const STAFF: i32 = 1 << 5;

/// How many rows of each kind a run seeds, from the number of needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub needs: usize,
    pub communities: usize,
    pub streets: usize,
    /// Members of each community but the first.
    pub members_per_community: usize,
    /// Members of the first (benchmarked) community: the voters and volunteers.
    pub bench_members: usize,
    pub households_per_community: usize,
    pub resources_per_community: usize,
    pub projects_per_community: usize,
    pub pledges_per_project: usize,
    /// Open ballots in the first community (every resident is an elector of each).
    pub ballots: usize,
    /// Past activities in the first community (every member but staff signed up).
    pub activities: usize,
}

impl Plan {
    /// About 2,000 needs per community, between 1 and 50 communities, five
    /// communities per street.
    pub fn for_needs(needs: usize, bench_members: usize) -> Plan {
        let communities = needs.div_ceil(2000).clamp(1, 50);
        Plan {
            needs,
            communities,
            streets: communities.div_ceil(5),
            members_per_community: 600,
            bench_members: bench_members.max(10),
            households_per_community: 400,
            resources_per_community: 150,
            projects_per_community: 40,
            pledges_per_project: 3,
            ballots: 5,
            activities: 5,
        }
    }

    /// Needs of community `c`: an even share, the remainder to the first.
    pub fn needs_of(&self, c: usize) -> usize {
        let share = self.needs / self.communities;
        if c == 0 {
            self.needs - share * (self.communities - 1)
        } else {
            share
        }
    }

    pub fn members_of(&self, c: usize) -> usize {
        if c == 0 {
            self.bench_members
        } else {
            self.members_per_community
        }
    }
}

/// What the workloads need to know about the seeded data.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub community_id: Uuid,
    pub staff_id: Uuid,
    /// Residents of the first community (staff excluded), in the order of
    /// their elector and sign-up rows.
    pub residents: Vec<Uuid>,
    pub need_ids: Vec<Uuid>,
    pub ballot_ids: Vec<Uuid>,
    /// (activity, volunteer) sign-ups not yet confirmed, for `confirmService`.
    pub signups: Vec<(Uuid, Uuid)>,
}

/// Every seeded activity lasts this long (and `confirmService` confirms it).
pub const ACTIVITY_MINUTES: i64 = 120;

struct Batch<'a> {
    db: &'a DatabaseConnection,
    rows: u64,
}

impl Batch<'_> {
    async fn insert<A>(&mut self, rows: Vec<A>) -> anyhow::Result<()>
    where
        A: ActiveModelTrait + Send,
    {
        // Under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
        const CHUNK: usize = 1000;
        let mut rows = rows;
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(CHUNK));
            let chunk = std::mem::replace(&mut rows, rest);
            self.rows += chunk.len() as u64;
            <A::Entity as EntityTrait>::insert_many(chunk)
                .exec_without_returning(self.db)
                .await
                .context("bulk insert")?;
        }
        Ok(())
    }
}

fn am<M: IntoActiveModel<A>, A: ActiveModelTrait>(rows: Vec<M>) -> Vec<A> {
    rows.into_iter()
        .map(IntoActiveModel::into_active_model)
        .collect()
}

fn region_row(name: String, kind: RegionKind, parent: Option<&region::Model>) -> region::Model {
    let id = Uuid::now_v7();
    let (district_id, street_id) = match (kind, parent) {
        (RegionKind::District, _) | (_, None) => (id, None),
        (RegionKind::Street, Some(p)) => (p.district_id, Some(id)),
        (RegionKind::Community, Some(p)) => (p.district_id, p.street_id),
    };
    region::Model {
        id,
        name,
        kind,
        parent_id: parent.map(|p| p.id),
        district_id,
        street_id,
        created_at: Utc::now(),
    }
}

/// Seeds an empty, migrated database; returns the ids the workloads use
/// and the number of rows written.
pub async fn seed(db: &DatabaseConnection, plan: &Plan) -> anyhow::Result<(Seeded, u64)> {
    let keys = bench_data_keys()?;
    let mut rng = StdRng::seed_from_u64(7);
    let mut batch = Batch { db, rows: 0 };
    let now = Utc::now();

    let district = region_row("基准区".into(), RegionKind::District, None);
    let streets: Vec<region::Model> = (0..plan.streets)
        .map(|s| region_row(format!("第{s}街道"), RegionKind::Street, Some(&district)))
        .collect();
    let communities: Vec<region::Model> = (0..plan.communities)
        .map(|c| {
            region_row(
                format!("第{c}社区"),
                RegionKind::Community,
                Some(&streets[c / 5]),
            )
        })
        .collect();
    let mut regions = vec![district];
    regions.extend(streets);
    regions.extend(communities.iter().cloned());
    batch.insert(am::<_, region::ActiveModel>(regions)).await?;

    let mut seeded = Seeded {
        community_id: communities[0].id,
        staff_id: Uuid::nil(),
        residents: Vec::new(),
        need_ids: Vec::new(),
        ballot_ids: Vec::new(),
        signups: Vec::new(),
    };
    for (c, community) in communities.iter().enumerate() {
        let cid = community.id;
        let street_id = community.street_id.unwrap_or(cid);
        let households: Vec<household::Model> = (0..plan.households_per_community)
            .map(|h| household::Model {
                id: Uuid::now_v7(),
                community_id: cid,
                building: format!("{}栋", h / 40 + 1),
                unit: format!("{}单元", h / 20 % 2 + 1),
                room: format!("{}", 101 + h % 20),
                created_at: now,
            })
            .collect();
        let members = plan.members_of(c);
        let users: Vec<user::Model> = (0..members)
            .map(|m| user::Model {
                id: Uuid::now_v7(),
                display_name: format!("居民{c}-{m}"),
                wechat_openid: None,
                wechat_unionid: None,
                login_phone_sealed: None,
                login_phone_blind_index: None,
                password_hash: None,
                is_platform_admin: false,
                failed_login_count: 0,
                locked_until: None,
                created_at: now,
                erased_at: None,
            })
            .collect();
        let user_ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        let memberships: Vec<membership::Model> = user_ids
            .iter()
            .enumerate()
            .map(|(m, uid)| {
                let id = Uuid::now_v7();
                (
                    m,
                    uid,
                    id,
                    keys.seal(SealedColumn::MembershipPhone, id, &format!("139{:08}", m)),
                )
            })
            .map(|(m, uid, id, phone)| -> anyhow::Result<membership::Model> {
                Ok(membership::Model {
                    id,
                    community_id: cid,
                    user_id: *uid,
                    household_id: Some(households[m % households.len()].id),
                    real_name: format!("居民{m}"),
                    phone_sealed: phone?,
                    roles: match m {
                        0 => STAFF | RESIDENT,
                        m if m % 3 == 0 => RESIDENT | VOLUNTEER,
                        _ => RESIDENT,
                    },
                    status: MembershipStatus::Active,
                    status_reason: None,
                    created_at: now,
                    updated_at: now,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        batch
            .insert(am::<_, household::ActiveModel>(households))
            .await?;
        batch.insert(am::<_, user::ActiveModel>(users)).await?;
        batch
            .insert(am::<_, membership::ActiveModel>(memberships))
            .await?;
        let staff = user_ids[0];

        // Resources offered by members; reservations filled in by the pledges.
        let mut resources: Vec<resource::Model> = (0..plan.resources_per_community)
            .map(|r| {
                let category = [
                    ResourceCategory::Skill,
                    ResourceCategory::Goods,
                    ResourceCategory::Service,
                    ResourceCategory::VolunteerTime,
                    ResourceCategory::Venue,
                ][r % 5];
                resource::Model {
                    id: Uuid::now_v7(),
                    community_id: cid,
                    street_id,
                    organisation_id: None,
                    provider_id: Some(user_ids[1 + r % (members - 1)]),
                    entered_by: user_ids[1 + r % (members - 1)],
                    from_party_member: false,
                    category,
                    action: FourAction::NeighbourMutualAid,
                    title: format!("资源{r}"),
                    description: Some("可每周提供两次".into()),
                    skills: "维修,陪伴".into(),
                    quantity: 100,
                    reserved: 0,
                    used: 0,
                    unit: "次".into(),
                    status: ResourceStatus::Available,
                    created_at: now,
                    updated_at: now,
                }
            })
            .collect();
        let projects: Vec<project::Model> = (0..plan.projects_per_community)
            .map(|p| project::Model {
                id: Uuid::now_v7(),
                community_id: cid,
                street_id,
                selected_community_id: None,
                lead_organisation_id: None,
                title: format!("项目{p}"),
                description: Some("为独居老人提供上门服务".into()),
                budget_fen: 500_000,
                spent_fen: None,
                status: ProjectStatus::InProgress,
                review_score: None,
                review_comment: None,
                reviewed_by: None,
                reviewed_at: None,
                removal_reason: None,
                created_by: staff,
                created_at: now,
                updated_at: now,
                selected_at: None,
                started_at: Some(now),
                completed_at: None,
                evaluated_at: None,
            })
            .collect();
        let mut pledges = Vec::new();
        for (p, proj) in projects.iter().enumerate() {
            for k in 0..plan.pledges_per_project {
                let r = (p * plan.pledges_per_project + k) % resources.len();
                let quantity = rng.random_range(1..=5);
                resources[r].reserved += quantity;
                pledges.push(pledge::Model {
                    id: Uuid::now_v7(),
                    community_id: cid,
                    project_id: proj.id,
                    resource_id: resources[r].id,
                    quantity,
                    used_quantity: None,
                    status: PledgeStatus::Reserved,
                    created_at: now,
                    settled_at: None,
                });
            }
        }
        let project_ids: Vec<Uuid> = projects.iter().map(|p| p.id).collect();
        batch
            .insert(am::<_, resource::ActiveModel>(resources))
            .await?;
        batch
            .insert(am::<_, project::ActiveModel>(projects))
            .await?;
        batch.insert(am::<_, pledge::ActiveModel>(pledges)).await?;

        // Needs, written in slices so 1M needs never sit in memory at once.
        let total = plan.needs_of(c);
        let mut written = 0;
        while written < total {
            let n = (total - written).min(20_000);
            let mut needs = Vec::with_capacity(n);
            let mut links = Vec::new();
            for i in written..written + n {
                let requester = user_ids[1 + i % (members - 1)];
                let (status, project_id) = match i % 10 {
                    0 | 1 => {
                        let project_id = project_ids[i % project_ids.len()];
                        (NeedStatus::InProgress, Some(project_id))
                    }
                    2..=4 => (NeedStatus::Accepted, None),
                    5 => (NeedStatus::Fulfilled, None),
                    _ => (NeedStatus::Submitted, None),
                };
                let (urgency, rank) = match i % 4 {
                    0 => (Urgency::Low, 1),
                    1 => (Urgency::Normal, 2),
                    2 => (Urgency::High, 3),
                    _ => (Urgency::Urgent, 4),
                };
                let id = Uuid::now_v7();
                if let Some(project_id) = project_id {
                    links.push(project_need::Model {
                        id: Uuid::now_v7(),
                        community_id: cid,
                        project_id,
                        need_id: id,
                    });
                }
                if c == 0 {
                    seeded.need_ids.push(id);
                }
                needs.push(need::Model {
                    id,
                    community_id: cid,
                    requester_id: requester,
                    submitted_by: requester,
                    beneficiary_group: if i % 3 == 0 {
                        BeneficiaryGroup::ElderlyAlone
                    } else {
                        BeneficiaryGroup::General
                    },
                    category: ["SERVICE", "GOODS", "维修", "陪伴"][i % 4].into(),
                    urgency,
                    urgency_rank: rank,
                    title: format!("需求{i}：楼道灯坏了需要维修"),
                    description: "三楼楼道灯不亮，老人晚上出行不便".into(),
                    status,
                    status_reason: None,
                    project_id,
                    created_at: now - Duration::minutes((total - i) as i64),
                    updated_at: now,
                });
            }
            batch.insert(am::<_, need::ActiveModel>(needs)).await?;
            batch
                .insert(am::<_, project_need::ActiveModel>(links))
                .await?;
            written += n;
        }

        // A small points ledger: the first 200 members earned twice.
        let issuing = Uuid::now_v7();
        let earners: Vec<Uuid> = user_ids.iter().skip(1).take(200).copied().collect();
        let mut accounts = vec![point_account::Model {
            id: issuing,
            community_id: cid,
            kind: AccountKind::Issuing,
            owner_id: None,
            balance: -(earners.len() as i64) * 40,
            minutes_served: 0,
            created_at: now,
        }];
        let mut postings = Vec::new();
        for owner in &earners {
            let account = Uuid::now_v7();
            accounts.push(point_account::Model {
                id: account,
                community_id: cid,
                kind: AccountKind::Member,
                owner_id: Some(*owner),
                balance: 40,
                minutes_served: 240,
                created_at: now,
            });
            for _ in 0..2 {
                postings.push(posting::Model {
                    id: Uuid::now_v7(),
                    community_id: cid,
                    kind: PostingKind::Earn,
                    amount: 20,
                    from_account_id: issuing,
                    to_account_id: account,
                    actor_id: Some(staff),
                    memo: Some("社区服务（120分钟）".into()),
                    minutes: Some(120),
                    activity_id: None,
                    redemption_id: None,
                    request_id: None,
                    reverses_posting_id: None,
                    created_at: now - Duration::days(30),
                });
            }
        }
        batch
            .insert(am::<_, point_account::ActiveModel>(accounts))
            .await?;
        batch
            .insert(am::<_, posting::ActiveModel>(postings))
            .await?;

        if c == 0 {
            seeded.staff_id = staff;
            seeded.residents = user_ids[1..].to_vec();
            seed_votes_and_activities(&mut batch, plan, cid, staff, &user_ids, &mut seeded, now)
                .await?;
        }
    }
    Ok((seeded, batch.rows))
}

async fn seed_votes_and_activities(
    batch: &mut Batch<'_>,
    plan: &Plan,
    cid: Uuid,
    staff: Uuid,
    user_ids: &[Uuid],
    seeded: &mut Seeded,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let electors_n = user_ids.len() as i32;
    for b in 0..plan.ballots {
        let proposal_id = Uuid::now_v7();
        batch
            .insert(am::<_, proposal::ActiveModel>(vec![proposal::Model {
                id: proposal_id,
                community_id: cid,
                author_id: user_ids[1],
                title: format!("提案{b}：加装电梯"),
                description: "老旧小区加装电梯，费用按楼层分摊".into(),
                status: ProposalStatus::InVote,
                second_count: 10,
                merged_into_id: None,
                reject_reason: None,
                decided_by: Some(staff),
                done_at: None,
                created_at: now,
                updated_at: now,
            }]))
            .await?;
        let ballot_id = Uuid::now_v7();
        batch
            .insert(am::<_, ballot::ActiveModel>(vec![ballot::Model {
                id: ballot_id,
                community_id: cid,
                target_kind: BallotTarget::Proposal,
                target_id: proposal_id,
                council_id: None,
                electorate: Electorate::Residents,
                pass_rule: PassRule::MajorityOfCast,
                quorum: 1,
                secret: false,
                status: BallotStatus::Open,
                opens_at: now - Duration::hours(1),
                closes_at: now + Duration::days(7),
                electorate_size: electors_n,
                opened_by: staff,
                closed_at: None,
                closed_by: None,
                passed: None,
                quorum_met: None,
                for_count: None,
                against_count: None,
                abstain_count: None,
                turnout: None,
                created_at: now,
            }]))
            .await?;
        // RESIDENTS: each resident is their own voting unit.
        let electors: Vec<ballot_elector::Model> = user_ids
            .iter()
            .map(|u| ballot_elector::Model {
                ballot_id,
                user_id: *u,
                community_id: cid,
                unit_id: *u,
            })
            .collect();
        batch
            .insert(am::<_, ballot_elector::ActiveModel>(electors))
            .await?;
        seeded.ballot_ids.push(ballot_id);
    }
    // Past activities on different days (no overlap, a fresh daily cap each),
    // every member but the organiser checked in and out.
    for a in 0..plan.activities {
        let starts_at = now - Duration::days(a as i64 + 1);
        let ends_at = starts_at + Duration::minutes(ACTIVITY_MINUTES);
        let activity_id = Uuid::now_v7();
        batch
            .insert(am::<_, activity::ActiveModel>(vec![activity::Model {
                id: activity_id,
                community_id: cid,
                organiser_id: staff,
                project_id: None,
                title: format!("社区清扫{a}"),
                description: None,
                place: Some("中心广场".into()),
                starts_at,
                ends_at,
                capacity: electors_n,
                points_per_hour: 10,
                skills_wanted: String::new(),
                status: ActivityStatus::Open,
                check_code: None,
                check_code_expires_at: None,
                created_at: now,
                updated_at: now,
            }]))
            .await?;
        let signups: Vec<activity_signup::Model> = user_ids[1..]
            .iter()
            .map(|u| activity_signup::Model {
                id: Uuid::now_v7(),
                community_id: cid,
                activity_id,
                user_id: *u,
                status: SignupStatus::SignedUp,
                queued_at: starts_at - Duration::days(1),
                checked_in_at: Some(starts_at),
                checked_out_at: Some(ends_at),
                auto_closed: false,
                confirmed_minutes: None,
                credited_minutes: None,
                correction_reason: None,
                confirmed_by: None,
                confirmed_at: None,
                created_at: now,
                updated_at: now,
            })
            .collect();
        seeded
            .signups
            .extend(signups.iter().map(|s| (s.activity_id, s.user_id)));
        batch
            .insert(am::<_, activity_signup::ActiveModel>(signups))
            .await?;
    }
    Ok(())
}

/// The keys of `DATA_ENCRYPTION_KEY` (the bench's), to seal the seeded phones.
fn bench_data_keys() -> anyhow::Result<DataKeys> {
    let hex = crate::DATA_ENCRYPTION_KEY;
    let mut secret = [0u8; 32];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    Ok(DataKeys::from_secret(&secret))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_bench_data_key_is_32_bytes_of_hex() {
        // The server refuses any other length at start.
        assert_eq!(crate::DATA_ENCRYPTION_KEY.len(), 64);
        assert!(bench_data_keys().is_ok());
    }

    #[test]
    fn plan_shares_needs_and_bounds_communities() {
        let small = Plan::for_needs(10_000, 6000);
        assert_eq!(small.communities, 5);
        assert_eq!(small.streets, 1);
        assert_eq!((0..5).map(|c| small.needs_of(c)).sum::<usize>(), 10_000);
        let odd = Plan::for_needs(10_001, 6000);
        assert_eq!(
            (0..odd.communities).map(|c| odd.needs_of(c)).sum::<usize>(),
            10_001
        );
        assert_eq!(odd.communities, 6);
        assert_eq!(odd.needs_of(0), 10_001 - 5 * 1666);
        let big = Plan::for_needs(1_000_000, 6000);
        assert_eq!(big.communities, 50);
        assert_eq!(big.streets, 10);
        assert_eq!(big.needs_of(1), 20_000);
        assert_eq!(Plan::for_needs(1, 0).communities, 1);
        assert_eq!(Plan::for_needs(1, 0).bench_members, 10);
    }

    #[test]
    fn regions_carry_their_ancestors() {
        let d = region_row("区".into(), RegionKind::District, None);
        let s = region_row("街".into(), RegionKind::Street, Some(&d));
        let c = region_row("社".into(), RegionKind::Community, Some(&s));
        assert_eq!(d.district_id, d.id);
        assert_eq!(s.district_id, d.id);
        assert_eq!(s.street_id, Some(s.id));
        assert_eq!(c.street_id, Some(s.id));
        assert_eq!(c.parent_id, Some(s.id));
    }
}
