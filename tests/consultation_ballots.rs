//! Ballots end to end (DESIGN §4 “Vote”): the fixed electorate, open and
//! secret ballots, households, paper and proxy votes, closing by staff and by
//! the clock, published results, evaluation, and concurrency on both back ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use api::policy::Role;
use chrono::{Duration, Utc};
use entity::org::membership::{self, MembershipStatus};
use entity::org::{household, user};
use futures_util::StreamExt;
use futures_util::future::join_all;
use linli::world::Person;
use linli::{TestApp, World, backend_tests};
use sea_orm::{EntityTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

const OPEN: &str = "mutation($p: ID, $e: Electorate!, $r: PassRule!, $q: Int!, $s: Boolean!, $c: DateTime!) { openBallot(proposalId: $p, electorate: $e, passRule: $r, quorum: $q, secret: $s, closesAt: $c) { id status electorateSize tally { forCount againstCount abstainCount turnout } passed } }";
const VOTE: &str = "mutation($b: ID!, $c: Choice!) { castVote(ballotId: $b, choice: $c) { id tally { forCount againstCount abstainCount turnout } } }";
const BALLOT: &str = "query($b: ID!) { ballot(id: $b) { id status electorateSize passed quorumMet tally { forCount againstCount abstainCount turnout } myVote { eligible voted choice method } proposal { id status } } }";
const CLOSE: &str = "mutation($b: ID!) { closeBallot(ballotId: $b) { id status passed quorumMet tally { forCount againstCount abstainCount turnout } } }";

async fn accepted_proposal(app: &TestApp, world: &World, title: &str) -> String {
    app.gql(
        world.staff_a.token(),
        "mutation($c: ID!) { updateConsultationSettings(communityId: $c, secondingKind: RESIDENTS, secondingValue: 1) { secondingValue } }",
        json!({"c": world.community_a}),
    )
    .await
    .data();
    let submitted = app
        .gql(
            world.resident_a.token(),
            "mutation($c: ID!, $t: String!) { submitProposal(communityId: $c, title: $t, description: \"说明\") { id } }",
            json!({"c": world.community_a, "t": title}),
        )
        .await;
    let id = submitted.data()["submitProposal"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql(
        world.staff_a.token(),
        "mutation($p: ID!) { secondProposal(proposalId: $p) { id } }",
        json!({"p": id}),
    )
    .await
    .data();
    app.gql(
        world.staff_a.token(),
        "mutation($p: ID!) { acceptProposal(proposalId: $p) { id } }",
        json!({"p": id}),
    )
    .await
    .data();
    id
}

async fn open(
    app: &TestApp,
    world: &World,
    proposal: &str,
    electorate: &str,
    rule: &str,
    quorum: i32,
    secret: bool,
) -> Value {
    let closes = (Utc::now() + Duration::days(3)).to_rfc3339();
    app.gql(
        world.staff_a.token(),
        OPEN,
        json!({"p": proposal, "e": electorate, "r": rule, "q": quorum, "s": secret, "c": closes}),
    )
    .await
    .data()["openBallot"]
        .clone()
}

async fn ballot(app: &TestApp, who: &Person, id: &str) -> Value {
    app.gql(who.token(), BALLOT, json!({"b": id})).await.data()["ballot"].clone()
}

/// `n` active residents inserted directly (fast), each in their own household.
async fn bulk_residents(app: &TestApp, world: &World, n: usize) -> Vec<Person> {
    let now = Utc::now();
    let mut people = Vec::with_capacity(n);
    let mut users = Vec::new();
    let mut households = Vec::new();
    let mut memberships = Vec::new();
    for i in 0..n {
        let user_id = Uuid::now_v7();
        let household_id = Uuid::now_v7();
        users.push(user::ActiveModel {
            id: Set(user_id),
            display_name: Set(format!("投票人{i}")),
            wechat_openid: Set(None),
            wechat_unionid: Set(None),
            login_phone_sealed: Set(None),
            login_phone_blind_index: Set(None),
            password_hash: Set(None),
            is_platform_admin: Set(false),
            failed_login_count: Set(0),
            locked_until: Set(None),
            created_at: Set(now),
            erased_at: Set(None),
        });
        households.push(household::ActiveModel {
            id: Set(household_id),
            community_id: Set(world.community_a),
            building: Set("9栋".into()),
            unit: Set("1单元".into()),
            room: Set(format!("{i}")),
            created_at: Set(now),
        });
        let membership_id = Uuid::now_v7();
        let sealed = app
            .state
            .keys
            .seal(
                api::crypto::SealedColumn::MembershipPhone,
                membership_id,
                "13912345678",
            )
            .unwrap();
        memberships.push(membership::ActiveModel {
            id: Set(membership_id),
            community_id: Set(world.community_a),
            user_id: Set(user_id),
            household_id: Set(Some(household_id)),
            real_name: Set(format!("投票人{i}")),
            phone_sealed: Set(sealed),
            roles: Set(Role::Resident.bit()),
            status: Set(MembershipStatus::Active),
            status_reason: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        people.push(Person {
            id: user_id,
            token: app.token_for(user_id),
            membership_id: None,
        });
    }
    for chunk in users.chunks(200) {
        user::Entity::insert_many(chunk.to_vec())
            .exec(&app.db)
            .await
            .unwrap();
    }
    for chunk in households.chunks(200) {
        household::Entity::insert_many(chunk.to_vec())
            .exec(&app.db)
            .await
            .unwrap();
    }
    for chunk in memberships.chunks(200) {
        membership::Entity::insert_many(chunk.to_vec())
            .exec(&app.db)
            .await
            .unwrap();
    }
    people
}

async fn open_ballot_votes_change_and_close(app: TestApp) {
    let world = app.world().await;
    let p = accepted_proposal(&app, &world, "更换小区门禁").await;
    // Not before it is accepted; only staff; bad input writes nothing.
    let closes = (Utc::now() + Duration::days(3)).to_rfc3339();
    app.gql(
        world.resident_a.token(),
        OPEN,
        json!({"p": p, "e": "RESIDENTS", "r": "MAJORITY_OF_CAST", "q": 1, "s": false, "c": closes}),
    )
    .await
    .expect_error("FORBIDDEN");
    let past = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let bad = app
        .gql(world.staff_a.token(), OPEN, json!({"p": p, "e": "RESIDENTS", "r": "MAJORITY_OF_CAST", "q": 1, "s": false, "c": past}))
        .await;
    assert_eq!(
        bad.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "closesAt"
    );
    let too_many = app
        .gql(world.staff_a.token(), OPEN, json!({"p": p, "e": "RESIDENTS", "r": "MAJORITY_OF_CAST", "q": 99, "s": false, "c": closes}))
        .await;
    assert_eq!(
        too_many.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "quorum"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM ballot").await, 0);
    let neither = app
        .gql(
            world.staff_a.token(),
            OPEN,
            json!({"e": "RESIDENTS", "r": "MAJORITY_OF_CAST", "q": 1, "s": false, "c": closes}),
        )
        .await;
    assert_eq!(
        neither.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "proposalId"
    );

    // Residents of community a: staff_a and resident_a (grid_a is not a resident).
    let b = open(&app, &world, &p, "RESIDENTS", "MAJORITY_OF_CAST", 2, false).await;
    assert_eq!(b["status"], "OPEN");
    assert_eq!(b["electorateSize"], 2);
    assert_eq!(b["passed"], Value::Null);
    let id = b["id"].as_str().unwrap().to_string();
    // A second ballot on the same proposal is refused while this one is open.
    app.gql(
        world.staff_a.token(),
        OPEN,
        json!({"p": p, "e": "RESIDENTS", "r": "MAJORITY_OF_CAST", "q": 1, "s": false, "c": closes}),
    )
    .await
    .expect_error("INVALID_STATE");
    assert_eq!(
        ballot(&app, &world.resident_a, &id).await["proposal"]["status"],
        "IN_VOTE"
    );

    // The grid worker is not in the electorate; another community sees nothing.
    app.gql(world.grid_a.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .expect_error("FORBIDDEN");
    let foreign = app
        .gql(world.resident_b.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await;
    assert!(matches!(
        foreign.error_code().as_deref(),
        Some("FORBIDDEN" | "NOT_FOUND")
    ));

    let v = app
        .gql(
            world.resident_a.token(),
            VOTE,
            json!({"b": id, "c": "AGAINST"}),
        )
        .await;
    assert_eq!(
        v.data()["castVote"]["tally"],
        json!({"forCount": 0, "againstCount": 1, "abstainCount": 0, "turnout": 1})
    );
    // Changed until it closes: the latest counts.
    let v = app
        .gql(world.resident_a.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await;
    assert_eq!(
        v.data()["castVote"]["tally"],
        json!({"forCount": 1, "againstCount": 0, "abstainCount": 0, "turnout": 1})
    );
    let mine = ballot(&app, &world.resident_a, &id).await;
    assert_eq!(
        mine["myVote"],
        json!({"eligible": true, "voted": true, "choice": "FOR", "method": "ONLINE"})
    );
    app.gql(
        world.staff_a.token(),
        VOTE,
        json!({"b": id, "c": "ABSTAIN"}),
    )
    .await
    .data();

    app.gql(world.resident_a.token(), CLOSE, json!({"b": id}))
        .await
        .expect_error("FORBIDDEN");
    let closed = app
        .gql(world.staff_a.token(), CLOSE, json!({"b": id}))
        .await;
    let closed = closed.data()["closeBallot"].clone();
    assert_eq!(closed["status"], "CLOSED");
    // 1 FOR of 2 cast is not more than half.
    assert_eq!(closed["passed"], false);
    assert_eq!(closed["quorumMet"], true);
    assert_eq!(
        closed["tally"],
        json!({"forCount": 1, "againstCount": 0, "abstainCount": 1, "turnout": 2})
    );
    app.gql(world.staff_a.token(), CLOSE, json!({"b": id}))
        .await
        .expect_error("INVALID_STATE");
    // Closed, which a client tells apart from having voted already.
    app.gql(
        world.resident_a.token(),
        VOTE,
        json!({"b": id, "c": "AGAINST"}),
    )
    .await
    .expect_reason("INVALID_STATE", "BALLOT_CLOSED");
    assert_eq!(
        ballot(&app, &world.resident_a, &id).await["proposal"]["status"],
        "FAILED"
    );

    // The result is published to members.
    let notices = app
        .gql(
            world.resident_a.token(),
            "query($c: ID!) { ballotResults(communityId: $c) { totalCount edges { node { title passed quorumMet electorateSize turnoutRate tally { forCount abstainCount turnout } } } } }",
            json!({"c": world.community_a}),
        )
        .await;
    let node = notices.data()["ballotResults"]["edges"][0]["node"].clone();
    assert_eq!(node["title"], "更换小区门禁");
    assert_eq!(node["passed"], false);
    assert_eq!(node["turnoutRate"], 1.0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM notification_outbox WHERE event = 'RESULT_PUBLISHED'")
            .await,
        1
    );
    assert!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE entity_type = 'ballot' AND action = 'close'"
        )
        .await
            == 1
    );
}

async fn passing_then_done_and_rated(app: TestApp) {
    let world = app.world().await;
    let p = accepted_proposal(&app, &world, "安装路灯").await;
    let b = open(
        &app,
        &world,
        &p,
        "RESIDENTS",
        "TWO_THIRDS_OF_ELECTORATE",
        1,
        false,
    )
    .await;
    let id = b["id"].as_str().unwrap().to_string();
    app.gql(world.resident_a.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .data();
    app.gql(world.staff_a.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .data();
    let closed = app
        .gql(world.staff_a.token(), CLOSE, json!({"b": id}))
        .await;
    assert_eq!(closed.data()["closeBallot"]["passed"], true);
    let proposal = "query($p: ID!) { proposal(id: $p) { status averageRating satisfactionShare ratingCount } }";
    assert_eq!(
        app.gql(world.resident_a.token(), proposal, json!({"p": p}))
            .await
            .data()["proposal"]["status"],
        "PASSED"
    );

    let done = "mutation($p: ID!) { markProposalDone(proposalId: $p) { status } }";
    app.gql(world.resident_a.token(), done, json!({"p": p}))
        .await
        .expect_error("FORBIDDEN");
    assert_eq!(
        app.gql(world.staff_a.token(), done, json!({"p": p}))
            .await
            .data()["markProposalDone"]["status"],
        "DONE"
    );
    app.gql(world.staff_a.token(), done, json!({"p": p}))
        .await
        .expect_error("INVALID_STATE");

    let rate = "mutation($p: ID!, $s: Int!) { rateProposal(proposalId: $p, score: $s, comment: \"路灯很亮\") { averageRating ratingCount } }";
    let bad = app
        .gql(world.resident_a.token(), rate, json!({"p": p, "s": 6}))
        .await;
    assert_eq!(
        bad.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "score"
    );
    app.gql(world.resident_a.token(), rate, json!({"p": p, "s": 2}))
        .await
        .data();
    // One rating each, changeable.
    app.gql(world.resident_a.token(), rate, json!({"p": p, "s": 4}))
        .await
        .data();
    let r = app
        .gql(world.staff_a.token(), rate, json!({"p": p, "s": 5}))
        .await;
    let _ = r.data();
    let summary = app
        .gql(world.resident_a.token(), proposal, json!({"p": p}))
        .await;
    let summary = summary.data()["proposal"].clone();
    assert_eq!(summary["ratingCount"], 2);
    assert_eq!(summary["averageRating"], 4.5);
    assert_eq!(summary["satisfactionShare"], 1.0);
    assert_eq!(app.count("SELECT COUNT(*) FROM proposal_rating").await, 2);
}

async fn electorate_is_fixed_at_opening(app: TestApp) {
    let world = app.world().await;
    let p = accepted_proposal(&app, &world, "调整垃圾分类时间").await;
    let b = open(&app, &world, &p, "RESIDENTS", "MAJORITY_OF_CAST", 1, false).await;
    let id = b["id"].as_str().unwrap().to_string();
    assert_eq!(b["electorateSize"], 2);
    // Someone who joins after the ballot opened cannot vote.
    let newcomer = app
        .member(
            world.community_a,
            "新住户",
            &[Role::Resident],
            &world.staff_a,
        )
        .await;
    app.gql(newcomer.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .expect_error("FORBIDDEN");
    let seen = ballot(&app, &newcomer, &id).await;
    assert_eq!(seen["electorateSize"], 2);
    assert_eq!(seen["myVote"]["eligible"], false);
    // Staff cannot record a paper vote for them either.
    let paper = app
        .gql(
            world.staff_a.token(),
            "mutation($b: ID!, $v: ID!) { recordPaperVote(ballotId: $b, voterId: $v, choice: FOR) { id } }",
            json!({"b": id, "v": newcomer.id}),
        )
        .await;
    assert_eq!(
        paper.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "voterId"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM ballot_vote").await, 0);
}

async fn households_vote_once(app: TestApp) {
    let world = app.world().await;
    // Two adults of one household, one of another.
    let a1 = app.applicant(world.community_a, "赵大", "7栋", "701").await;
    let a2 = app.applicant(world.community_a, "赵二", "7栋", "701").await;
    let b1 = app.applicant(world.community_a, "钱一", "7栋", "702").await;
    for p in [&a1, &a2, &b1] {
        api::service::org::approve_membership(
            &app.db,
            &app.actor(world.staff_a.id),
            p.membership_id.unwrap(),
            &[Role::Resident],
        )
        .await
        .map_err(|e| e.message())
        .unwrap();
    }
    let p = accepted_proposal(&app, &world, "楼顶防水维修").await;
    let b = open(&app, &world, &p, "HOUSEHOLDS", "MAJORITY_OF_CAST", 1, false).await;
    let id = b["id"].as_str().unwrap().to_string();
    // staff_a's and resident_a's households (world) + 701 + 702.
    assert_eq!(b["electorateSize"], 4);
    app.gql(a1.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .data();
    // The other adult of the household changes the household's vote.
    let changed = app
        .gql(a2.token(), VOTE, json!({"b": id, "c": "AGAINST"}))
        .await;
    assert_eq!(
        changed.data()["castVote"]["tally"],
        json!({"forCount": 0, "againstCount": 1, "abstainCount": 0, "turnout": 1})
    );
    app.gql(b1.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .data();
    // Both adults voting at once still count once.
    let both = join_all([
        app.gql(a1.token(), VOTE, json!({"b": id, "c": "ABSTAIN"})),
        app.gql(a2.token(), VOTE, json!({"b": id, "c": "ABSTAIN"})),
    ])
    .await;
    assert!(both.iter().all(|r| r.error_code().is_none()));
    let seen = ballot(&app, &a1, &id).await;
    assert_eq!(
        seen["tally"],
        json!({"forCount": 1, "againstCount": 0, "abstainCount": 1, "turnout": 2})
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM ballot_vote").await, 2);
}

async fn secret_ballot_keeps_choices_apart(app: TestApp) {
    let world = app.world().await;
    let voters = bulk_residents(&app, &world, 6).await;
    let p = accepted_proposal(&app, &world, "选举楼栋长").await;
    let b = open(&app, &world, &p, "RESIDENTS", "MAJORITY_OF_CAST", 3, true).await;
    let id = b["id"].as_str().unwrap().to_string();
    let choices = ["FOR", "FOR", "AGAINST", "FOR", "ABSTAIN", "AGAINST"];
    for (voter, choice) in voters.iter().zip(choices) {
        let r = app
            .gql(voter.token(), VOTE, json!({"b": id, "c": choice}))
            .await;
        // While open only turnout is shown.
        let tally = r.data()["castVote"]["tally"].clone();
        assert_eq!(tally["forCount"], Value::Null);
        assert_eq!(tally["againstCount"], Value::Null);
    }
    // A secret vote cannot be changed or repeated: the primary key of
    // ballot_vote refuses it, recognised by its name.
    app.gql(voters[0].token(), VOTE, json!({"b": id, "c": "AGAINST"}))
        .await
        .expect_reason("CONFLICT", "ALREADY_VOTED");
    // No API path shows a choice: not the voter's own, not staff's view.
    for who in [&voters[0], &world.staff_a] {
        let seen = ballot(&app, who, &id).await;
        assert_eq!(seen["tally"]["forCount"], Value::Null);
        assert_eq!(seen["tally"]["turnout"], 6);
        assert_eq!(seen["myVote"]["choice"], Value::Null);
    }
    assert_eq!(ballot(&app, &voters[0], &id).await["myVote"]["voted"], true);
    // Nothing stored links a voter to a choice: no choice on vote rows, no
    // choice in the audit, and the counters are one row per ballot.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ballot_vote WHERE choice IS NOT NULL")
            .await,
        0
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM ballot_vote").await, 6);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ballot_secret_tally").await,
        1
    );
    let audit_with_choice = app
        .count("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'ballot' AND action = 'vote' AND (CAST(after AS TEXT) LIKE '%FOR%' OR CAST(after AS TEXT) LIKE '%AGAINST%' OR CAST(after AS TEXT) LIKE '%ABSTAIN%' OR CAST(after AS TEXT) LIKE '%choice%')")
        .await;
    assert_eq!(audit_with_choice, 0);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE entity_type = 'ballot' AND action = 'vote'"
        )
        .await,
        6
    );
    // After closing the counts are published.
    let closed = app
        .gql(world.staff_a.token(), CLOSE, json!({"b": id}))
        .await;
    assert_eq!(
        closed.data()["closeBallot"]["tally"],
        json!({"forCount": 3, "againstCount": 2, "abstainCount": 1, "turnout": 6})
    );
    // 3 FOR of 6 cast is not more than half.
    assert_eq!(closed.data()["closeBallot"]["passed"], false);
}

async fn paper_and_online_votes_exclude_each_other(app: TestApp) {
    let world = app.world().await;
    let p = accepted_proposal(&app, &world, "开设老年食堂").await;
    let b = open(&app, &world, &p, "RESIDENTS", "MAJORITY_OF_CAST", 1, false).await;
    let id = b["id"].as_str().unwrap().to_string();
    let paper = "mutation($b: ID!, $v: ID!, $c: Choice!) { recordPaperVote(ballotId: $b, voterId: $v, choice: $c) { tally { forCount turnout } } }";
    app.gql(
        world.resident_a.token(),
        paper,
        json!({"b": id, "v": world.staff_a.id, "c": "FOR"}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(
        world.staff_a.token(),
        paper,
        json!({"b": id, "v": world.resident_a.id, "c": "FOR"}),
    )
    .await
    .data();
    // The voter cannot also vote online.
    app.gql(
        world.resident_a.token(),
        VOTE,
        json!({"b": id, "c": "AGAINST"}),
    )
    .await
    .expect_error("CONFLICT");
    let seen = ballot(&app, &world.resident_a, &id).await;
    assert_eq!(seen["myVote"]["method"], "PAPER");
    assert_eq!(seen["tally"]["forCount"], 1);
    // Nor the reverse: staff voted online, so no paper vote for them.
    app.gql(world.staff_a.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .data();
    app.gql(
        world.staff_a.token(),
        paper,
        json!({"b": id, "v": world.staff_a.id, "c": "AGAINST"}),
    )
    .await
    .expect_error("CONFLICT");
    assert_eq!(
        ballot(&app, &world.staff_a, &id).await["tally"]["forCount"],
        2
    );
    // The paper vote is traceable: marked PAPER, the staff member in the audit.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ballot_vote WHERE method = 'PAPER'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'paper_vote' AND on_behalf_of IS NOT NULL AND actor_id IS NOT NULL").await, 1);
}

async fn proxy_votes(app: TestApp) {
    let world = app.world().await;
    let people = bulk_residents(&app, &world, 3).await;
    let p = accepted_proposal(&app, &world, "设置宠物活动区").await;
    let b = open(&app, &world, &p, "RESIDENTS", "MAJORITY_OF_CAST", 1, false).await;
    let id = b["id"].as_str().unwrap().to_string();
    let grant =
        "mutation($b: ID!, $h: ID!) { grantProxy(ballotId: $b, holderId: $h) { id status } }";
    let revoke = "mutation($x: ID!) { revokeProxy(proxyId: $x) { status } }";
    let by_proxy = "mutation($b: ID!, $c: Choice!, $o: ID!) { castVote(ballotId: $b, choice: $c, onBehalfOf: $o) { tally { forCount againstCount turnout } } }";
    app.gql(
        people[0].token(),
        grant,
        json!({"b": id, "h": people[0].id}),
    )
    .await
    .expect_error("BAD_USER_INPUT");
    let g = app
        .gql(
            people[0].token(),
            grant,
            json!({"b": id, "h": people[2].id}),
        )
        .await;
    let proxy0 = g.data()["grantProxy"]["id"].as_str().unwrap().to_string();
    // The holder already holds one (the community's limit is 1).
    app.gql(
        people[1].token(),
        grant,
        json!({"b": id, "h": people[2].id}),
    )
    .await
    .expect_error("CONFLICT");
    // The principal no longer votes themself while the proxy stands.
    app.gql(people[0].token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .expect_reason("CONFLICT", "PROXY_GIVEN");
    // Someone not authorised cannot vote for them.
    app.gql(
        people[1].token(),
        by_proxy,
        json!({"b": id, "c": "FOR", "o": people[0].id}),
    )
    .await
    .expect_error("FORBIDDEN");
    let voted = app
        .gql(
            people[2].token(),
            by_proxy,
            json!({"b": id, "c": "AGAINST", "o": people[0].id}),
        )
        .await;
    assert_eq!(voted.data()["castVote"]["tally"]["againstCount"], 1);
    // Used: no longer revocable.
    app.gql(people[0].token(), revoke, json!({"x": proxy0}))
        .await
        .expect_error("INVALID_STATE");
    // A second grant and its revocation.
    let g = app
        .gql(
            people[1].token(),
            grant,
            json!({"b": id, "h": world.resident_a.id}),
        )
        .await;
    let proxy1 = g.data()["grantProxy"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.gql(people[1].token(), revoke, json!({"x": proxy1}))
            .await
            .data()["revokeProxy"]["status"],
        "REVOKED"
    );
    app.gql(
        world.resident_a.token(),
        by_proxy,
        json!({"b": id, "c": "FOR", "o": people[1].id}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(people[1].token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .data();
    let seen = ballot(&app, &people[0], &id).await;
    assert_eq!(seen["myVote"]["method"], "PROXY");
    assert_eq!(
        seen["tally"],
        json!({"forCount": 1, "againstCount": 1, "abstainCount": 0, "turnout": 2})
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'ballot_proxy'")
            .await,
        3
    );
}

/// Covenant adoption by ballot is tested end to end in tests/covenant.rs.
async fn covenant_ballot_on_an_unknown_version_is_not_found(app: TestApp) {
    let world = app.world().await;
    let closes = (Utc::now() + Duration::days(3)).to_rfc3339();
    let r = app
        .gql(
            world.staff_a.token(),
            "mutation($v: ID!, $c: DateTime!) { openBallot(covenantVersionId: $v, electorate: RESIDENTS, passRule: MAJORITY_OF_CAST, quorum: 1, secret: false, closesAt: $c) { id } }",
            json!({"v": Uuid::now_v7(), "c": closes}),
        )
        .await;
    r.expect_error("NOT_FOUND");
}

async fn council_ballot(app: TestApp) {
    let world = app.world().await;
    let m1 = app
        .member(
            world.community_a,
            "议事员甲",
            &[Role::Resident, Role::CouncilMember],
            &world.staff_a,
        )
        .await;
    let m2 = app
        .member(
            world.community_a,
            "议事员乙",
            &[Role::Resident, Role::CouncilMember],
            &world.staff_a,
        )
        .await;
    app.gql(
        world.staff_a.token(),
        "mutation($c: ID!, $m: [ID!]!) { createCouncil(communityId: $c, name: \"小巷议事厅\", memberIds: $m) { id } }",
        json!({"c": world.community_a, "m": [m1.id, m2.id]}),
    )
    .await
    .data();
    let p = accepted_proposal(&app, &world, "小巷路面修补").await;
    let b = open(
        &app,
        &world,
        &p,
        "COUNCIL",
        "TWO_THIRDS_OF_ELECTORATE",
        2,
        false,
    )
    .await;
    assert_eq!(b["electorateSize"], 2);
    let id = b["id"].as_str().unwrap().to_string();
    app.gql(world.resident_a.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .expect_error("FORBIDDEN");
    app.gql(m1.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .data();
    app.gql(m2.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .data();
    let closed = app
        .gql(world.staff_a.token(), CLOSE, json!({"b": id}))
        .await;
    assert_eq!(closed.data()["closeBallot"]["passed"], true);
}

async fn closes_on_time_without_a_request(app: TestApp) {
    let world = app.world().await;
    let p = accepted_proposal(&app, &world, "夜间施工限制").await;
    let closes_at = Utc::now() + Duration::seconds(2);
    let b = app
        .gql(
            world.staff_a.token(),
            OPEN,
            json!({"p": p, "e": "RESIDENTS", "r": "MAJORITY_OF_CAST", "q": 2, "s": false, "c": closes_at.to_rfc3339()}),
        )
        .await;
    let id = b.data()["openBallot"]["id"].as_str().unwrap().to_string();
    let vote = app
        .gql(world.resident_a.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await;
    if vote.error_code().is_some() {
        // A machine slow enough to take two seconds for one request: the
        // ballot had closed, which is refused; the turnout is then 0, and
        // what follows holds all the same.
        vote.expect_error("INVALID_STATE");
        assert!(Utc::now() >= closes_at);
    }
    let seen = linli::wait_until("the ballot to close by itself", || async {
        let seen = ballot(&app, &world.resident_a, &id).await;
        (seen["status"] == "CLOSED").then_some(seen)
    })
    .await;
    // Turnout 1 misses the quorum of 2: the result does not count.
    assert_eq!(seen["quorumMet"], false);
    assert_eq!(seen["passed"], false);
    assert_eq!(seen["proposal"]["status"], "FAILED");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ballot_result_notice").await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'ballot' AND action = 'close' AND actor_id IS NULL").await,
        1
    );
    // The outbox is drained by the same task.
    linli::wait_until("the outbox to be drained", || async {
        let pending = app
            .count("SELECT COUNT(*) FROM notification_outbox WHERE status = 'PENDING'")
            .await;
        (pending == 0).then_some(())
    })
    .await;
}

/// 500 voters vote at once (50 of them twice), then 100 change their vote
/// at once: the totals are exact.
async fn many_voters_at_once(app: TestApp) {
    let world = app.world().await;
    let voters = bulk_residents(&app, &world, 500).await;
    let p = accepted_proposal(&app, &world, "全体居民表决：增设电动车棚").await;
    let b = open(
        &app,
        &world,
        &p,
        "RESIDENTS",
        "MAJORITY_OF_CAST",
        100,
        false,
    )
    .await;
    assert_eq!(b["electorateSize"], 502);
    let id = b["id"].as_str().unwrap().to_string();
    let choice = |i: usize| ["FOR", "AGAINST", "ABSTAIN"][i % 3];
    let app = &app;
    let requests = voters
        .iter()
        .enumerate()
        .chain(voters.iter().enumerate().take(50))
        .map(|(i, v)| {
            let id = id.clone();
            async move {
                app.gql(v.token(), VOTE, json!({"b": id, "c": choice(i)}))
                    .await
            }
        });
    let answers = futures_util::stream::iter(requests)
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let failed: Vec<_> = answers
        .iter()
        .filter(|r| r.error_code().is_some())
        .map(|r| r.body.clone())
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    // Voters 0..100 change to ABSTAIN at once.
    let changes = voters.iter().take(100).map(|v| {
        let id = id.clone();
        async move {
            app.gql(v.token(), VOTE, json!({"b": id, "c": "ABSTAIN"}))
                .await
        }
    });
    let answers = futures_util::stream::iter(changes)
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    assert!(answers.iter().all(|r| r.error_code().is_none()));
    let (mut f, mut a, mut x) = (0, 0, 0);
    for i in 0..500 {
        match if i < 100 { "ABSTAIN" } else { choice(i) } {
            "FOR" => f += 1,
            "AGAINST" => a += 1,
            _ => x += 1,
        }
    }
    let seen = ballot(app, &world.staff_a, &id).await;
    assert_eq!(
        seen["tally"],
        json!({"forCount": f, "againstCount": a, "abstainCount": x, "turnout": 500})
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM ballot_vote").await, 500);
}

/// 300 voters vote at once on a secret ballot, 30 of them twice: each counts once.
async fn many_secret_voters_at_once(app: TestApp) {
    let world = app.world().await;
    let voters = bulk_residents(&app, &world, 300).await;
    let p = accepted_proposal(&app, &world, "不记名表决：物业续聘").await;
    let b = open(&app, &world, &p, "RESIDENTS", "MAJORITY_OF_CAST", 1, true).await;
    let id = b["id"].as_str().unwrap().to_string();
    let choice = |i: usize| ["FOR", "AGAINST", "FOR", "ABSTAIN"][i % 4];
    let app = &app;
    let requests = voters
        .iter()
        .enumerate()
        .chain(voters.iter().enumerate().take(30))
        .map(|(i, v)| {
            let id = id.clone();
            async move {
                app.gql(v.token(), VOTE, json!({"b": id, "c": choice(i)}))
                    .await
            }
        });
    let answers = futures_util::stream::iter(requests)
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let ok = answers.iter().filter(|r| r.error_code().is_none()).count();
    let conflicts = answers
        .iter()
        .filter(|r| r.error_code().as_deref() == Some("CONFLICT"))
        .count();
    assert_eq!((ok, conflicts), (300, 30));
    let closed = app
        .gql(world.staff_a.token(), CLOSE, json!({"b": id}))
        .await;
    assert_eq!(
        closed.data()["closeBallot"]["tally"],
        json!({"forCount": 150, "againstCount": 75, "abstainCount": 75, "turnout": 300})
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ballot_vote WHERE choice IS NOT NULL")
            .await,
        0
    );
}

/// A ballot opened for later is SCHEDULED: nobody votes yet, and its
/// electorate is fixed when the clock opens it (a member who joined in
/// between is in it; one who joins after is not).
async fn scheduled_ballot_opens_on_time(app: TestApp) {
    let world = app.world().await;
    let p = accepted_proposal(&app, &world, "定时开启的表决").await;
    // Far enough ahead that the steps before the opening (a refused vote,
    // a new member) are done by then even on a slow machine.
    let opens = (Utc::now() + Duration::seconds(8)).to_rfc3339();
    let closes = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let b = app
        .gql(
            world.staff_a.token(),
            "mutation($p: ID!, $o: DateTime!, $c: DateTime!) { openBallot(proposalId: $p, electorate: RESIDENTS, passRule: MAJORITY_OF_CAST, quorum: 1, secret: false, opensAt: $o, closesAt: $c) { id status electorateSize } }",
            json!({"p": p, "o": opens, "c": closes}),
        )
        .await;
    let b = b.data()["openBallot"].clone();
    assert_eq!(b["status"], "SCHEDULED");
    assert_eq!(b["electorateSize"], 0);
    let id = b["id"].as_str().unwrap().to_string();
    app.gql(world.resident_a.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .expect_reason("INVALID_STATE", "BALLOT_NOT_OPEN");
    let early = app
        .member(
            world.community_a,
            "开票前入住",
            &[Role::Resident],
            &world.staff_a,
        )
        .await;
    let seen = linli::wait_until("the ballot to open by itself", || async {
        let seen = ballot(&app, &world.resident_a, &id).await;
        (seen["status"] == "OPEN").then_some(seen)
    })
    .await;
    assert_eq!(seen["electorateSize"], 3);
    let late = app
        .member(
            world.community_a,
            "开票后入住",
            &[Role::Resident],
            &world.staff_a,
        )
        .await;
    app.gql(early.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .data();
    app.gql(late.token(), VOTE, json!({"b": id, "c": "FOR"}))
        .await
        .expect_error("FORBIDDEN");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM notification_outbox WHERE event = 'BALLOT_OPENED'")
            .await,
        1
    );
}

/// A sender that always fails: the notification stays PENDING with the
/// error, leased against an immediate retry, and is not lost.
struct FailingSender;

impl api::service::consultation::outbox::Sender for FailingSender {
    async fn send(
        &self,
        _item: &entity::consultation::notification_outbox::Model,
    ) -> Result<(), String> {
        Err("微信接口不可用".into())
    }
}

/// SQLite only: the outbox's lease is the same SQL on both back ends, and
/// this test needs a database with no server (no draining task) on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_keeps_what_could_not_be_sent() {
    // A database of its own, with no server (and so no draining task) on it.
    let dir = tempfile::tempdir().unwrap();
    let db = api::db::connect_url(
        &format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("outbox.db").display()
        ),
        2,
    )
    .await
    .unwrap();
    api::db::migrate(&db).await.unwrap();
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            use sea_orm::ConnectionTrait;
            db.query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap()
        }
    };
    api::service::consultation::outbox::enqueue(
        &db,
        Uuid::now_v7(),
        "BALLOT_OPENED",
        json!({"test": true}),
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    let sent = api::service::consultation::outbox::drain(&db, &FailingSender)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(sent, 0);
    assert_eq!(
        count("SELECT COUNT(*) FROM notification_outbox WHERE status = 'PENDING' AND attempts = 1 AND last_error IS NOT NULL AND locked_until IS NOT NULL").await,
        1
    );
    // Leased: not retried at once, by this drain or another replica's.
    let again = api::service::consultation::outbox::drain(&db, &FailingSender)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert_eq!(again, 0);
    assert_eq!(
        count("SELECT COUNT(*) FROM notification_outbox WHERE attempts = 1").await,
        1
    );
    // Once the lease runs out, the next drain delivers it.
    sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        "UPDATE notification_outbox SET locked_until = NULL",
    )
    .await
    .unwrap();
    let delivered = api::service::consultation::outbox::drain(
        &db,
        &api::service::consultation::outbox::LogSender,
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    assert_eq!(delivered, 1);
    assert_eq!(
        count("SELECT COUNT(*) FROM notification_outbox WHERE status = 'SENT' AND attempts = 2")
            .await,
        1
    );
}

backend_tests!(
    open_ballot_votes_change_and_close,
    passing_then_done_and_rated,
    electorate_is_fixed_at_opening,
    households_vote_once,
    secret_ballot_keeps_choices_apart,
    paper_and_online_votes_exclude_each_other,
    proxy_votes,
    covenant_ballot_on_an_unknown_version_is_not_found,
    council_ballot,
    closes_on_time_without_a_request,
    many_voters_at_once,
    many_secret_voters_at_once,
    scheduled_ballot_opens_on_time,
);
