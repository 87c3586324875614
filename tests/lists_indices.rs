//! Organisations and the four indices: exact values on seeded data, per
//! community and side by side for a street and a district.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::lists_support;

use api::policy::Role;
use api::service::credits::ledger;
use chrono::{Duration, TimeZone, Utc};
use entity::credits::posting::PostingKind;
use entity::lists::resource;
use linli::{TestApp, backend_tests};
use lists_support::*;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};

const CREATE_ORG: &str = r#"mutation($r: ID!, $n: String!, $k: OrganisationKind!) { createOrganisation(regionId: $r, name: $n, kind: $k) { id name kind community { id } street { id } } }"#;
const ADD_REP: &str = r#"mutation($o: ID!, $u: ID!) { addOrganisationRepresentative(organisationId: $o, userId: $u) { id } }"#;

const INDICES: &str = r#"query($c: ID!, $from: DateTime!, $to: DateTime!) {
  indices(communityId: $c, from: $from, to: $to) { teams projects funds points fundsPledgedFen fundsSpentFen pointsEarned pointsSpent } }"#;
const REGION_INDICES: &str = r#"query($r: ID!, $from: DateTime!, $to: DateTime!) {
  regionIndices(regionId: $r, from: $from, to: $to) { community { id name } indices { teams projects funds points } } }"#;

async fn organisations_and_their_representatives(app: TestApp) {
    let w = app.world().await;
    // Staff register one in the community; the street's officer one for the street.
    let r = app
        .gql(
            w.staff_a.token(),
            CREATE_ORG,
            json!({"r": w.community_a, "n": "夕阳红协会", "k": "SOCIAL_ORGANISATION"}),
        )
        .await;
    let local = id(&r.data()["createOrganisation"]);
    assert_eq!(
        r.data()["createOrganisation"]["community"]["id"],
        w.community_a.to_string()
    );
    app.gql(
        w.staff_a.token(),
        CREATE_ORG,
        json!({"r": w.street_a, "n": "街道医院", "k": "HOSPITAL"}),
    )
    .await
    .expect_error("FORBIDDEN");
    let r = app
        .gql(
            w.street_admin_a.token(),
            CREATE_ORG,
            json!({"r": w.street_a, "n": "街道医院", "k": "HOSPITAL"}),
        )
        .await;
    let street_org = id(&r.data()["createOrganisation"]);
    assert_eq!(r.data()["createOrganisation"]["community"], Value::Null);
    app.gql(
        w.street_admin_a.token(),
        CREATE_ORG,
        json!({"r": w.street_a, "n": "街道医院", "k": "HOSPITAL"}),
    )
    .await
    .expect_error("CONFLICT");
    app.gql(
        w.resident_a.token(),
        CREATE_ORG,
        json!({"r": w.community_a, "n": "x", "k": "COMPANY"}),
    )
    .await
    .expect_error("FORBIDDEN");
    let r = app
        .gql(
            w.staff_a.token(),
            CREATE_ORG,
            json!({"r": w.community_a, "n": " ", "k": "COMPANY"}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "name"
    );

    // A representative (not even a member) offers the organisation's resources.
    let rep = app.create_user("医院代表", false).await;
    app.gql(
        w.staff_a.token(),
        ADD_REP,
        json!({"o": street_org, "u": rep.id}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(
        w.street_admin_a.token(),
        ADD_REP,
        json!({"o": street_org, "u": rep.id}),
    )
    .await
    .data();
    app.gql(
        w.street_admin_a.token(),
        ADD_REP,
        json!({"o": street_org, "u": rep.id}),
    )
    .await
    .expect_error("CONFLICT");
    let offer = |who: &linli::world::Person, org: &str| {
        let (app, token, org) = (&app, who.token.clone(), org.to_string());
        async move {
            app.gql(
                Some(&token),
                CREATE_RESOURCE,
                json!({"c": w.community_a, "t": "义诊", "cat": "SERVICE", "a": "UNIT_SHARING", "q": 4, "u": "场", "org": org}),
            )
            .await
        }
    };
    let r = offer(&rep, &street_org).await;
    let offered = id(&r.data()["createResource"]);
    offer(&w.resident_a, &street_org)
        .await
        .expect_error("FORBIDDEN");
    // Staff may enter for a local organisation; it is listed with it.
    offer(&w.staff_a, &local).await.data();
    let r = app
        .gql(
            w.resident_a.token(),
            "query($c: ID!, $o: ID) { organisations(communityId: $c) { totalCount } resources(communityId: $c, organisationId: $o) { edges { node { id organisation { name } provider { id } } } } }",
            json!({"c": w.community_a, "o": street_org}),
        )
        .await;
    assert_eq!(r.data()["organisations"]["totalCount"], 2);
    let node = &r.data()["resources"]["edges"][0]["node"];
    assert_eq!(node["id"], offered.as_str());
    assert_eq!(node["organisation"]["name"], "街道医院");
    assert_eq!(node["provider"], Value::Null);
    // A community-level organisation of A cannot offer in B.
    let r = app
        .gql(
            w.staff_b.token(),
            CREATE_RESOURCE,
            json!({"c": w.community_b, "t": "x", "cat": "GOODS", "a": "UNIT_SHARING", "q": 1, "u": "件", "org": local}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "organisationId"
    );
    // The representative may withdraw the organisation's resource.
    let r = app
        .gql(
            rep.token(),
            "mutation($r: ID!) { withdrawResource(resourceId: $r) { status } }",
            json!({"r": offered}),
        )
        .await;
    assert_eq!(r.data()["withdrawResource"]["status"], "WITHDRAWN");
}

async fn the_four_indices_have_exact_values(app: TestApp) {
    let w = app.world().await;
    let c2 = api::service::org::create_region(
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
    let staff2 = app
        .member(
            c2,
            "甲二社工",
            &[Role::Staff, Role::Resident],
            &w.street_admin_a,
        )
        .await;
    let o1 = id(&app
        .gql(
            w.staff_a.token(),
            CREATE_ORG,
            json!({"r": w.community_a, "n": "夕阳红协会", "k": "SOCIAL_ORGANISATION"}),
        )
        .await
        .data()["createOrganisation"]);
    let o2 = id(&app
        .gql(
            w.street_admin_a.token(),
            CREATE_ORG,
            json!({"r": w.street_a, "n": "街道社工站", "k": "SOCIAL_ORGANISATION"}),
        )
        .await
        .data()["createOrganisation"]);

    // Resources of A: two by one resident, one by an organisation, a fund by staff.
    let r1 = resource(
        &app,
        &w.resident_a,
        w.community_a,
        "助餐",
        "SERVICE",
        10,
        &[],
    )
    .await;
    let r2 = resource(
        &app,
        &w.resident_a,
        w.community_a,
        "陪聊",
        "VOLUNTEER_TIME",
        10,
        &[],
    )
    .await;
    app.gql(
        w.staff_a.token(),
        CREATE_RESOURCE,
        json!({"c": w.community_a, "t": "协会活动", "cat": "SERVICE", "a": "SOCIAL_ORG_WELFARE", "q": 3, "u": "次", "org": o1}),
    )
    .await
    .data();
    let fund = resource(
        &app,
        &w.staff_a,
        w.community_a,
        "慈善基金",
        "FUNDS",
        100_000,
        &[],
    )
    .await;
    // An old resource of the grid worker (offered in 2020), pledged now.
    let old = resource(&app, &w.grid_a, w.community_a, "旧轮椅", "GOODS", 2, &[]).await;
    let long_ago = Utc.with_ymd_and_hms(2020, 6, 1, 0, 0, 0).unwrap();
    let found = resource::Entity::find_by_id(uuid::Uuid::parse_str(&old).unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut active: resource::ActiveModel = found.into();
    active.created_at = Set(long_ago);
    active.update(&app.db).await.unwrap();
    // A resource of the neighbouring community, pledged to A's project.
    let shared = resource(&app, &staff2, c2, "甲二场地", "VENUE", 1, &[]).await;
    // B has one of its own.
    resource(
        &app,
        &w.resident_b,
        w.community_b,
        "乙社区资源",
        "GOODS",
        1,
        &[],
    )
    .await;

    // P1: led by o2, pledges r1, the fund, the old resource and the shared
    // venue; completed using 20,000 of the 30,000 fen pledged, 25,000 spent.
    let p1 = app
        .gql(
            w.staff_a.token(),
            r#"mutation($c: ID!, $p: [PledgeInput!]!, $o: ID) { createProject(communityId: $c, title: "P1", needIds: [], pledges: $p, budgetFen: 50000, leadOrganisationId: $o) { id } }"#,
            json!({"c": w.community_a, "o": o2, "p": [
                {"resourceId": r1, "quantity": 2}, {"resourceId": fund, "quantity": 30_000},
                {"resourceId": old, "quantity": 1}, {"resourceId": shared, "quantity": 1}]}),
        )
        .await;
    let p1 = id(&p1.data()["createProject"]);
    run_to_progress(&app, &w, &p1).await;
    app.gql(
        w.staff_a.token(),
        r#"mutation($p: ID!, $f: ID!) { completeProject(projectId: $p, spentFen: 25000, usage: [{resourceId: $f, usedQuantity: 20000}]) { status } }"#,
        json!({"p": p1, "f": fund}),
    )
    .await
    .data();
    // P2: running with one pledge. P3: running without pledges. P4: rejected.
    let p2 = id(&project(&app, &w.staff_a, w.community_a, "P2", &[], &[(&r2, 1)], 0).await);
    run_to_progress(&app, &w, &p2).await;
    let p3 = id(&project(&app, &w.staff_a, w.community_a, "P3", &[], &[], 0).await);
    run_to_progress(&app, &w, &p3).await;
    let p4 = id(&project(
        &app,
        &w.staff_a,
        w.community_a,
        "P4",
        &[],
        &[(&fund, 5_000)],
        0,
    )
    .await);
    act(&app, &w.staff_a, "submitProject", &p4).await.data();
    review(&app, &w.street_admin_a, &p4, 10).await.data();

    // The credits ledger: earned 50 + 30 − 30 (reversed), spent 20 + 5 − 5
    // (reversed); transfers and adjustments do not count; 7 earned in 2020.
    let earn = |to: uuid::Uuid, amount: i64| (PostingKind::Earn, amount, None, Some(to));
    let redeem = |from: uuid::Uuid, amount: i64| (PostingKind::Redeem, amount, Some(from), None);
    post(
        &app,
        w.community_a,
        earn(w.resident_a.id, 50),
        Utc::now(),
        None,
    )
    .await;
    let a_earn_30 = post(&app, w.community_a, earn(w.grid_a.id, 30), Utc::now(), None).await;
    post(
        &app,
        w.community_a,
        (
            PostingKind::Transfer,
            10,
            Some(w.resident_a.id),
            Some(w.grid_a.id),
        ),
        Utc::now(),
        None,
    )
    .await;
    post(
        &app,
        w.community_a,
        (PostingKind::Adjust, 4, None, Some(w.grid_a.id)),
        Utc::now(),
        None,
    )
    .await;
    post(
        &app,
        w.community_a,
        earn(w.grid_a.id, 30),
        Utc::now(),
        Some(&a_earn_30),
    )
    .await;
    post(
        &app,
        w.community_a,
        redeem(w.resident_a.id, 20),
        Utc::now(),
        None,
    )
    .await;
    let a_redeem_5 = post(
        &app,
        w.community_a,
        redeem(w.resident_a.id, 5),
        Utc::now(),
        None,
    )
    .await;
    post(
        &app,
        w.community_a,
        redeem(w.resident_a.id, 5),
        Utc::now(),
        Some(&a_redeem_5),
    )
    .await;
    post(
        &app,
        w.community_a,
        earn(w.resident_a.id, 7),
        long_ago,
        None,
    )
    .await;
    post(
        &app,
        w.community_b,
        earn(w.resident_b.id, 9),
        Utc::now(),
        None,
    )
    .await;

    let now = Utc::now();
    let period = json!({"c": w.community_a, "from": now - Duration::hours(1), "to": now + Duration::hours(1)});
    let r = app.gql(w.staff_a.token(), INDICES, period.clone()).await;
    let i = &r.data()["indices"];
    // resident_a, o1, staff_a (offered now); grid_a and staff2 (pledged now); o2 (leads P1).
    assert_eq!(i["teams"], 6.0, "{i}");
    // P1 and P2 (P3 drew on no pledge, P4 never ran).
    assert_eq!(i["projects"], 2.0);
    // 20,000 fen used of the fund (P4's pledge was released) + 25,000 spent.
    assert_eq!(i["fundsPledgedFen"], 20_000);
    assert_eq!(i["fundsSpentFen"], 25_000);
    assert_eq!(i["funds"], 450.0);
    assert_eq!(i["pointsEarned"], 50);
    assert_eq!(i["pointsSpent"], 20);
    assert_eq!(i["points"], 70.0);

    // 2020: only the old resource was offered then.
    let r = app
        .gql(
            w.street_admin_a.token(),
            INDICES,
            json!({"c": w.community_a, "from": "2020-01-01T00:00:00Z", "to": "2021-01-01T00:00:00Z"}),
        )
        .await;
    let i = &r.data()["indices"];
    assert_eq!(
        (
            i["teams"].as_f64(),
            i["projects"].as_f64(),
            i["funds"].as_f64(),
            i["points"].as_f64()
        ),
        (Some(1.0), Some(0.0), Some(0.0), Some(7.0))
    );

    // Side by side: street A has A and the neighbour; the district all three.
    let side = |region: uuid::Uuid| {
        let app = &app;
        let token = w.street_admin_a.token.clone();
        let mut vars = period.clone();
        async move {
            vars["r"] = json!(region);
            app.gql(Some(&token), REGION_INDICES, vars).await
        }
    };
    let r = side(w.street_a).await;
    let rows = r.data()["regionIndices"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2);
    let row = |rows: &[Value], c: uuid::Uuid| {
        rows.iter()
            .find(|r| r["community"]["id"] == c.to_string())
            .unwrap()["indices"]
            .clone()
    };
    assert_eq!(row(&rows, w.community_a)["teams"], 6.0);
    assert_eq!(row(&rows, w.community_a)["funds"], 450.0);
    assert_eq!(row(&rows, c2)["teams"], 1.0);
    assert_eq!(row(&rows, c2)["projects"], 0.0);
    // The street admin of A may not see the district; the platform admin may.
    side(w.district).await.expect_error("FORBIDDEN");
    let mut vars = period.clone();
    vars["r"] = json!(w.district);
    let r = app.gql(w.admin.token(), REGION_INDICES, vars).await;
    let rows = r.data()["regionIndices"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 3);
    assert_eq!(row(&rows, w.community_b)["teams"], 1.0);
    assert_eq!(row(&rows, w.community_b)["points"], 9.0);
    assert_eq!(row(&rows, w.community_a)["points"], 70.0);
    assert_eq!(row(&rows, w.community_a)["projects"], 2.0);

    // Who may see them.
    app.gql(w.resident_a.token(), INDICES, period.clone())
        .await
        .expect_error("FORBIDDEN");
    app.gql(w.street_admin_b.token(), INDICES, period.clone())
        .await
        .expect_error("FORBIDDEN");
    let mut vars = period.clone();
    vars["r"] = json!(w.street_a);
    app.gql(w.staff_a.token(), REGION_INDICES, vars)
        .await
        .expect_error("FORBIDDEN");
    // A period that ends before it starts.
    let r = app
        .gql(
            w.staff_a.token(),
            INDICES,
            json!({"c": w.community_a, "from": now, "to": now - Duration::hours(1)}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "to"
    );
}

/// Posts points in the credits ledger: (kind, amount, from member, to
/// member), the issuing account standing in for a missing side; a reversal
/// moves the other way and names the posting it reverses.
async fn post(
    app: &TestApp,
    community: uuid::Uuid,
    (kind, amount, from, to): (PostingKind, i64, Option<uuid::Uuid>, Option<uuid::Uuid>),
    at: chrono::DateTime<Utc>,
    reverses: Option<&entity::credits::posting::Model>,
) -> entity::credits::posting::Model {
    let account = |user: Option<uuid::Uuid>| async move {
        match user {
            Some(u) => ledger::member_account(&app.db, community, u).await,
            None => ledger::issuing_account(&app.db, community).await,
        }
        .map_err(|e| e.message())
        .unwrap()
        .id
    };
    let (mut from, mut to) = (account(from).await, account(to).await);
    if reverses.is_some() {
        std::mem::swap(&mut from, &mut to);
    }
    let mut movement = ledger::Movement::new(kind, amount, from, to, at);
    movement.reverses = reverses.map(|r| r.id);
    let txn = api::db::begin_write(&app.db).await.unwrap();
    let posted = ledger::post(&txn, community, movement)
        .await
        .map_err(|e| e.message())
        .unwrap();
    txn.commit().await.unwrap();
    posted
}

async fn run_to_progress(app: &TestApp, w: &linli::World, project: &str) {
    act(app, &w.staff_a, "submitProject", project).await.data();
    review(app, &w.street_admin_a, project, 80).await.data();
    act(app, &w.staff_a, "selectProject", project).await.data();
    act(app, &w.staff_a, "startProject", project).await.data();
}

backend_tests!(
    organisations_and_their_representatives,
    the_four_indices_have_exact_values
);
