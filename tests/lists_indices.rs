//! Organisations and the four indices: exact values on seeded data, per
//! community and side by side for a street and a district.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lists_support;

use api::policy::Role;
use chrono::{Duration, TimeZone, Utc};
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
    assert_eq!(i["points"], 0.0);

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
            i["funds"].as_f64()
        ),
        (Some(1.0), Some(0.0), Some(0.0))
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
