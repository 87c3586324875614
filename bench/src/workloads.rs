//! The workloads and, for each target, the request that performs them.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use api::auth::jwt::JwtKeys;
use chrono::Utc;
use entity::consultation::ballot;
use entity::credits::activity_signup;
use entity::lists::need;
use entity::org::{membership, region};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use crate::load::{Gen, Req};
use crate::seed::Seeded;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Linli,
    Raw,
    PostGraphile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    R0,
    R1,
    R2,
    R3,
    W1,
    W2,
    M,
}

impl Workload {
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Workload::R0 | Workload::R1 | Workload::R2 | Workload::R3
        )
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_uppercase().as_str() {
            "R0" => Workload::R0,
            "R1" => Workload::R1,
            "R2" => Workload::R2,
            "R3" => Workload::R3,
            "W1" => Workload::W1,
            "W2" => Workload::W2,
            "M" => Workload::M,
            other => return Err(format!("unknown workload {other}")),
        })
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

pub const R0: &str = "{ __typename }";
pub const R1: &str =
    "query R1($id: ID!) { need(id: $id) { id title category urgency status createdAt } }";
pub const R2: &str = "query R2($c: ID!) { needs(communityId: $c, first: 20) { edges { node { \
    id title category urgency status createdAt requester { id displayName } \
    project { id title status } } } pageInfo { endCursor hasNextPage } } }";
pub const R3: &str = "query R3($c: ID!) { projects(communityId: $c, first: 20) { edges { node { \
    id title status pledges { id quantity status resource { id title category \
    provider { id displayName } } } } } } }";
pub const W1: &str = "mutation W1($b: ID!) { castVote(ballotId: $b, choice: FOR) { id } }";
pub const W2: &str = "mutation W2($a: ID!, $u: ID!, $k: String!) { confirmService(activityId: $a, \
    records: [{userId: $u, minutes: 120}], idempotencyKey: $k) { id amount } }";

fn gql(query: &str, variables: serde_json::Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

/// The n-th (ballot, voter) pair: every voter of the first ballot, then of
/// the second…, so each vote is a new one until all pairs are used.
pub fn vote_pair(n: u64, voters: usize, ballots: usize) -> (usize, usize) {
    let voters = voters.max(1) as u64;
    let ballot = (n / voters) as usize % ballots.max(1);
    (ballot, (n % voters) as usize)
}

/// The read or write a mixed-workload request `n` makes: 9 in 10 are reads
/// (R1, R2, R3 in turn), the tenth a write (W1 and W2 in turn).
pub fn mixed(n: u64) -> Workload {
    if n % 10 == 9 {
        if (n / 10).is_multiple_of(2) {
            Workload::W1
        } else {
            Workload::W2
        }
    } else {
        [Workload::R1, Workload::R2, Workload::R3][(n % 10 % 3) as usize]
    }
}

pub struct Fixtures {
    seeded: Arc<Seeded>,
    staff_token: Arc<str>,
    voter_tokens: Arc<Vec<Arc<str>>>,
    /// Shared by every run, so that no vote and no confirmation repeats.
    votes: Arc<AtomicU64>,
    confirmations: Arc<AtomicU64>,
}

impl Fixtures {
    pub fn new(seeded: &Seeded) -> anyhow::Result<Fixtures> {
        let keys = JwtKeys::new(&SecretString::from(crate::JWT_SECRET.to_string()));
        let now = Utc::now();
        let token = |id: Uuid| -> anyhow::Result<Arc<str>> { Ok(keys.issue(id, now)?.0.into()) };
        Ok(Fixtures {
            seeded: Arc::new(seeded.clone()),
            staff_token: token(seeded.staff_id)?,
            voter_tokens: Arc::new(
                seeded
                    .residents
                    .iter()
                    .map(|id| token(*id))
                    .collect::<anyhow::Result<_>>()?,
            ),
            votes: Arc::new(AtomicU64::new(0)),
            confirmations: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The request generator of `workload` on `target`; None when the
    /// target does not take part in it.
    pub fn make(&self, target: Target, workload: Workload, base: &str) -> Option<Gen> {
        let s = self.seeded.clone();
        let community = s.community_id.to_string();
        match target {
            Target::Linli => {
                let url: Arc<str> = format!("{base}/graphql").into();
                let staff = self.staff_token.clone();
                let voters = self.voter_tokens.clone();
                let votes = self.votes.clone();
                let confirmations = self.confirmations.clone();
                Some(Arc::new(move |n| {
                    let which = if workload == Workload::M {
                        mixed(n)
                    } else {
                        workload
                    };
                    let (token, body) = match which {
                        Workload::R0 => (staff.clone(), gql(R0, json!({}))),
                        Workload::R1 => {
                            let id = s.need_ids[n as usize % s.need_ids.len()];
                            (staff.clone(), gql(R1, json!({ "id": id })))
                        }
                        Workload::R2 => (staff.clone(), gql(R2, json!({ "c": community }))),
                        Workload::R3 => (staff.clone(), gql(R3, json!({ "c": community }))),
                        Workload::W1 => {
                            let k = votes.fetch_add(1, Ordering::Relaxed);
                            let (b, v) = vote_pair(k, voters.len(), s.ballot_ids.len());
                            (voters[v].clone(), gql(W1, json!({ "b": s.ballot_ids[b] })))
                        }
                        Workload::W2 | Workload::M => {
                            let k = confirmations.fetch_add(1, Ordering::Relaxed) as usize;
                            let (a, u) = s.signups[k % s.signups.len()];
                            let vars = json!({ "a": a, "u": u, "k": Uuid::now_v7() });
                            (staff.clone(), gql(W2, vars))
                        }
                    };
                    Req {
                        url: url.clone(),
                        token: Some(token),
                        body: body.into(),
                    }
                }))
            }
            Target::Raw => {
                let (path, workload_ok) = match workload {
                    Workload::R1 => ("r1", true),
                    Workload::R2 => ("r2", true),
                    _ => ("", false),
                };
                if !workload_ok {
                    return None;
                }
                let url: Arc<str> = format!("{base}/{path}").into();
                Some(Arc::new(move |n| {
                    let body = match workload {
                        Workload::R1 => json!({ "id": s.need_ids[n as usize % s.need_ids.len()] }),
                        _ => json!({ "communityId": community }),
                    };
                    Req {
                        url: url.clone(),
                        token: None,
                        body: body.to_string().into(),
                    }
                }))
            }
            Target::PostGraphile => {
                let query = match workload {
                    Workload::R1 => crate::postgraphile::R1,
                    Workload::R2 => crate::postgraphile::R2,
                    Workload::R3 => crate::postgraphile::R3,
                    _ => return None,
                };
                let url: Arc<str> = format!("{base}/graphql").into();
                Some(Arc::new(move |n| {
                    let vars = match workload {
                        Workload::R1 => json!({ "id": s.need_ids[n as usize % s.need_ids.len()] }),
                        _ => json!({ "c": community }),
                    };
                    Req {
                        url: url.clone(),
                        token: None,
                        body: gql(query, vars).into(),
                    }
                }))
            }
        }
    }
}

/// The ids of a database seeded by an earlier run (`--reuse`): the first
/// community, its staff member, residents, needs, ballots, and the sign-ups
/// not yet confirmed.
pub async fn load_seeded(db: &DatabaseConnection) -> anyhow::Result<Seeded> {
    let community = region::Entity::find()
        .filter(region::Column::Name.eq("第0社区"))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no seeded community in this database"))?;
    let cid = community.id;
    let members = membership::Entity::find()
        .filter(membership::Column::CommunityId.eq(cid))
        .order_by_asc(membership::Column::UserId)
        .all(db)
        .await?;
    let staff_id = members
        .iter()
        .find(|m| m.roles & (1 << 5) != 0)
        .map(|m| m.user_id)
        .ok_or_else(|| anyhow::anyhow!("no staff member"))?;
    let residents = members
        .iter()
        .map(|m| m.user_id)
        .filter(|u| *u != staff_id)
        .collect();
    let need_ids = need::Entity::find()
        .select_only()
        .column(need::Column::Id)
        .filter(need::Column::CommunityId.eq(cid))
        .into_tuple()
        .all(db)
        .await?;
    let ballot_ids = ballot::Entity::find()
        .select_only()
        .column(ballot::Column::Id)
        .filter(ballot::Column::CommunityId.eq(cid))
        .order_by_asc(ballot::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let signups = activity_signup::Entity::find()
        .select_only()
        .column(activity_signup::Column::ActivityId)
        .column(activity_signup::Column::UserId)
        .filter(activity_signup::Column::CommunityId.eq(cid))
        .filter(activity_signup::Column::ConfirmedAt.is_null())
        .order_by_asc(activity_signup::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    Ok(Seeded {
        community_id: cid,
        staff_id,
        residents,
        need_ids,
        ballot_ids,
        signups,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn vote_pairs_are_distinct_until_exhausted() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..15 {
            assert!(seen.insert(vote_pair(n, 5, 3)));
        }
        assert_eq!(vote_pair(0, 5, 3), (0, 0));
        assert_eq!(vote_pair(7, 5, 3), (1, 2));
        assert_eq!(vote_pair(15, 5, 3), (0, 0));
    }

    #[test]
    fn mixed_is_nine_reads_in_ten() {
        let kinds: Vec<Workload> = (0..1000).map(mixed).collect();
        let writes = kinds.iter().filter(|w| !w.is_read()).count();
        assert_eq!(writes, 100);
        assert_eq!(kinds.iter().filter(|w| **w == Workload::W1).count(), 50);
        assert_eq!(kinds.iter().filter(|w| **w == Workload::R2).count(), 300);
        assert_eq!("r2".parse::<Workload>(), Ok(Workload::R2));
        assert!("X".parse::<Workload>().is_err());
    }
}
