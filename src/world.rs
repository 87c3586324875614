//! A small world to test against: one district with two streets, one
//! community on each, and people with every standing that matters.
//!
//! ```text
//! district ─┬─ street_a ── community_a: staff_a, resident_a, grid_a
//!           └─ street_b ── community_b: staff_b, resident_b
//! officers: admin (platform), street_admin_a, street_admin_b
//! outsider: logged in, member of nothing
//! ```

use api::policy::{Actor, Role};
use api::service::consultation::{ballot, proposal as proposals, settings};
use api::service::org::{self, JoinRequest};
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::Utc;
use entity::consultation::ballot::{Electorate, PassRule};
use entity::consultation::setting::SecondingKind;
use entity::org::region::RegionKind;
use entity::org::region_officer::{self, OfficerRole};
use entity::org::user;
use sea_orm::{ActiveModelTrait, Set};
use uuid::Uuid;

use crate::TestApp;

/// A room number never handed out before in this process, so that every
/// [`TestApp::member`] has a household of their own.
///
/// It was `100 + (random % 900)`: two of a world's members shared a room
/// (and so a household) about once in 300 worlds, and a test that counts
/// households failed (issue 24).
pub fn next_room() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!("R{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A user and an access token for them.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: Uuid,
    pub token: String,
    /// Their membership in their community, when they have one.
    pub membership_id: Option<Uuid>,
}

impl Person {
    pub fn token(&self) -> Option<&str> {
        Some(self.token.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct World {
    pub district: Uuid,
    pub street_a: Uuid,
    pub street_b: Uuid,
    pub community_a: Uuid,
    pub community_b: Uuid,
    pub admin: Person,
    pub street_admin_a: Person,
    pub street_admin_b: Person,
    pub staff_a: Person,
    pub resident_a: Person,
    pub grid_a: Person,
    pub staff_b: Person,
    pub resident_b: Person,
    pub outsider: Person,
}

impl TestApp {
    /// A user who logs in by phone and password (a staff member, 社工), made
    /// as the CLI makes one; returns the id.
    pub async fn password_user(&self, phone: &str, password: &str) -> Uuid {
        api::service::auth::create_password_user(
            &self.db,
            &self.state.keys,
            phone,
            "社工",
            password,
            false,
        )
        .await
        .map_err(|e| e.message())
        .unwrap()
        .id
    }

    /// Inserts a user with no login method (tests mint tokens directly).
    pub async fn create_user(&self, name: &str, is_platform_admin: bool) -> Person {
        let created = user::ActiveModel {
            id: Set(Uuid::now_v7()),
            display_name: Set(name.to_string()),
            wechat_openid: Set(None),
            wechat_unionid: Set(None),
            login_phone_sealed: Set(None),
            login_phone_blind_index: Set(None),
            password_hash: Set(None),
            is_platform_admin: Set(is_platform_admin),
            failed_login_count: Set(0),
            locked_until: Set(None),
            created_at: Set(Utc::now()),
            erased_at: Set(None),
        }
        .insert(&self.db)
        .await
        .expect("insert user");
        Person {
            id: created.id,
            token: self.token_for(created.id),
            membership_id: None,
        }
    }

    pub async fn appoint(&self, region_id: Uuid, person: &Person, role: OfficerRole) {
        region_officer::ActiveModel {
            id: Set(Uuid::now_v7()),
            region_id: Set(region_id),
            user_id: Set(person.id),
            role: Set(role),
            appointed_by: Set(None),
            created_at: Set(Utc::now()),
        }
        .insert(&self.db)
        .await
        .expect("appoint");
    }

    /// A new user who has asked to join `community_id` (PENDING).
    pub async fn applicant(
        &self,
        community_id: Uuid,
        name: &str,
        building: &str,
        room: &str,
    ) -> Person {
        let mut person = self.create_user(name, false).await;
        let joined = org::join_community(
            &self.db,
            &self.state.keys,
            &Actor::User(person.id),
            JoinRequest {
                community_id,
                real_name: name,
                phone: "13912345678",
                building,
                unit: "1单元",
                room,
            },
        )
        .await
        .map_err(|e| e.message())
        .expect("join");
        person.membership_id = Some(joined.membership.id);
        person
    }

    /// A new ACTIVE member of `community_id` with `roles`, approved by `approver`.
    pub async fn member(
        &self,
        community_id: Uuid,
        name: &str,
        roles: &[Role],
        approver: &Person,
    ) -> Person {
        let person = self
            .applicant(community_id, name, "1栋", &next_room())
            .await;
        org::approve_membership(
            &self.db,
            &Actor::User(approver.id),
            person.membership_id.expect("membership"),
            roles,
        )
        .await
        .map_err(|e| e.message())
        .expect("approve");
        person
    }

    pub async fn world(&self) -> World {
        let admin = self.create_user("平台管理员", true).await;
        let as_admin = Actor::User(admin.id);
        let region = |name: &'static str, kind, parent| {
            let db = self.db.clone();
            async move {
                org::create_region(&db, &as_admin, name, kind, parent)
                    .await
                    .map_err(|e| e.message())
                    .expect("region")
                    .id
            }
        };
        let district = region("测试区", RegionKind::District, None).await;
        let street_a = region("甲街道", RegionKind::Street, Some(district)).await;
        let street_b = region("乙街道", RegionKind::Street, Some(district)).await;
        let community_a = region("甲社区", RegionKind::Community, Some(street_a)).await;
        let community_b = region("乙社区", RegionKind::Community, Some(street_b)).await;
        let street_admin_a = self.create_user("甲街道干部", false).await;
        self.appoint(street_a, &street_admin_a, OfficerRole::StreetAdmin)
            .await;
        let street_admin_b = self.create_user("乙街道干部", false).await;
        self.appoint(street_b, &street_admin_b, OfficerRole::StreetAdmin)
            .await;
        let staff_a = self
            .member(
                community_a,
                "甲社工",
                &[Role::Staff, Role::Resident],
                &street_admin_a,
            )
            .await;
        let resident_a = self
            .member(community_a, "张三", &[Role::Resident], &staff_a)
            .await;
        let grid_a = self
            .member(community_a, "网格员", &[Role::GridWorker], &staff_a)
            .await;
        let staff_b = self
            .member(
                community_b,
                "乙社工",
                &[Role::Staff, Role::Resident],
                &street_admin_b,
            )
            .await;
        let resident_b = self
            .member(community_b, "李四", &[Role::Resident], &staff_b)
            .await;
        let outsider = self.create_user("路人", false).await;
        World {
            district,
            street_a,
            street_b,
            community_a,
            community_b,
            admin,
            street_admin_a,
            street_admin_b,
            staff_a,
            resident_a,
            grid_a,
            staff_b,
            resident_b,
            outsider,
        }
    }

    /// `n` residents of community A (居民0, 居民1, …), added by staff A.
    pub async fn residents(&self, world: &World, n: usize) -> Vec<Person> {
        let mut residents = Vec::with_capacity(n);
        for i in 0..n {
            residents.push(
                self.member(
                    world.community_a,
                    &format!("居民{i}"),
                    &[Role::Resident],
                    &world.staff_a,
                )
                .await,
            );
        }
        residents
    }

    /// A proposal of resident A in community A that staff A seconded, with
    /// the settings changed so that one second makes a proposal eligible.
    pub async fn eligible_proposal(&self, world: &World) -> Uuid {
        let staff = self.actor(world.staff_a.id);
        settings::update_consultation_settings(
            &self.db,
            &staff,
            world.community_a,
            settings::SettingsChange {
                seconding_kind: SecondingKind::Residents,
                seconding_value: 1,
                max_proxies_per_holder: None,
                notice_days: None,
            },
        )
        .await
        .map_err(|e| e.message())
        .unwrap();
        let proposal = proposals::submit_proposal(
            &self.db,
            &self.actor(world.resident_a.id),
            world.community_a,
            "加装电梯",
            "三栋加装电梯",
        )
        .await
        .map_err(|e| e.message())
        .unwrap()
        .id;
        proposals::second_proposal(&self.db, &staff, proposal)
            .await
            .map_err(|e| e.message())
            .unwrap();
        proposal
    }

    /// `eligible_proposal`, accepted by staff A.
    pub async fn accepted_proposal(&self, world: &World) -> Uuid {
        let proposal = self.eligible_proposal(world).await;
        proposals::accept_proposal(&self.db, &self.actor(world.staff_a.id), proposal)
            .await
            .map_err(|e| e.message())
            .unwrap();
        proposal
    }

    /// An OPEN ballot of community A's residents (majority of votes cast,
    /// quorum 1, closing in a day) on an `accepted_proposal`.
    pub async fn open_residents_ballot(&self, world: &World, secret: bool) -> Uuid {
        let proposal = self.accepted_proposal(world).await;
        let staff = self.actor(world.staff_a.id);
        ballot::open_ballot(
            &self.db,
            &staff,
            ballot::OpenBallot {
                proposal_id: Some(proposal),
                covenant_version_id: None,
                council_id: None,
                electorate: Electorate::Residents,
                pass_rule: PassRule::MajorityOfCast,
                quorum: 1,
                secret,
                opens_at: None,
                closes_at: Utc::now() + chrono::Duration::days(1),
            },
        )
        .await
        .map_err(|e| e.message())
        .unwrap()
        .id
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::next_room;

    /// More rooms than the old scheme had (900): by the pigeonhole
    /// principle it failed this every time.
    #[test]
    fn every_member_gets_a_room_of_their_own() {
        let rooms: HashSet<String> = (0..2_000).map(|_| next_room()).collect();
        assert_eq!(rooms.len(), 2_000);
        assert!(rooms.iter().all(|room| room.chars().count() <= 16));
    }
}
