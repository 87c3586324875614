//! Regions, officers and memberships (DESIGN §2): the region tree, the
//! membership state machine with its refused moves, masking of personal
//! data, the member list, concurrency, the audit trail and the demo seed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use linli::{TestApp, backend_tests};
use serde_json::{Value, json};

const CREATE_REGION: &str = "mutation($n: String!, $k: RegionKind!, $p: ID) { createRegion(name: $n, kind: $k, parentId: $p) { id name kind parent { id kind } } }";

async fn region_tree_rules(app: TestApp) {
    let admin = app.create_user("管理员", true).await;
    let t = admin.token();
    let district = app
        .gql(t, CREATE_REGION, json!({"n": "东城区", "k": "DISTRICT"}))
        .await;
    let district_id = district.data()["createRegion"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let street = app
        .gql(
            t,
            CREATE_REGION,
            json!({"n": "东华门街道", "k": "STREET", "p": district_id}),
        )
        .await;
    let street_id = street.data()["createRegion"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(street.data()["createRegion"]["parent"]["kind"], "DISTRICT");
    let community = app
        .gql(
            t,
            CREATE_REGION,
            json!({"n": "多福巷社区", "k": "COMMUNITY", "p": street_id}),
        )
        .await;
    let community_id = community.data()["createRegion"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The community knows its street and district.
    let read = app
        .gql(None, "query($id: ID!) { community(id: $id) { name street { id name kind } district { name } } }", json!({"id": community_id}))
        .await;
    assert_eq!(read.data()["community"]["street"]["id"], street_id.as_str());
    assert_eq!(read.data()["community"]["district"]["name"], "东城区");
    // A street is not a community.
    let not = app
        .gql(
            None,
            "query($id: ID!) { community(id: $id) { id } }",
            json!({"id": street_id}),
        )
        .await;
    assert_eq!(not.data()["community"], Value::Null);

    let before = app.count("SELECT COUNT(*) FROM region").await;
    // Wrong parents, names and duplicates: refused, nothing written.
    let cases = [
        (
            json!({"n": "x区", "k": "DISTRICT", "p": district_id}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"n": "x街道", "k": "STREET", "p": street_id}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"n": "x社区", "k": "COMMUNITY", "p": district_id}),
            "BAD_USER_INPUT",
        ),
        (json!({"n": "x社区", "k": "COMMUNITY"}), "BAD_USER_INPUT"),
        (json!({"n": "   ", "k": "DISTRICT"}), "BAD_USER_INPUT"),
        (
            json!({"n": "多福巷社区", "k": "COMMUNITY", "p": street_id}),
            "CONFLICT",
        ),
        (
            json!({"n": "y社区", "k": "COMMUNITY", "p": "not-an-id"}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"n": "y社区", "k": "COMMUNITY", "p": uuid::Uuid::now_v7()}),
            "NOT_FOUND",
        ),
    ];
    for (vars, code) in cases {
        app.gql(t, CREATE_REGION, vars.clone())
            .await
            .expect_error(code);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM region").await, before);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'region'")
            .await,
        3
    );

    // The directory pages through children.
    let children = app
        .gql(
            None,
            "query($p: ID) { regions(parentId: $p) { totalCount edges { node { name } } } }",
            json!({"p": district_id}),
        )
        .await;
    assert_eq!(children.data()["regions"]["totalCount"], 1);
}

async fn officers_are_appointed_to_fitting_regions(app: TestApp) {
    let world = app.world().await;
    let appoint = "mutation($r: ID!, $p: String!, $role: RegionRole!, $pw: String) { appointOfficer(regionId: $r, phone: $p, displayName: \"干部\", role: $role, initialPassword: $pw) { id role region { id } } }";
    // A street admin must sit on a street.
    let wrong = app.gql(world.admin.token(), appoint, json!({"r": world.district, "p": "13600000001", "role": "STREET_ADMIN", "pw": "initial-pass"})).await;
    assert_eq!(
        wrong.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "role"
    );
    // A new phone needs an initial password.
    let missing = app
        .gql(
            world.admin.token(),
            appoint,
            json!({"r": world.street_a, "p": "13600000001", "role": "STREET_ADMIN"}),
        )
        .await;
    assert_eq!(
        missing.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "initialPassword"
    );
    let ok = app.gql(world.admin.token(), appoint, json!({"r": world.street_a, "p": "13600000001", "role": "STREET_ADMIN", "pw": "initial-pass"})).await;
    let officer_id = ok.data()["appointOfficer"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The new officer logs in and sees their role.
    let login = app
        .gql(None, "mutation { passwordLogin(phone: \"13600000001\", password: \"initial-pass\") { accessToken } }", json!({}))
        .await;
    let token = login.data()["passwordLogin"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let me = app
        .gql(
            Some(&token),
            "{ me { regionRoles { role region { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(me.data()["me"]["regionRoles"][0]["role"], "STREET_ADMIN");
    // Twice is a conflict; revoking removes the power.
    app.gql(
        world.admin.token(),
        appoint,
        json!({"r": world.street_a, "p": "13600000001", "role": "STREET_ADMIN"}),
    )
    .await
    .expect_error("CONFLICT");
    let create = "mutation($p: ID!) { createRegion(name: \"新社区\", kind: COMMUNITY, parentId: $p) { id } }";
    app.gql(Some(&token), create, json!({"p": world.street_a}))
        .await
        .data();
    app.gql(
        world.admin.token(),
        "mutation($o: ID!) { revokeOfficer(officerId: $o) { id } }",
        json!({"o": officer_id}),
    )
    .await
    .data();
    app.gql(Some(&token), "mutation($p: ID!) { createRegion(name: \"又一社区\", kind: COMMUNITY, parentId: $p) { id } }", json!({"p": world.street_a}))
        .await
        .expect_error("FORBIDDEN");
}

const JOIN: &str = "mutation($c: ID!, $n: String!, $p: String!, $b: String!, $u: String!, $r: String!) { joinCommunity(communityId: $c, realName: $n, phone: $p, building: $b, unit: $u, room: $r) { id status roles realName phone household { building unit room } } }";
const APPROVE: &str = "mutation($m: ID!, $r: [Role!]!) { approveMembership(membershipId: $m, roles: $r) { id status roles } }";
const REJECT: &str = "mutation($m: ID!, $why: String!) { rejectMembership(membershipId: $m, reason: $why) { id status statusReason } }";
const LEAVE: &str = "mutation($c: ID!) { leaveCommunity(communityId: $c) { id status } }";

fn join_vars(community: uuid::Uuid) -> Value {
    json!({"c": community, "n": "王小明", "p": "13912340000", "b": "5栋", "u": "2单元", "r": "503"})
}

async fn membership_state_machine(app: TestApp) {
    let world = app.world().await;
    let newcomer = app.create_user("王小明", false).await;
    let staff = world.staff_a.token();

    let joined = app
        .gql(newcomer.token(), JOIN, join_vars(world.community_a))
        .await;
    let m = joined.data()["joinCommunity"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(joined.data()["joinCommunity"]["status"], "PENDING");
    assert_eq!(joined.data()["joinCommunity"]["household"]["room"], "503");
    // Asking twice is a conflict.
    app.gql(newcomer.token(), JOIN, join_vars(world.community_a))
        .await
        .expect_error("CONFLICT");
    // No roles: refused, still pending.
    let empty = app.gql(staff, APPROVE, json!({"m": m, "r": []})).await;
    assert_eq!(
        empty.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "roles"
    );
    // Approve.
    let approved = app
        .gql(
            staff,
            APPROVE,
            json!({"m": m, "r": ["RESIDENT", "VOLUNTEER"]}),
        )
        .await;
    assert_eq!(approved.data()["approveMembership"]["status"], "ACTIVE");
    assert_eq!(
        approved.data()["approveMembership"]["roles"],
        json!(["RESIDENT", "VOLUNTEER"])
    );
    // Refused moves from ACTIVE: approve again, reject.
    app.gql(staff, APPROVE, json!({"m": m, "r": ["RESIDENT"]}))
        .await
        .expect_error("INVALID_STATE");
    app.gql(staff, REJECT, json!({"m": m, "why": "重复"}))
        .await
        .expect_error("INVALID_STATE");
    // Leave, then ask again.
    let left = app
        .gql(newcomer.token(), LEAVE, json!({"c": world.community_a}))
        .await;
    assert_eq!(left.data()["leaveCommunity"]["status"], "LEFT");
    app.gql(newcomer.token(), LEAVE, json!({"c": world.community_a}))
        .await
        .expect_error("INVALID_STATE");
    app.gql(
        staff,
        "mutation($m: ID!) { removeMember(membershipId: $m, reason: \"x\") { id } }",
        json!({"m": m}),
    )
    .await
    .expect_error("INVALID_STATE");
    let again = app
        .gql(newcomer.token(), JOIN, join_vars(world.community_a))
        .await;
    assert_eq!(
        again.data()["joinCommunity"]["id"],
        m.as_str(),
        "the same membership row"
    );
    assert_eq!(again.data()["joinCommunity"]["status"], "PENDING");
    assert_eq!(
        again.data()["joinCommunity"]["roles"],
        json!([]),
        "roles start afresh"
    );
    // Reject with a reason (a reason is required).
    app.gql(staff, REJECT, json!({"m": m, "why": "  "}))
        .await
        .expect_error("BAD_USER_INPUT");
    let rejected = app
        .gql(staff, REJECT, json!({"m": m, "why": "核实不是本社区住户"}))
        .await;
    assert_eq!(rejected.data()["rejectMembership"]["status"], "REJECTED");
    assert_eq!(
        rejected.data()["rejectMembership"]["statusReason"],
        "核实不是本社区住户"
    );
    app.gql(staff, APPROVE, json!({"m": m, "r": ["RESIDENT"]}))
        .await
        .expect_error("INVALID_STATE");

    // Every move was audited, each but the first join with the state before it.
    let of_this = "entity_type = 'membership' AND entity_id IN (SELECT id FROM membership WHERE real_name = '王小明')";
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM audit_log WHERE {of_this}"))
            .await,
        5,
        "join, approve, leave, join, reject"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE {of_this} AND before IS NULL"
        ))
        .await,
        1
    );
}

async fn join_input_is_checked_and_nothing_written(app: TestApp) {
    let world = app.world().await;
    let newcomer = app.create_user("新人", false).await;
    let before = app.count("SELECT COUNT(*) FROM membership").await;
    let households = app.count("SELECT COUNT(*) FROM household").await;
    let bad = [
        (
            "realName",
            json!({"c": world.community_a, "n": "", "p": "13912340000", "b": "5栋", "u": "2单元", "r": "503"}),
        ),
        (
            "phone",
            json!({"c": world.community_a, "n": "王", "p": "12345", "b": "5栋", "u": "2单元", "r": "503"}),
        ),
        (
            "building",
            json!({"c": world.community_a, "n": "王", "p": "13912340000", "b": " ", "u": "2单元", "r": "503"}),
        ),
        (
            "room",
            json!({"c": world.community_a, "n": "王", "p": "13912340000", "b": "5栋", "u": "2单元", "r": "一二三四五六七八九十一二三四五六七"}),
        ),
        (
            "communityId",
            json!({"c": "nope", "n": "王", "p": "13912340000", "b": "5栋", "u": "2单元", "r": "503"}),
        ),
    ];
    for (field, vars) in bad {
        let response = app.gql(newcomer.token(), JOIN, vars).await;
        assert_eq!(
            response.expect_error("BAD_USER_INPUT")["extensions"]["field"],
            field
        );
    }
    app.gql(newcomer.token(), JOIN, json!({"c": world.street_a, "n": "王", "p": "13912340000", "b": "5栋", "u": "2单元", "r": "503"}))
        .await
        .expect_error("NOT_FOUND");
    app.gql(None, JOIN, join_vars(world.community_a))
        .await
        .expect_error("UNAUTHENTICATED");
    assert_eq!(app.count("SELECT COUNT(*) FROM membership").await, before);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM household").await,
        households
    );
}

const MEMBERS: &str = "query($c: ID!, $s: MembershipStatus, $r: Role, $b: String, $f: Int, $a: String) { members(communityId: $c, status: $s, role: $r, building: $b, first: $f, after: $a) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id realName phone roles status user { id } } } } }";

async fn personal_data_is_masked_except_for_self_and_staff(app: TestApp) {
    let world = app.world().await;
    let find = |body: &Value, name_prefix: &str| -> Value {
        body["members"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .find(|n| n["realName"].as_str().unwrap().starts_with(name_prefix))
            .unwrap()
    };
    let by_staff = app
        .gql(
            world.staff_a.token(),
            MEMBERS,
            json!({"c": world.community_a}),
        )
        .await;
    let zhang = find(by_staff.data(), "张");
    assert_eq!(zhang["realName"], "张三");
    assert_eq!(zhang["phone"], "13912345678");
    for viewer in [&world.grid_a, &world.street_admin_a, &world.admin] {
        let seen = app
            .gql(viewer.token(), MEMBERS, json!({"c": world.community_a}))
            .await;
        let zhang = find(seen.data(), "张");
        if viewer.id == world.admin.id {
            // The platform administrator holds every permission.
            assert_eq!(zhang["realName"], "张三");
        } else {
            assert_eq!(zhang["realName"], "张*");
            assert_eq!(zhang["phone"], "139****5678");
        }
    }
    // The member sees their own details in full.
    let me = app
        .gql(
            world.resident_a.token(),
            "{ me { memberships { realName phone community { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(me.data()["me"]["memberships"][0]["realName"], "张三");
    assert_eq!(me.data()["me"]["memberships"][0]["phone"], "13912345678");
    // Someone else's memberships are not shown through a shared user.
    let other = app
        .gql(
            world.staff_a.token(),
            MEMBERS,
            json!({"c": world.community_a}),
        )
        .await;
    let uid = find(other.data(), "张")["user"]["id"].clone();
    assert_eq!(uid, world.resident_a.id.to_string().as_str());
}

async fn member_list_filters_and_pages_without_repeats(app: TestApp) {
    let world = app.world().await;
    for i in 0..7 {
        app.applicant(
            world.community_a,
            &format!("申请人{i}"),
            if i % 2 == 0 { "7栋" } else { "8栋" },
            &format!("{}", 700 + i),
        )
        .await;
    }
    let staff = world.staff_a.token();
    let pending = app
        .gql(
            staff,
            MEMBERS,
            json!({"c": world.community_a, "s": "PENDING"}),
        )
        .await;
    assert_eq!(pending.data()["members"]["totalCount"], 7);
    let seventh = app
        .gql(staff, MEMBERS, json!({"c": world.community_a, "b": "7栋"}))
        .await;
    assert_eq!(seventh.data()["members"]["totalCount"], 4);
    let grid = app
        .gql(
            staff,
            MEMBERS,
            json!({"c": world.community_a, "r": "GRID_WORKER"}),
        )
        .await;
    assert_eq!(grid.data()["members"]["totalCount"], 1);
    let staff_role = app
        .gql(
            staff,
            MEMBERS,
            json!({"c": world.community_a, "r": "STAFF"}),
        )
        .await;
    assert_eq!(staff_role.data()["members"]["totalCount"], 1);

    // Pages of 3 while new requests arrive: no repeats, no skips of the rows
    // that were there at the start.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut inserted = 0;
    loop {
        let page = app
            .gql(
                staff,
                MEMBERS,
                json!({"c": world.community_a, "f": 3, "a": after}),
            )
            .await;
        let data = page.data()["members"].clone();
        for edge in data["edges"].as_array().unwrap() {
            seen.push(edge["node"]["id"].as_str().unwrap().to_string());
        }
        if inserted < 2 {
            app.applicant(
                world.community_a,
                &format!("后来者{inserted}"),
                "9栋",
                &format!("{}", 900 + inserted),
            )
            .await;
            inserted += 1;
        }
        if data["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = data["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no repeats");
    assert_eq!(
        seen.len(),
        10 + 2,
        "3 world members + 7 applicants + 2 newcomers (ordered by id, newest last)"
    );

    // Bounds and bad cursors.
    let too_many = app
        .gql(staff, MEMBERS, json!({"c": world.community_a, "f": 1000}))
        .await;
    assert_eq!(
        too_many.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "first"
    );
    let junk = app
        .gql(staff, MEMBERS, json!({"c": world.community_a, "a": "junk"}))
        .await;
    assert_eq!(
        junk.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "after"
    );
}

async fn fifty_concurrent_mutations_all_succeed(app: TestApp) {
    let world = app.world().await;
    let mut people = Vec::new();
    for i in 0..50 {
        people.push(app.create_user(&format!("并发{i}"), false).await);
    }
    let joins = people.iter().enumerate().map(|(i, p)| {
        let vars = json!({"c": world.community_a, "n": format!("并发{i}"), "p": "13912340000", "b": "10栋", "u": "1单元", "r": format!("{}", 1000 + i)});
        app.gql(p.token(), JOIN, vars)
    });
    let results = futures_util::future::join_all(joins).await;
    let failures: Vec<_> = results
        .iter()
        .filter(|r| r.error_code().is_some())
        .map(|r| r.body.clone())
        .collect();
    assert!(
        failures.is_empty(),
        "every concurrent join succeeds: {failures:?}"
    );
    let ids: Vec<String> = results
        .iter()
        .map(|r| {
            r.data()["joinCommunity"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // And 50 concurrent approvals.
    let approvals = ids.iter().map(|m| {
        app.gql(
            world.staff_a.token(),
            APPROVE,
            json!({"m": m, "r": ["RESIDENT"]}),
        )
    });
    let results = futures_util::future::join_all(approvals).await;
    assert!(
        results.iter().all(|r| r.error_code().is_none()),
        "every approval succeeds"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM membership WHERE status = 'ACTIVE'")
            .await,
        5 + 50
    );
}

async fn concurrent_decisions_on_one_request_have_one_winner(app: TestApp) {
    let world = app.world().await;
    let applicant = app.applicant(world.community_a, "抢答", "1栋", "111").await;
    let m = applicant.membership_id.unwrap();
    let approve = app.gql(
        world.staff_a.token(),
        APPROVE,
        json!({"m": m, "r": ["RESIDENT"]}),
    );
    let reject = app.gql(
        world.street_admin_a.token(),
        REJECT,
        json!({"m": m, "why": "同时驳回"}),
    );
    let approve2 = app.gql(
        world.admin.token(),
        APPROVE,
        json!({"m": m, "r": ["RESIDENT", "VOLUNTEER"]}),
    );
    let (a, r, a2) = tokio::join!(approve, reject, approve2);
    let winners = [&a, &r, &a2]
        .iter()
        .filter(|x| x.error_code().is_none())
        .count();
    assert_eq!(winners, 1, "{:?} {:?} {:?}", a.body, r.body, a2.body);
    for loser in [&a, &r, &a2].iter().filter(|x| x.error_code().is_some()) {
        loser.expect_error("INVALID_STATE");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'membership' AND action IN ('approve', 'reject') AND entity_id IN (SELECT id FROM membership WHERE real_name = '抢答')").await,
        1
    );
}

/// Members made by the test world live in households of their own, so
/// that tests counting households count what they set up (issue 24: two
/// world members once shared a random room, and a household-share
/// threshold test failed).
async fn world_members_have_households_of_their_own(app: TestApp) {
    let world = app.world().await;
    let extra = app.residents(&world, 20).await;
    assert_eq!(extra.len(), 20);
    let members = app
        .count(
            "SELECT COUNT(*) FROM membership m JOIN region r ON r.id = m.community_id \
             WHERE m.status = 'ACTIVE' AND r.name = '甲社区'",
        )
        .await;
    let households = app
        .count(
            "SELECT COUNT(DISTINCT m.household_id) FROM membership m JOIN region r ON r.id = m.community_id \
             WHERE m.status = 'ACTIVE' AND r.name = '甲社区'",
        )
        .await;
    assert_eq!(members, 3 + 20);
    assert_eq!(households, members);
}

/// People joining one room at the same moment share one household, and
/// every join succeeds (the second insert of the address yields to the
/// first instead of failing).
async fn concurrent_joins_to_one_room_share_one_household(app: TestApp) {
    let world = app.world().await;
    let mut people = Vec::new();
    for i in 0..12 {
        people.push(app.create_user(&format!("同屋{i}"), false).await);
    }
    let joins = people.iter().map(|p| {
        app.gql(
            p.token(),
            "mutation($c: ID!) { joinCommunity(communityId: $c, realName: \"同屋人\", phone: \"13912345678\", building: \"9栋\", unit: \"2单元\", room: \"902\") { id status } }",
            json!({"c": world.community_a}),
        )
    });
    let answers = futures_util::future::join_all(joins).await;
    for answer in &answers {
        assert_eq!(answer.data()["joinCommunity"]["status"], "PENDING");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM household WHERE building = '9栋' AND unit = '2单元' AND room = '902'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(DISTINCT m.household_id) FROM membership m JOIN household h ON h.id = m.household_id WHERE h.room = '902'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM membership m JOIN household h ON h.id = m.household_id WHERE h.room = '902'")
            .await,
        12
    );
}

async fn staff_roles_need_an_officer(app: TestApp) {
    let world = app.world().await;
    let set =
        "mutation($m: ID!, $r: [Role!]!) { setMemberRoles(membershipId: $m, roles: $r) { roles } }";
    // Staff cannot make a resident staff, nor take staff away from staff.
    app.gql(
        world.staff_a.token(),
        set,
        json!({"m": world.resident_a.membership_id, "r": ["RESIDENT", "STAFF"]}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(
        world.staff_a.token(),
        set,
        json!({"m": world.staff_a.membership_id, "r": ["RESIDENT"]}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(
        world.staff_a.token(),
        "mutation($m: ID!) { removeMember(membershipId: $m, reason: \"x\") { id } }",
        json!({"m": world.staff_a.membership_id}),
    )
    .await
    .expect_error("FORBIDDEN");
    // The street officer can.
    let made = app
        .gql(
            world.street_admin_a.token(),
            set,
            json!({"m": world.resident_a.membership_id, "r": ["RESIDENT", "STAFF"]}),
        )
        .await;
    assert_eq!(
        made.data()["setMemberRoles"]["roles"],
        json!(["RESIDENT", "STAFF"])
    );
    // Staff of another community cannot touch this one's members.
    app.gql(
        world.staff_b.token(),
        set,
        json!({"m": world.grid_a.membership_id, "r": ["RESIDENT"]}),
    )
    .await
    .expect_error("FORBIDDEN");
}

async fn demo_seed_gives_working_logins(app: TestApp) {
    let summary = api::seed::seed_demo(&app.db, &app.state.keys)
        .await
        .unwrap();
    assert!(summary.contains("和谐社区"));
    assert_eq!(
        api::seed::seed_demo(&app.db, &app.state.keys)
            .await
            .unwrap(),
        "demo data is already there"
    );
    let login = |phone: &'static str| {
        app.gql(
            None,
            "mutation($p: String!, $w: String!) { passwordLogin(phone: $p, password: $w) { accessToken user { memberships { id community { id name } roles status } } } }",
            json!({"p": phone, "w": api::seed::DEMO_PASSWORD}),
        )
    };
    let staff = login("13800000002").await;
    let membership = staff.data()["passwordLogin"]["user"]["memberships"][0].clone();
    assert_eq!(membership["roles"], json!(["RESIDENT", "STAFF"]));
    assert_eq!(membership["status"], "ACTIVE");
    let token = staff.data()["passwordLogin"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let members = app
        .gql(
            Some(&token),
            MEMBERS,
            json!({"c": membership["community"]["id"]}),
        )
        .await;
    assert_eq!(members.data()["members"]["totalCount"], 5);
    let council = login("13800000003").await;
    assert_eq!(
        council.data()["passwordLogin"]["user"]["memberships"][0]["roles"],
        json!(["RESIDENT", "COUNCIL_MEMBER"])
    );
    login("13800000000").await.data();
    login("13800000001").await.data();
}

backend_tests!(
    region_tree_rules,
    officers_are_appointed_to_fitting_regions,
    membership_state_machine,
    join_input_is_checked_and_nothing_written,
    personal_data_is_masked_except_for_self_and_staff,
    member_list_filters_and_pages_without_repeats,
    fifty_concurrent_mutations_all_succeed,
    concurrent_decisions_on_one_request_have_one_winner,
    staff_roles_need_an_officer,
    demo_seed_gives_working_logins,
    world_members_have_households_of_their_own,
    concurrent_joins_to_one_room_share_one_household,
);
