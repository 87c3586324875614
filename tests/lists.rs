//! Resources and needs (DESIGN §3): creating, filtering and paging the
//! resources list, the resource and need state machines, need privacy, the
//! staff queue, matching.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::lists_support;

use api::policy::Role;
use linli::{TestApp, backend_tests};
use lists_support::*;
use serde_json::{Value, json};

const RESOURCES: &str = r#"query($c: ID!, $first: Int, $after: String, $cat: ResourceCategory, $a: FourAction, $s: ResourceStatus, $p: ID, $k: String) {
  resources(communityId: $c, first: $first, after: $after, category: $cat, action: $a, status: $s, providerId: $p, keyword: $k) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id title status } }
  } }"#;

fn titles(conn: &Value) -> Vec<String> {
    conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap().to_string())
        .collect()
}

async fn resources_are_offered_filtered_and_tagged(app: TestApp) {
    let w = app.world().await;
    let party = app
        .member(
            w.community_a,
            "王党员",
            &[Role::Resident, Role::PartyMember],
            &w.staff_a,
        )
        .await;
    // A party member's offer is shown as a party member's.
    let r = app
        .gql(
            party.token(),
            CREATE_RESOURCE,
            json!({"c": w.community_a, "t": "义务理发", "cat": "SERVICE", "a": "PARTY_MEMBER_SERVICE",
                   "q": 10, "u": "次", "d": "每月第一个周六上午", "s": ["理发", "理发"]}),
        )
        .await;
    let created = &r.data()["createResource"];
    assert_eq!(created["fromPartyMember"], true);
    assert_eq!(created["status"], "AVAILABLE");
    assert_eq!(created["remaining"], 10);
    assert_eq!(created["skills"], json!(["理发"]));
    // Staff enter one for a resident (providerId).
    let r = app
        .gql(
            w.staff_a.token(),
            CREATE_RESOURCE,
            json!({"c": w.community_a, "t": "闲置轮椅", "cat": "GOODS", "a": "NEIGHBOUR_MUTUAL_AID",
                   "q": 2, "u": "台", "p": w.resident_a.id}),
        )
        .await;
    assert_eq!(r.data()["createResource"]["fromPartyMember"], false);
    let wheelchair = id(&r.data()["createResource"]);
    resource(
        &app,
        &w.resident_a,
        w.community_a,
        "周末活动室",
        "VENUE",
        4,
        &[],
    )
    .await;
    resource(
        &app,
        &w.staff_a,
        w.community_a,
        "慈善基金",
        "FUNDS",
        50_000,
        &[],
    )
    .await;
    resource(
        &app,
        &w.resident_b,
        w.community_b,
        "乙社区场地",
        "VENUE",
        1,
        &[],
    )
    .await;

    let list = |vars: Value| {
        let app = &app;
        let token = w.resident_a.token.clone();
        async move {
            let mut vars = vars;
            vars["c"] = json!(w.community_a);
            app.gql(Some(&token), RESOURCES, vars).await.data()["resources"].clone()
        }
    };
    let all = list(json!({})).await;
    assert_eq!(all["totalCount"], 4);
    assert_eq!(
        titles(&all),
        ["义务理发", "闲置轮椅", "周末活动室", "慈善基金"]
    );
    assert_eq!(titles(&list(json!({"cat": "VENUE"})).await), ["周末活动室"]);
    assert_eq!(
        titles(&list(json!({"a": "PARTY_MEMBER_SERVICE"})).await),
        ["义务理发"]
    );
    assert_eq!(
        titles(&list(json!({"p": w.resident_a.id})).await),
        ["闲置轮椅", "周末活动室"]
    );
    assert_eq!(titles(&list(json!({"k": "理发"})).await), ["义务理发"]);
    assert_eq!(titles(&list(json!({"k": "周六"})).await), ["义务理发"]);
    assert_eq!(list(json!({"k": "%"})).await["totalCount"], 0);

    // Withdraw, refused twice, restore.
    const WITHDRAW: &str = "mutation($r: ID!) { withdrawResource(resourceId: $r) { status } }";
    const RESTORE: &str = "mutation($r: ID!) { restoreResource(resourceId: $r) { status } }";
    // Another resident may not withdraw someone else's resource.
    let other = app
        .member(w.community_a, "赵六", &[Role::Resident], &w.staff_a)
        .await;
    app.gql(other.token(), WITHDRAW, json!({"r": wheelchair}))
        .await
        .expect_error("FORBIDDEN");
    let r = app
        .gql(w.resident_a.token(), WITHDRAW, json!({"r": wheelchair}))
        .await;
    assert_eq!(r.data()["withdrawResource"]["status"], "WITHDRAWN");
    let audits_before = audits(&app, &wheelchair).await;
    app.gql(w.resident_a.token(), WITHDRAW, json!({"r": wheelchair}))
        .await
        .expect_error("INVALID_STATE");
    assert_eq!(
        audits(&app, &wheelchair).await,
        audits_before,
        "nothing written"
    );
    assert_eq!(titles(&list(json!({"s": "WITHDRAWN"})).await), ["闲置轮椅"]);
    let r = app
        .gql(w.staff_a.token(), RESTORE, json!({"r": wheelchair}))
        .await;
    assert_eq!(r.data()["restoreResource"]["status"], "AVAILABLE");
    app.gql(w.staff_a.token(), RESTORE, json!({"r": wheelchair}))
        .await
        .expect_error("INVALID_STATE");

    // Another community's resources are invisible.
    app.gql(w.resident_b.token(), RESOURCES, json!({"c": w.community_a}))
        .await
        .expect_error("FORBIDDEN");
    app.gql(
        w.resident_b.token(),
        "query($id: ID!) { resource(id: $id) { id } }",
        json!({"id": wheelchair}),
    )
    .await
    .expect_error("NOT_FOUND");
}

async fn bad_resources_are_refused_and_nothing_is_written(app: TestApp) {
    let w = app.world().await;
    let before = app.count("SELECT COUNT(*) FROM resource").await;
    let base = json!({"c": w.community_a, "t": "资源", "cat": "GOODS", "a": "NEIGHBOUR_MUTUAL_AID", "q": 1, "u": "件"});
    let cases = [
        ("quantity", json!({"q": 0})),
        ("quantity", json!({"q": -3})),
        ("title", json!({"t": "  "})),
        ("unit", json!({"cat": "FUNDS", "u": "元"})),
        ("action", json!({"a": "PARTY_MEMBER_SERVICE"})),
        ("skills", json!({"s": ["a,b"]})),
        ("providerId", json!({"p": w.resident_b.id})),
    ];
    for (field, change) in cases {
        let mut vars = base.clone();
        for (k, v) in change.as_object().unwrap() {
            vars[k] = v.clone();
        }
        let token = if field == "providerId" {
            w.staff_a.token()
        } else {
            w.resident_a.token()
        };
        let r = app.gql(token, CREATE_RESOURCE, vars).await;
        let err = r.expect_error("BAD_USER_INPUT");
        assert_eq!(err["extensions"]["field"], field, "{}", r.body);
    }
    // Windows that end before they start.
    let r = app
        .gql(
            w.resident_a.token(),
            r#"mutation($c: ID!) { createResource(communityId: $c, title: "场地", category: VENUE, action: NEIGHBOUR_MUTUAL_AID, quantity: 1, unit: "间",
                 windows: [{startsAt: "2026-12-01T10:00:00Z", endsAt: "2026-12-01T09:00:00Z"}]) { id } }"#,
            json!({"c": w.community_a}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "windows"
    );
    // A resident may not offer for someone else; an outsider not at all.
    let mut vars = base.clone();
    vars["p"] = json!(w.grid_a.id);
    app.gql(w.resident_a.token(), CREATE_RESOURCE, vars)
        .await
        .expect_error("FORBIDDEN");
    app.gql(w.outsider.token(), CREATE_RESOURCE, base.clone())
        .await
        .expect_error("FORBIDDEN");
    assert_eq!(app.count("SELECT COUNT(*) FROM resource").await, before);
    // A good one with windows is kept with them.
    let r = app
        .gql(
            w.resident_a.token(),
            r#"mutation($c: ID!) { createResource(communityId: $c, title: "场地", category: VENUE, action: NEIGHBOUR_MUTUAL_AID, quantity: 1, unit: "间",
                 windows: [{startsAt: "2026-12-01T01:00:00Z", endsAt: "2026-12-01T04:00:00Z"}]) { windows { startsAt endsAt } } }"#,
            json!({"c": w.community_a}),
        )
        .await;
    assert_eq!(
        r.data()["createResource"]["windows"][0]["startsAt"],
        "2026-12-01T01:00:00+00:00"
    );
}

const NEED_VIEW: &str = r#"query($id: ID!) { need(id: $id) { id title category urgency status description requester { id } submittedBy { id } detailsVisible } }"#;

async fn needs_follow_their_state_machine(app: TestApp) {
    let w = app.world().await;
    let n = need(
        &app,
        &w.resident_a,
        w.community_a,
        "楼道灯坏了",
        "服务",
        "HIGH",
        "3栋2单元楼道灯不亮",
    )
    .await;
    let status = |n: String| {
        let app = &app;
        let token = w.staff_a.token.clone();
        async move {
            app.gql(Some(&token), NEED_VIEW, json!({"id": n}))
                .await
                .data()["need"]["status"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(status(n.clone()).await, "SUBMITTED");
    // A resident cannot review; closing a SUBMITTED need is refused.
    app.gql(
        w.resident_a.token(),
        REVIEW_NEED,
        json!({"n": n, "a": true}),
    )
    .await
    .expect_error("FORBIDDEN");
    let before = audits(&app, &n).await;
    app.gql(
        w.staff_a.token(),
        "mutation($n: ID!) { closeNeed(needId: $n) { id } }",
        json!({"n": n}),
    )
    .await
    .expect_error("INVALID_STATE");
    // Rejecting needs a reason.
    let r = app
        .gql(w.staff_a.token(), REVIEW_NEED, json!({"n": n, "a": false}))
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "reason"
    );
    assert_eq!(audits(&app, &n).await, before, "nothing written");
    assert_eq!(status(n.clone()).await, "SUBMITTED");
    let r = app
        .gql(w.staff_a.token(), REVIEW_NEED, json!({"n": n, "a": true}))
        .await;
    assert_eq!(r.data()["reviewNeed"]["status"], "ACCEPTED");
    // Reviewing twice is refused and changes nothing.
    let before = audits(&app, &n).await;
    app.gql(
        w.staff_a.token(),
        REVIEW_NEED,
        json!({"n": n, "a": false, "r": "重复"}),
    )
    .await
    .expect_error("INVALID_STATE");
    assert_eq!(audits(&app, &n).await, before);
    assert_eq!(status(n.clone()).await, "ACCEPTED");

    let m = need(
        &app,
        &w.resident_a,
        w.community_a,
        "想学做饭",
        "其他",
        "LOW",
        "想学做饭",
    )
    .await;
    let r = app
        .gql(
            w.staff_a.token(),
            REVIEW_NEED,
            json!({"n": m, "a": false, "r": "不属于社区服务范围"}),
        )
        .await;
    assert_eq!(r.data()["reviewNeed"]["status"], "REJECTED");
    assert_eq!(r.data()["reviewNeed"]["rejectReason"], "不属于社区服务范围");
    app.gql(w.staff_a.token(), REVIEW_NEED, json!({"n": m, "a": true}))
        .await
        .expect_error("INVALID_STATE");
    // Another community's staff do not see it at all.
    app.gql(w.staff_b.token(), REVIEW_NEED, json!({"n": m, "a": true}))
        .await
        .expect_error("NOT_FOUND");

    // Bad input names the field and writes nothing.
    let before = app.count("SELECT COUNT(*) FROM need").await;
    for (field, vars) in [
        (
            "title",
            json!({"c": w.community_a, "t": "", "cat": "服务", "u": "LOW", "d": "说明"}),
        ),
        (
            "description",
            json!({"c": w.community_a, "t": "标题", "cat": "服务", "u": "LOW", "d": " "}),
        ),
        (
            "category",
            json!({"c": w.community_a, "t": "标题", "cat": "", "u": "LOW", "d": "说明"}),
        ),
        (
            "onBehalfOf",
            json!({"c": w.community_a, "t": "标题", "cat": "服务", "u": "LOW", "d": "说明", "o": w.resident_b.id}),
        ),
    ] {
        let token = if field == "onBehalfOf" {
            w.grid_a.token()
        } else {
            w.resident_a.token()
        };
        let r = app.gql(token, SUBMIT_NEED, vars).await;
        assert_eq!(
            r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
            field
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM need").await, before);
}

async fn need_details_are_private(app: TestApp) {
    let w = app.world().await;
    let neighbour = app
        .member(w.community_a, "邻居", &[Role::Resident], &w.staff_a)
        .await;
    let elderly = app
        .member(w.community_a, "独居老人", &[Role::Resident], &w.staff_a)
        .await;
    // A grid worker registers a need for an elderly resident.
    let r = app
        .gql(
            w.grid_a.token(),
            SUBMIT_NEED,
            json!({"c": w.community_a, "t": "助餐", "cat": "服务", "u": "URGENT",
                   "d": "独居，行动不便，需每日送餐", "o": elderly.id}),
        )
        .await;
    let created = &r.data()["submitNeed"];
    assert_eq!(created["requester"]["id"], elderly.id.to_string());
    assert_eq!(created["submittedBy"]["id"], w.grid_a.id.to_string());
    let n = id(created);
    // The audit records who acted for whom.
    let entries = audit_entries(&app, &n).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor_id, Some(w.grid_a.id));
    assert_eq!(entries[0].on_behalf_of, Some(elderly.id));

    for (who, sees) in [
        (&elderly, true),
        (&w.grid_a, true),
        (&w.staff_a, true),
        (&neighbour, false),
        (&w.resident_a, false),
        (&w.street_admin_a, false),
    ] {
        let r = app.gql(who.token(), NEED_VIEW, json!({"id": n})).await;
        let need = &r.data()["need"];
        assert_eq!(need["title"], "助餐");
        assert_eq!(need["urgency"], "URGENT");
        assert_eq!(need["status"], "SUBMITTED");
        assert_eq!(need["detailsVisible"], sees);
        if sees {
            assert_eq!(need["description"], "独居，行动不便，需每日送餐");
            assert_eq!(need["requester"]["id"], elderly.id.to_string());
        } else {
            assert_eq!(need["description"], Value::Null, "{}", r.body);
            assert_eq!(need["requester"], Value::Null);
            assert_eq!(need["submittedBy"], Value::Null);
        }
    }
    // The same in the list.
    let r = app
        .gql(
            neighbour.token(),
            "query($c: ID!) { needs(communityId: $c) { totalCount edges { node { title description requester { id } } } } }",
            json!({"c": w.community_a}),
        )
        .await;
    let node = &r.data()["needs"]["edges"][0]["node"];
    assert_eq!(node["title"], "助餐");
    assert_eq!(node["description"], Value::Null);
    // Another community's members and outsiders see nothing.
    for who in [&w.resident_b, &w.outsider] {
        app.gql(who.token(), NEED_VIEW, json!({"id": n}))
            .await
            .expect_error("NOT_FOUND");
        app.gql(
            who.token(),
            "query($c: ID!) { needs(communityId: $c) { totalCount } }",
            json!({"c": w.community_a}),
        )
        .await
        .expect_error("FORBIDDEN");
    }
    // A resident may not register for someone else.
    app.gql(
        w.resident_a.token(),
        SUBMIT_NEED,
        json!({"c": w.community_a, "t": "代办", "cat": "服务", "u": "LOW", "d": "代办", "o": elderly.id}),
    )
    .await
    .expect_error("FORBIDDEN");
}

const QUEUE: &str = r#"query($c: ID!, $first: Int, $after: String) {
  needQueue(communityId: $c, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { title urgency } } } }"#;

async fn the_staff_queue_is_by_urgency_then_age_and_pages_cleanly(app: TestApp) {
    let w = app.world().await;
    for (title, urgency) in [
        ("一般1", "NORMAL"),
        ("紧急1", "URGENT"),
        ("低1", "LOW"),
        ("高1", "HIGH"),
        ("紧急2", "URGENT"),
        ("一般2", "NORMAL"),
    ] {
        need(
            &app,
            &w.resident_a,
            w.community_a,
            title,
            "服务",
            urgency,
            "说明",
        )
        .await;
    }
    let expected = ["紧急1", "紧急2", "高1", "一般1", "一般2", "低1"];
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut inserted = false;
    loop {
        let r = app
            .gql(
                w.staff_a.token(),
                QUEUE,
                json!({"c": w.community_a, "first": 2, "after": after}),
            )
            .await;
        let conn = r.data()["needQueue"].clone();
        seen.extend(titles_of(&conn));
        // New needs arriving while paging land before the cursor or after
        // it, never repeating or skipping the ones already there.
        if !inserted {
            need(
                &app,
                &w.resident_a,
                w.community_a,
                "新紧急",
                "服务",
                "URGENT",
                "说明",
            )
            .await;
            need(
                &app,
                &w.resident_a,
                w.community_a,
                "新低",
                "服务",
                "LOW",
                "说明",
            )
            .await;
            inserted = true;
        }
        if conn["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    let original: Vec<&String> = seen.iter().filter(|t| !t.starts_with('新')).collect();
    assert_eq!(
        original,
        expected
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no repeats: {seen:?}");
    assert!(
        seen.contains(&"新低".to_string()),
        "a row inserted after the cursor is reached"
    );
    // Residents have no queue.
    app.gql(w.resident_a.token(), QUEUE, json!({"c": w.community_a}))
        .await
        .expect_error("FORBIDDEN");
}

fn titles_of(conn: &Value) -> Vec<String> {
    titles(conn)
}

async fn resource_paging_neither_repeats_nor_skips_while_rows_are_inserted(app: TestApp) {
    let w = app.world().await;
    let mut originals = Vec::new();
    for i in 0..7 {
        originals.push(
            resource(
                &app,
                &w.resident_a,
                w.community_a,
                &format!("资源{i}"),
                "GOODS",
                1,
                &[],
            )
            .await,
        );
    }
    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    let mut added = 0;
    loop {
        let r = app
            .gql(
                w.resident_a.token(),
                RESOURCES,
                json!({"c": w.community_a, "first": 3, "after": after}),
            )
            .await;
        let conn = r.data()["resources"].clone();
        for e in conn["edges"].as_array().unwrap() {
            seen.push(e["node"]["id"].as_str().unwrap().to_string());
        }
        if added < 2 {
            resource(
                &app,
                &w.resident_a,
                w.community_a,
                &format!("新资源{added}"),
                "GOODS",
                1,
                &[],
            )
            .await;
            added += 1;
        }
        if conn["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no repeats");
    for o in &originals {
        assert!(seen.contains(o), "no skips");
    }
    assert_eq!(&seen[..7], &originals[..]);
    assert_eq!(
        seen.len(),
        9,
        "rows added behind the cursor are reached too"
    );
}

const RANKED: &str = r#"query($n: ID!, $first: Int) {
  rankedMatches(needId: $n, first: $first) { scope score categoryFit skillFit resource { id title } }
  matchSuggestions(needId: $n, first: $first) { id title } }"#;

async fn matching_ranks_the_community_then_the_street(app: TestApp) {
    let w = app.world().await;
    // A third community on street A, and one on street B.
    let neighbour_community = api::service::org::create_region(
        &app.db,
        &app.actor(w.admin.id),
        "甲二社区",
        entity::org::region::RegionKind::Community,
        Some(w.street_a),
    )
    .await
    .map_err(|e| e.message())
    .unwrap()
    .id;
    let staff_a2 = app
        .member(
            neighbour_community,
            "甲二社工",
            &[Role::Staff, Role::Resident],
            &w.street_admin_a,
        )
        .await;
    let barber = resource(
        &app,
        &w.resident_a,
        w.community_a,
        "上门理发",
        "SERVICE",
        5,
        &["理发"],
    )
    .await;
    let venue = resource(
        &app,
        &w.resident_a,
        w.community_a,
        "社区活动室",
        "VENUE",
        1,
        &[],
    )
    .await;
    let meals = resource(
        &app,
        &w.resident_a,
        w.community_a,
        "老人助餐送餐",
        "SERVICE",
        30,
        &["送餐"],
    )
    .await;
    let street_barber = resource(
        &app,
        &staff_a2,
        neighbour_community,
        "理发志愿队",
        "VOLUNTEER_TIME",
        20,
        &["理发"],
    )
    .await;
    let other_street = resource(
        &app,
        &w.resident_b,
        w.community_b,
        "上门理发服务",
        "SERVICE",
        5,
        &["理发"],
    )
    .await;

    let n = accepted_need(&app, &w.resident_a, &w.staff_a, w.community_a, "助老").await;
    // Make the need about a haircut.
    let n2 = need(
        &app,
        &w.resident_a,
        w.community_a,
        "独居老人上门理发",
        "服务",
        "HIGH",
        "行动不便，希望有人上门理发",
    )
    .await;
    let _ = n;
    let r = app
        .gql(w.grid_a.token(), RANKED, json!({"n": n2, "first": 10}))
        .await;
    let ranked = r.data()["rankedMatches"].as_array().unwrap().clone();
    let ids: Vec<&str> = ranked
        .iter()
        .map(|s| s["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], barber, "{}", r.body);
    assert_eq!(ranked[0]["scope"], "COMMUNITY");
    assert_eq!(ranked[0]["categoryFit"], 1.0);
    assert_eq!(ranked[0]["skillFit"], 1.0);
    assert!(
        ids.contains(&meals.as_str()),
        "same category, some text in common"
    );
    assert!(!ids.contains(&venue.as_str()), "nothing in common");
    let street_pos = ids
        .iter()
        .position(|i| *i == street_barber)
        .expect("street resource");
    assert_eq!(ranked[street_pos]["scope"], "STREET");
    assert!(
        ranked[..street_pos]
            .iter()
            .all(|s| s["scope"] == "COMMUNITY")
    );
    assert!(
        !ids.contains(&other_street.as_str()),
        "another street's resources are not offered"
    );
    let plain: Vec<&str> = r.data()["matchSuggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(plain, ids);

    // Residents do not get suggestions.
    app.gql(w.resident_a.token(), RANKED, json!({"n": n2}))
        .await
        .expect_error("FORBIDDEN");

    // Confirming needs an accepted need.
    const CONFIRM: &str = "mutation($n: ID!, $r: ID!) { confirmMatch(needId: $n, resourceId: $r) { id status matchedResources { id } } }";
    app.gql(w.staff_a.token(), CONFIRM, json!({"n": n2, "r": barber}))
        .await
        .expect_error("INVALID_STATE");
    app.gql(w.staff_a.token(), REVIEW_NEED, json!({"n": n2, "a": true}))
        .await
        .data();
    // The other way round: the barber resource could serve the need.
    let r = app
        .gql(
            w.staff_a.token(),
            "query($r: ID!) { needsForResource(resourceId: $r) { score need { id title description } } }",
            json!({"r": barber}),
        )
        .await;
    let found = r.data()["needsForResource"].as_array().unwrap().clone();
    assert_eq!(found[0]["need"]["id"], n2.as_str());
    assert_eq!(
        found[0]["need"]["description"],
        "行动不便，希望有人上门理发"
    );
    // Grid workers may look but not confirm.
    app.gql(w.grid_a.token(), CONFIRM, json!({"n": n2, "r": barber}))
        .await
        .expect_error("FORBIDDEN");
    let r = app
        .gql(w.staff_a.token(), CONFIRM, json!({"n": n2, "r": barber}))
        .await;
    assert_eq!(r.data()["confirmMatch"]["status"], "MATCHED");
    assert_eq!(
        r.data()["confirmMatch"]["matchedResources"][0]["id"],
        barber.as_str()
    );
    // A street resource can be added; the same one twice is a conflict.
    let r = app
        .gql(
            w.staff_a.token(),
            CONFIRM,
            json!({"n": n2, "r": street_barber}),
        )
        .await;
    assert_eq!(
        r.data()["confirmMatch"]["matchedResources"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.gql(w.staff_a.token(), CONFIRM, json!({"n": n2, "r": barber}))
        .await
        .expect_error("CONFLICT");
    // Another street's resource is not found.
    app.gql(
        w.staff_a.token(),
        CONFIRM,
        json!({"n": n2, "r": other_street}),
    )
    .await
    .expect_error("NOT_FOUND");
}

backend_tests!(
    resources_are_offered_filtered_and_tagged,
    bad_resources_are_refused_and_nothing_is_written,
    needs_follow_their_state_machine,
    need_details_are_private,
    the_staff_queue_is_by_urgency_then_age_and_pages_cleanly,
    resource_paging_neither_repeats_nor_skips_while_rows_are_inserted,
    matching_ranks_the_community_then_the_street,
);
