//! Consultation end to end (DESIGN §4): proposals and seconding, review,
//! merging, comments, councils and meetings, evaluation and settings.
//! Ballots are in tests/consultation_ballots.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use api::policy::Role;
use chrono::{Duration, Utc};
use futures_util::future::join_all;
use linli::world::Person;
use linli::{TestApp, World, backend_tests};
use serde_json::{Value, json};

const SUBMIT: &str = "mutation($c: ID!, $t: String!, $d: String!) { submitProposal(communityId: $c, title: $t, description: $d) { id status secondCount } }";
const SECOND: &str =
    "mutation($p: ID!) { secondProposal(proposalId: $p) { id status secondCount } }";
const ACCEPT: &str = "mutation($p: ID!) { acceptProposal(proposalId: $p) { id status } }";
const PROPOSAL: &str = "query($p: ID!) { proposal(id: $p) { id status secondCount title rejectReason mergedInto { id } averageRating satisfactionShare ratingCount } }";

async fn set_threshold(app: &TestApp, world: &World, kind: &str, value: i32) {
    app.gql(
        world.staff_a.token(),
        "mutation($c: ID!, $k: SecondingKind!, $v: Int!) { updateConsultationSettings(communityId: $c, secondingKind: $k, secondingValue: $v) { secondingKind secondingValue } }",
        json!({"c": world.community_a, "k": kind, "v": value}),
    )
    .await
    .data();
}

async fn submit(app: &TestApp, world: &World, author: &Person, title: &str) -> String {
    let data = app
        .gql(
            author.token(),
            SUBMIT,
            json!({"c": world.community_a, "t": title, "d": "楼道堆物影响消防通道，建议统一清理"}),
        )
        .await;
    data.data()["submitProposal"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn proposal(app: &TestApp, token: Option<&str>, id: &str) -> Value {
    app.gql(token, PROPOSAL, json!({"p": id})).await.data()["proposal"].clone()
}

async fn proposal_lifecycle(app: TestApp) {
    let world = app.world().await;
    // Residents cannot change the threshold; staff can.
    app.gql(
        world.resident_a.token(),
        "mutation($c: ID!) { updateConsultationSettings(communityId: $c, secondingKind: RESIDENTS, secondingValue: 1) { secondingValue } }",
        json!({"c": world.community_a}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(
        world.staff_a.token(),
        "mutation($c: ID!) { updateConsultationSettings(communityId: $c, secondingKind: HOUSEHOLD_PERCENT, secondingValue: 150) { secondingValue } }",
        json!({"c": world.community_a}),
    )
    .await
    .expect_error("BAD_USER_INPUT");
    set_threshold(&app, &world, "RESIDENTS", 2).await;
    let others = app.residents(&world, 3).await;

    // Bad input writes nothing.
    let bad = app
        .gql(
            world.resident_a.token(),
            SUBMIT,
            json!({"c": world.community_a, "t": "  ", "d": "内容"}),
        )
        .await;
    assert_eq!(
        bad.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "title"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM proposal").await, 0);
    // A grid worker (no RESIDENT role) cannot propose; an outsider neither.
    app.gql(
        world.grid_a.token(),
        SUBMIT,
        json!({"c": world.community_a, "t": "标题", "d": "内容"}),
    )
    .await
    .expect_error("FORBIDDEN");

    let id = submit(&app, &world, &world.resident_a, "清理楼道堆物").await;
    // The author may edit until the first second.
    let edited = app
        .gql(
            world.resident_a.token(),
            "mutation($p: ID!) { editProposal(proposalId: $p, title: \"清理3栋楼道堆物\", description: \"具体说明\") { title } }",
            json!({"p": id}),
        )
        .await;
    assert_eq!(edited.data()["editProposal"]["title"], "清理3栋楼道堆物");
    app.gql(
        others[0].token(),
        "mutation($p: ID!) { editProposal(proposalId: $p, title: \"别人改\", description: \"x\") { title } }",
        json!({"p": id}),
    )
    .await
    .expect_error("FORBIDDEN");

    // Never by the author; once each.
    app.gql(world.resident_a.token(), SECOND, json!({"p": id}))
        .await
        .expect_reason("INVALID_STATE", "OWN_PROPOSAL");
    let first = app.gql(others[0].token(), SECOND, json!({"p": id})).await;
    assert_eq!(first.data()["secondProposal"]["secondCount"], 1);
    assert_eq!(first.data()["secondProposal"]["status"], "SUBMITTED");
    // Refused by the primary key of proposal_second, recognised by its name.
    app.gql(others[0].token(), SECOND, json!({"p": id}))
        .await
        .expect_reason("CONFLICT", "ALREADY_SECONDED");
    assert_eq!(app.count("SELECT COUNT(*) FROM proposal_second").await, 1);
    app.gql(
        world.resident_a.token(),
        "mutation($p: ID!) { editProposal(proposalId: $p, title: \"再改\", description: \"x\") { title } }",
        json!({"p": id}),
    )
    .await
    .expect_error("INVALID_STATE");

    // Staff cannot accept before the threshold.
    app.gql(world.staff_a.token(), ACCEPT, json!({"p": id}))
        .await
        .expect_error("INVALID_STATE");
    let second = app.gql(others[1].token(), SECOND, json!({"p": id})).await;
    assert_eq!(second.data()["secondProposal"]["status"], "ELIGIBLE");

    // Another community's staff see nothing; a resident may not accept.
    let denied = app
        .gql(world.staff_b.token(), ACCEPT, json!({"p": id}))
        .await;
    assert!(matches!(
        denied.error_code().as_deref(),
        Some("FORBIDDEN" | "NOT_FOUND")
    ));
    app.gql(world.resident_a.token(), ACCEPT, json!({"p": id}))
        .await
        .expect_error("FORBIDDEN");
    let accepted = app
        .gql(world.staff_a.token(), ACCEPT, json!({"p": id}))
        .await;
    assert_eq!(accepted.data()["acceptProposal"]["status"], "ACCEPTED");
    app.gql(world.staff_a.token(), ACCEPT, json!({"p": id}))
        .await
        .expect_error("INVALID_STATE");
    // No more seconds once accepted.
    app.gql(others[2].token(), SECOND, json!({"p": id}))
        .await
        .expect_reason("INVALID_STATE", "SECONDING_CLOSED");

    // Rejecting needs a reason; a rejected proposal stays rejected.
    let other = submit(&app, &world, &others[2], "增设快递柜").await;
    let reject = "mutation($p: ID!, $r: String!) { rejectProposal(proposalId: $p, reason: $r) { status rejectReason } }";
    let no_reason = app
        .gql(world.staff_a.token(), reject, json!({"p": other, "r": " "}))
        .await;
    assert_eq!(
        no_reason.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "reason"
    );
    assert_eq!(
        proposal(&app, world.staff_a.token(), &other).await["status"],
        "SUBMITTED"
    );
    let rejected = app
        .gql(
            world.staff_a.token(),
            reject,
            json!({"p": other, "r": "属于物业职责，已转交物业"}),
        )
        .await;
    assert_eq!(rejected.data()["rejectProposal"]["status"], "REJECTED");
    app.gql(world.staff_a.token(), ACCEPT, json!({"p": other}))
        .await
        .expect_error("INVALID_STATE");

    // Every transition is audited: edit, two seconds, eligible, accept (of
    // the first proposal), submit ×2 and reject.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE entity_type = 'proposal' \
             AND action IN ('edit', 'second', 'eligible', 'accept')"
        )
        .await,
        5
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'proposal'")
            .await,
        8
    );
}

async fn merging_carries_seconds_over(app: TestApp) {
    let world = app.world().await;
    set_threshold(&app, &world, "RESIDENTS", 4).await;
    let people = app.residents(&world, 4).await;
    let target = submit(&app, &world, &world.resident_a, "加装电梯").await;
    let source = submit(&app, &world, &people[0], "老楼加装电梯").await;
    // people[1] seconds both; people[2] only the source.
    for (who, p) in [
        (&people[1], &target),
        (&people[1], &source),
        (&people[2], &source),
    ] {
        app.gql(who.token(), SECOND, json!({"p": p})).await.data();
    }
    let merge = "mutation($p: ID!, $i: ID!) { mergeProposal(proposalId: $p, intoProposalId: $i) { status mergedInto { id } } }";
    app.gql(
        world.resident_a.token(),
        merge,
        json!({"p": source, "i": target}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(
        world.staff_a.token(),
        merge,
        json!({"p": source, "i": source}),
    )
    .await
    .expect_error("BAD_USER_INPUT");
    let merged = app
        .gql(
            world.staff_a.token(),
            merge,
            json!({"p": source, "i": target}),
        )
        .await;
    assert_eq!(merged.data()["mergeProposal"]["status"], "MERGED");
    assert_eq!(merged.data()["mergeProposal"]["mergedInto"]["id"], target);
    // target: people[1] (already), people[2] (carried), people[0] (the source's author) = 3.
    let after = proposal(&app, world.resident_a.token(), &target).await;
    assert_eq!(after["secondCount"], 3);
    assert_eq!(after["status"], "SUBMITTED");
    // One more second reaches the threshold of 4.
    let last = app
        .gql(people[3].token(), SECOND, json!({"p": target}))
        .await;
    assert_eq!(last.data()["secondProposal"]["status"], "ELIGIBLE");
    // A merged proposal cannot be merged again or seconded.
    app.gql(
        world.staff_a.token(),
        merge,
        json!({"p": source, "i": target}),
    )
    .await
    .expect_error("INVALID_STATE");
    app.gql(people[3].token(), SECOND, json!({"p": source}))
        .await
        .expect_error("INVALID_STATE");
}

/// A resident in their own household (building 5, the given room).
async fn resident_in_room(app: &TestApp, world: &World, name: &str, room: &str) -> Person {
    let person = app.applicant(world.community_a, name, "5栋", room).await;
    api::service::org::approve_membership(
        &app.db,
        &app.actor(world.staff_a.id),
        person.membership_id.unwrap(),
        &[Role::Resident],
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    person
}

async fn household_share_threshold(app: TestApp) {
    let world = app.world().await;
    set_threshold(&app, &world, "HOUSEHOLD_PERCENT", 50).await;
    let people = [
        resident_in_room(&app, &world, "王一", "501").await,
        resident_in_room(&app, &world, "王二", "502").await,
        resident_in_room(&app, &world, "王三", "503").await,
        // Same household as 王三: their second adds no household.
        resident_in_room(&app, &world, "王三家属", "503").await,
    ];
    let households = app
        .count(
            "SELECT COUNT(DISTINCT m.household_id) FROM membership m JOIN region r ON r.id = m.community_id \
             WHERE m.status = 'ACTIVE' AND r.name = '甲社区'",
        )
        .await;
    let id = submit(&app, &world, &world.resident_a, "小区绿化").await;
    let mut seconding_households = 0;
    for (i, who) in people.iter().enumerate() {
        if i < 3 {
            seconding_households += 1;
        }
        let r = app.gql(who.token(), SECOND, json!({"p": id})).await;
        let expected = if seconding_households * 100 >= 50 * households {
            "ELIGIBLE"
        } else {
            "SUBMITTED"
        };
        assert_eq!(
            r.data()["secondProposal"]["status"],
            expected,
            "after {} seconds of {households} households",
            i + 1
        );
    }
    // The world's three households plus the three here.
    assert!(households >= 6);
    assert_eq!(
        proposal(&app, world.resident_a.token(), &id).await["secondCount"],
        4
    );
}

async fn concurrent_seconds_count_exactly(app: TestApp) {
    let world = app.world().await;
    set_threshold(&app, &world, "RESIDENTS", 25).await;
    let people = app.residents(&world, 30).await;
    let id = submit(&app, &world, &world.resident_a, "增设充电桩").await;
    // Everyone seconds at once, and the first ten twice.
    let requests = people
        .iter()
        .chain(people.iter().take(10))
        .map(|p| app.gql(p.token(), SECOND, json!({"p": id})));
    let answers = join_all(requests).await;
    let ok = answers.iter().filter(|r| r.error_code().is_none()).count();
    let conflicts = answers
        .iter()
        .filter(|r| r.error_code().as_deref() == Some("CONFLICT"))
        .count();
    assert_eq!((ok, conflicts), (30, 10));
    let after = proposal(&app, world.resident_a.token(), &id).await;
    assert_eq!(after["secondCount"], 30);
    assert_eq!(after["status"], "ELIGIBLE");
    assert_eq!(app.count("SELECT COUNT(*) FROM proposal_second").await, 30);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'eligible'")
            .await,
        1
    );
}

async fn comments_hiding_and_reports(app: TestApp) {
    let world = app.world().await;
    let id = submit(&app, &world, &world.resident_a, "公共区域禁烟").await;
    let comment = "mutation($p: ID!, $b: String!, $parent: ID) { commentProposal(proposalId: $p, body: $b, parentId: $parent) { id body parentId } }";
    let c1 = app
        .gql(
            world.staff_a.token(),
            comment,
            json!({"p": id, "b": "支持，建议加装提示牌"}),
        )
        .await;
    let c1 = c1.data()["commentProposal"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = app
        .gql(
            world.resident_a.token(),
            comment,
            json!({"p": id, "b": "谢谢，同意", "parent": c1}),
        )
        .await;
    assert_eq!(reply.data()["commentProposal"]["parentId"], c1);
    app.gql(world.resident_a.token(), comment, json!({"p": id, "b": ""}))
        .await
        .expect_error("BAD_USER_INPUT");
    app.gql(
        world.resident_b.token(),
        comment,
        json!({"p": id, "b": "外人"}),
    )
    .await
    .error_code()
    .expect("another community's resident cannot comment");

    let report =
        "mutation($c: ID!) { reportComment(commentId: $c, reason: \"广告\") { reportCount } }";
    app.gql(world.resident_a.token(), report, json!({"c": c1}))
        .await
        .data();
    app.gql(world.resident_a.token(), report, json!({"c": c1}))
        .await
        .expect_error("CONFLICT");
    let hide = "mutation($c: ID!) { hideComment(commentId: $c, reason: \"含广告信息\") { hidden body hiddenReason reportCount } }";
    app.gql(world.resident_a.token(), hide, json!({"c": c1}))
        .await
        .expect_error("FORBIDDEN");
    let hidden = app.gql(world.staff_a.token(), hide, json!({"c": c1})).await;
    assert_eq!(hidden.data()["hideComment"]["hidden"], true);
    assert_eq!(hidden.data()["hideComment"]["reportCount"], 1);
    app.gql(world.staff_a.token(), hide, json!({"c": c1}))
        .await
        .expect_error("INVALID_STATE");

    let thread = "query($p: ID!) { proposal(id: $p) { comments { totalCount edges { node { id hidden body hiddenReason } } } } }";
    let seen = app
        .gql(world.resident_a.token(), thread, json!({"p": id}))
        .await;
    let edges = seen.data()["proposal"]["comments"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edges.len(), 2);
    assert_eq!(edges[0]["node"]["hidden"], true);
    assert_eq!(edges[0]["node"]["body"], Value::Null);
    assert_eq!(edges[0]["node"]["hiddenReason"], Value::Null);
    let staff_seen = app
        .gql(world.staff_a.token(), thread, json!({"p": id}))
        .await;
    assert_eq!(
        staff_seen.data()["proposal"]["comments"]["edges"][0]["node"]["body"],
        "支持，建议加装提示牌"
    );
    // Kept, with the reason, in the audit.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'proposal_comment' AND action = 'hide'")
            .await,
        1
    );
}

pub async fn accepted_proposal(app: &TestApp, world: &World, title: &str) -> String {
    set_threshold(app, world, "RESIDENTS", 1).await;
    let id = submit(app, world, &world.resident_a, title).await;
    app.gql(world.staff_a.token(), SECOND, json!({"p": id}))
        .await
        .data();
    app.gql(world.staff_a.token(), ACCEPT, json!({"p": id}))
        .await
        .data();
    id
}

async fn councils_and_meetings(app: TestApp) {
    let world = app.world().await;
    let members = [
        app.member(
            world.community_a,
            "议事员一",
            &[Role::Resident, Role::CouncilMember],
            &world.staff_a,
        )
        .await,
        app.member(
            world.community_a,
            "议事员二",
            &[Role::Resident, Role::CouncilMember],
            &world.staff_a,
        )
        .await,
        app.member(
            world.community_a,
            "议事员三",
            &[Role::Resident, Role::CouncilMember],
            &world.staff_a,
        )
        .await,
    ];
    let create = "mutation($c: ID!, $n: String!, $m: [ID!]!) { createCouncil(communityId: $c, name: $n, memberIds: $m) { id name members { id } } }";
    let ids: Vec<String> = members.iter().map(|m| m.id.to_string()).collect();
    // Members must be active members of the community.
    let outsider_in = app
        .gql(
            world.staff_a.token(),
            create,
            json!({"c": world.community_a, "n": "红色议事会", "m": [ids[0], world.resident_b.id]}),
        )
        .await;
    assert_eq!(
        outsider_in.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "memberIds"
    );
    app.gql(
        world.resident_a.token(),
        create,
        json!({"c": world.community_a, "n": "红色议事会", "m": ids}),
    )
    .await
    .expect_error("FORBIDDEN");
    let council = app
        .gql(
            world.staff_a.token(),
            create,
            json!({"c": world.community_a, "n": "红色议事会", "m": ids}),
        )
        .await;
    assert_eq!(
        council.data()["createCouncil"]["members"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let council_id = council.data()["createCouncil"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql(
        world.staff_a.token(),
        create,
        json!({"c": world.community_a, "n": "红色议事会", "m": ids}),
    )
    .await
    .expect_error("CONFLICT");

    let topic = accepted_proposal(&app, &world, "小巷停车管理").await;
    let not_accepted = submit(&app, &world, &world.resident_a, "未受理的议题").await;
    let schedule = "mutation($c: ID!, $s: DateTime!, $p: [ID!]!, $q: Int!) { scheduleMeeting(councilId: $c, title: \"三月议事会\", startsAt: $s, proposalIds: $p, quorum: $q, location: \"社区活动室\") { id title attendeeCount quorumMet checkInCode agenda { id } } }";
    let starts = (Utc::now() + Duration::minutes(10)).to_rfc3339();
    let bad_agenda = app
        .gql(
            world.staff_a.token(),
            schedule,
            json!({"c": council_id, "s": starts, "p": [not_accepted], "q": 2}),
        )
        .await;
    assert_eq!(
        bad_agenda.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "proposalIds"
    );
    let bad_quorum = app
        .gql(
            world.staff_a.token(),
            schedule,
            json!({"c": council_id, "s": starts, "p": [topic], "q": 4}),
        )
        .await;
    assert_eq!(
        bad_quorum.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "quorum"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM meeting").await, 0);
    let meeting = app
        .gql(
            world.staff_a.token(),
            schedule,
            json!({"c": council_id, "s": starts, "p": [topic], "q": 2}),
        )
        .await;
    let m = meeting.data()["scheduleMeeting"].clone();
    assert_eq!(m["agenda"][0]["id"], topic);
    assert_eq!(m["quorumMet"], false);
    let code = m["checkInCode"].as_str().unwrap().to_string();
    let meeting_id = m["id"].as_str().unwrap().to_string();

    // Members do not see the code; staff do.
    let as_member = app
        .gql(
            members[0].token(),
            "query($m: ID!) { meeting(id: $m) { checkInCode minutes } }",
            json!({"m": meeting_id}),
        )
        .await;
    assert_eq!(as_member.data()["meeting"]["checkInCode"], Value::Null);

    let check_in = "mutation($m: ID!, $code: String, $u: ID) { checkInMeeting(meetingId: $m, code: $code, userId: $u) { attendeeCount quorumMet } }";
    app.gql(
        members[0].token(),
        check_in,
        json!({"m": meeting_id, "code": "000000x"}),
    )
    .await
    .expect_error("BAD_USER_INPUT");
    // Not a council member.
    app.gql(
        world.resident_a.token(),
        check_in,
        json!({"m": meeting_id, "code": code}),
    )
    .await
    .expect_error("FORBIDDEN");
    let one = app
        .gql(
            members[0].token(),
            check_in,
            json!({"m": meeting_id, "code": code}),
        )
        .await;
    assert_eq!(one.data()["checkInMeeting"]["attendeeCount"], 1);
    // Twice is harmless.
    let again = app
        .gql(
            members[0].token(),
            check_in,
            json!({"m": meeting_id, "code": code}),
        )
        .await;
    assert_eq!(again.data()["checkInMeeting"]["attendeeCount"], 1);
    // A resident cannot check someone in; staff can.
    app.gql(
        members[0].token(),
        check_in,
        json!({"m": meeting_id, "u": members[1].id}),
    )
    .await
    .expect_error("FORBIDDEN");
    let two = app
        .gql(
            world.staff_a.token(),
            check_in,
            json!({"m": meeting_id, "u": members[1].id}),
        )
        .await;
    assert_eq!(two.data()["checkInMeeting"]["attendeeCount"], 2);
    assert_eq!(two.data()["checkInMeeting"]["quorumMet"], true);

    // Valid only around the meeting time.
    let later = (Utc::now() + Duration::days(2)).to_rfc3339();
    let future = app
        .gql(
            world.staff_a.token(),
            schedule,
            json!({"c": council_id, "s": later, "p": [topic], "q": 1}),
        )
        .await;
    let future_id = future.data()["scheduleMeeting"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let future_code = future.data()["scheduleMeeting"]["checkInCode"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql(
        members[2].token(),
        check_in,
        json!({"m": future_id, "code": future_code}),
    )
    .await
    .expect_error("INVALID_STATE");

    // Minutes: not before the start; published ones reach members.
    let minutes = "mutation($m: ID!, $p: Boolean!) { recordMeetingMinutes(meetingId: $m, minutes: \"决定：试行错峰停车\", publish: $p) { minutes } }";
    app.gql(
        world.staff_a.token(),
        minutes,
        json!({"m": future_id, "p": true}),
    )
    .await
    .expect_error("INVALID_STATE");
    let started = (Utc::now() - Duration::minutes(5)).to_rfc3339();
    let now_meeting = app
        .gql(
            world.staff_a.token(),
            schedule,
            json!({"c": council_id, "s": started, "p": [], "q": 1}),
        )
        .await;
    let now_id = now_meeting.data()["scheduleMeeting"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let draft = app
        .gql(
            world.staff_a.token(),
            minutes,
            json!({"m": now_id, "p": false}),
        )
        .await;
    assert_eq!(
        draft.data()["recordMeetingMinutes"]["minutes"],
        "决定：试行错峰停车"
    );
    let read = "query($m: ID!) { meeting(id: $m) { minutes minutesPublishedAt } }";
    let unpublished = app
        .gql(members[0].token(), read, json!({"m": now_id}))
        .await;
    assert_eq!(unpublished.data()["meeting"]["minutes"], Value::Null);
    app.gql(members[0].token(), minutes, json!({"m": now_id, "p": true}))
        .await
        .expect_error("FORBIDDEN");
    app.gql(
        world.staff_a.token(),
        minutes,
        json!({"m": now_id, "p": true}),
    )
    .await
    .data();
    let published = app
        .gql(members[0].token(), read, json!({"m": now_id}))
        .await;
    assert_eq!(published.data()["meeting"]["minutes"], "决定：试行错峰停车");
    // Another community cannot see the meeting.
    let hidden = app
        .gql(world.resident_b.token(), read, json!({"m": now_id}))
        .await;
    assert!(matches!(
        hidden.error_code().as_deref(),
        Some("FORBIDDEN" | "NOT_FOUND")
    ));
    // The outbox has the meetings scheduled.
    assert!(
        app.count("SELECT COUNT(*) FROM notification_outbox WHERE event = 'MEETING_SCHEDULED'")
            .await
            >= 3
    );
}

async fn evaluation_requires_done(app: TestApp) {
    let world = app.world().await;
    let id = accepted_proposal(&app, &world, "修缮健身器材").await;
    let rate = "mutation($p: ID!, $s: Int!) { rateProposal(proposalId: $p, score: $s, comment: \"很好\") { averageRating } }";
    app.gql(world.resident_a.token(), rate, json!({"p": id, "s": 5}))
        .await
        .expect_error("INVALID_STATE");
    app.gql(
        world.staff_a.token(),
        "mutation($p: ID!) { markProposalDone(proposalId: $p) { status } }",
        json!({"p": id}),
    )
    .await
    .expect_error("INVALID_STATE");
    assert_eq!(
        proposal(&app, world.resident_a.token(), &id).await["averageRating"],
        Value::Null
    );
}

backend_tests!(
    proposal_lifecycle,
    merging_carries_seconds_over,
    household_share_threshold,
    concurrent_seconds_count_exactly,
    comments_hiding_and_reports,
    councils_and_meetings,
    evaluation_requires_done,
);
