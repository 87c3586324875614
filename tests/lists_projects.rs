//! Projects (DESIGN §3): the lifecycle from DRAFT to EVALUATED and every
//! refused move, the street's review and library, reservations that are
//! never over-committed (also under concurrent pledging), ratings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::lists_support;

use api::policy::Role;
use entity::org::region_officer::OfficerRole;
use futures_util::future::join_all;
use linli::{Backend, TestApp, backend_tests};
use lists_support::*;
use serde_json::{Value, json};

const RATE: &str = r#"mutation($p: ID!, $s: Int!, $c: String) { rateProject(projectId: $p, score: $s, comment: $c) { id averageRating ratingCount myRating { score comment asObserver } } }"#;

fn pledge_of<'a>(project: &'a Value, resource: &str) -> &'a Value {
    project["pledges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["resource"]["id"] == resource)
        .expect("pledge")
}

async fn a_project_runs_from_draft_to_evaluated(app: TestApp) {
    let w = app.world().await;
    let observer = app.create_user("民生观察员", false).await;
    app.appoint(w.street_a, &observer, OfficerRole::Observer)
        .await;
    let n1 = accepted_need(&app, &w.resident_a, &w.staff_a, w.community_a, "老人助餐").await;
    let n2 = accepted_need(&app, &w.resident_a, &w.staff_a, w.community_a, "上门理发").await;
    let meals = resource(
        &app,
        &w.resident_a,
        w.community_a,
        "助餐服务",
        "SERVICE",
        10,
        &[],
    )
    .await;
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

    let p = project(
        &app,
        &w.staff_a,
        w.community_a,
        "银龄关爱",
        &[&n1, &n2],
        &[(&meals, 6), (&fund, 40_000)],
        80_000,
    )
    .await;
    let pid = id(&p);
    assert_eq!(p["status"], "DRAFT");
    assert_eq!(p["budgetFen"], 80_000);
    assert!(
        p["needs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["status"] == "MATCHED")
    );
    assert_eq!(pledge_of(&p, &meals)["resource"]["reserved"], 6);
    assert_eq!(pledge_of(&p, &meals)["status"], "RESERVED");

    // Moves the lifecycle does not allow, from DRAFT.
    for m in [
        "selectProject",
        "startProject",
        "completeProject",
        "closeProjectEvaluation",
    ] {
        act(&app, &w.staff_a, m, &pid)
            .await
            .expect_error("INVALID_STATE");
    }
    review(&app, &w.street_admin_a, &pid, 90)
        .await
        .expect_error("INVALID_STATE");
    assert_eq!(
        project_state(&app, &w.staff_a, &pid).await["status"],
        "DRAFT"
    );

    assert_eq!(
        act(&app, &w.staff_a, "submitProject", &pid).await.data()["submitProject"]["status"],
        "SUBMITTED"
    );
    act(&app, &w.staff_a, "submitProject", &pid)
        .await
        .expect_error("INVALID_STATE");
    // Staff cannot review; another street's officer does not see it.
    review(&app, &w.staff_a, &pid, 90)
        .await
        .expect_error("FORBIDDEN");
    review(&app, &w.street_admin_b, &pid, 90)
        .await
        .expect_error("NOT_FOUND");
    let r = review(&app, &w.street_admin_b, &pid, 101).await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "score"
    );
    let r = review(&app, &w.street_admin_a, &pid, 75).await;
    assert_eq!(r.data()["reviewProject"]["status"], "IN_LIBRARY");
    assert_eq!(r.data()["reviewProject"]["reviewScore"], 75);
    review(&app, &w.street_admin_a, &pid, 75)
        .await
        .expect_error("INVALID_STATE");
    act(&app, &w.staff_a, "startProject", &pid)
        .await
        .expect_error("INVALID_STATE");
    // Volunteer activities organised for the project are listed with it.
    let starts = chrono::Utc::now() + chrono::Duration::days(1);
    app.gql(
        w.staff_a.token(),
        r#"mutation($c: ID!, $p: ID, $s: DateTime!, $e: DateTime!) { createActivity(communityId: $c, title: "送餐志愿", startsAt: $s, endsAt: $e, capacity: 5, pointsPerHour: 10, projectId: $p) { id } }"#,
        json!({"c": w.community_a, "p": pid, "s": starts, "e": starts + chrono::Duration::hours(2)}),
    )
    .await
    .data();
    let r = app
        .gql(
            w.resident_a.token(),
            "query($id: ID!) { project(id: $id) { activities { title } } }",
            json!({"id": pid}),
        )
        .await;
    assert_eq!(
        r.data()["project"]["activities"],
        json!([{"title": "送餐志愿"}])
    );

    // The library of street A lists it; its staff and officers see it.
    const LIBRARY: &str = "query($s: ID!) { projectLibrary(streetId: $s) { totalCount edges { node { id title } } } }";
    let r = app
        .gql(w.staff_a.token(), LIBRARY, json!({"s": w.street_a}))
        .await;
    assert_eq!(
        r.data()["projectLibrary"]["edges"][0]["node"]["id"],
        pid.as_str()
    );
    app.gql(observer.token(), LIBRARY, json!({"s": w.street_a}))
        .await
        .data();
    app.gql(w.staff_b.token(), LIBRARY, json!({"s": w.street_a}))
        .await
        .expect_error("FORBIDDEN");
    app.gql(w.resident_a.token(), LIBRARY, json!({"s": w.street_a}))
        .await
        .expect_error("FORBIDDEN");
    // Another street's staff cannot select it.
    app.gql(
        w.staff_b.token(),
        "mutation($p: ID!, $c: ID) { selectProject(projectId: $p, communityId: $c) { id } }",
        json!({"p": pid, "c": w.community_b}),
    )
    .await
    .expect_error("NOT_FOUND");
    app.gql(
        w.resident_a.token(),
        "mutation($p: ID!, $c: ID) { selectProject(projectId: $p, communityId: $c) { id } }",
        json!({"p": pid, "c": w.community_a}),
    )
    .await
    .expect_error("FORBIDDEN");

    assert_eq!(
        act(&app, &w.staff_a, "selectProject", &pid).await.data()["selectProject"]["status"],
        "SELECTED"
    );
    act(&app, &w.staff_a, "selectProject", &pid)
        .await
        .expect_error("INVALID_STATE");
    // Ratings only once completed.
    app.gql(w.resident_a.token(), RATE, json!({"p": pid, "s": 5}))
        .await
        .expect_error("INVALID_STATE");

    assert_eq!(
        act(&app, &w.staff_a, "startProject", &pid).await.data()["startProject"]["status"],
        "IN_PROGRESS"
    );
    let s = project_state(&app, &w.staff_a, &pid).await;
    assert!(
        s["needs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["status"] == "IN_PROGRESS"),
        "{s}"
    );
    act(&app, &w.staff_a, "startProject", &pid)
        .await
        .expect_error("INVALID_STATE");

    // Completing: usage beyond the pledge is refused and changes nothing.
    const COMPLETE: &str = r#"mutation($p: ID!, $u: [PledgeUsageInput!], $s: Int) { completeProject(projectId: $p, usage: $u, spentFen: $s) { id status spentFen } }"#;
    let r = app
        .gql(
            w.staff_a.token(),
            COMPLETE,
            json!({"p": pid, "u": [{"resourceId": meals, "usedQuantity": 7}]}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "usage"
    );
    assert_eq!(
        project_state(&app, &w.staff_a, &pid).await["status"],
        "IN_PROGRESS"
    );
    let r = app
        .gql(
            w.staff_a.token(),
            COMPLETE,
            json!({"p": pid, "u": [{"resourceId": meals, "usedQuantity": 4}], "s": 35_000}),
        )
        .await;
    assert_eq!(r.data()["completeProject"]["status"], "COMPLETED");
    let s = project_state(&app, &w.staff_a, &pid).await;
    assert_eq!(s["spentFen"], 35_000);
    assert!(
        s["needs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["status"] == "FULFILLED")
    );
    // 4 of 6 meals used, 2 released; the fund's pledge was used in full.
    let meals_pledge = pledge_of(&s, &meals);
    assert_eq!(meals_pledge["status"], "CONSUMED");
    assert_eq!(meals_pledge["usedQuantity"], 4);
    assert_eq!(meals_pledge["resource"]["reserved"], 0);
    assert_eq!(meals_pledge["resource"]["used"], 4);
    assert_eq!(meals_pledge["resource"]["status"], "AVAILABLE");
    assert_eq!(pledge_of(&s, &fund)["resource"]["used"], 40_000);
    act(&app, &w.staff_a, "completeProject", &pid)
        .await
        .expect_error("INVALID_STATE");

    // Ratings: residents and observers, one each, changeable; average and count.
    let r = app
        .gql(
            w.resident_a.token(),
            RATE,
            json!({"p": pid, "s": 2, "c": "还行"}),
        )
        .await;
    assert_eq!(r.data()["rateProject"]["ratingCount"], 1);
    let r = app
        .gql(
            w.resident_a.token(),
            RATE,
            json!({"p": pid, "s": 4, "c": "很好"}),
        )
        .await;
    assert_eq!(
        r.data()["rateProject"]["ratingCount"],
        1,
        "one rating per person"
    );
    assert_eq!(r.data()["rateProject"]["myRating"]["score"], 4);
    let r = app
        .gql(observer.token(), RATE, json!({"p": pid, "s": 5}))
        .await;
    assert_eq!(r.data()["rateProject"]["ratingCount"], 2);
    assert_eq!(r.data()["rateProject"]["averageRating"], 4.5);
    assert_eq!(r.data()["rateProject"]["myRating"]["asObserver"], true);
    for bad in [0, 6] {
        let r = app
            .gql(w.resident_a.token(), RATE, json!({"p": pid, "s": bad}))
            .await;
        assert_eq!(
            r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
            "score"
        );
    }
    // Staff without the resident role, grid workers and other communities may not rate.
    app.gql(w.grid_a.token(), RATE, json!({"p": pid, "s": 1}))
        .await
        .expect_error("FORBIDDEN");
    app.gql(w.resident_b.token(), RATE, json!({"p": pid, "s": 1}))
        .await
        .expect_error("NOT_FOUND");
    assert_eq!(
        project_state(&app, &w.staff_a, &pid).await["ratingCount"],
        2
    );

    // Residents cannot close the evaluation; staff can; then ratings are final.
    act(&app, &w.resident_a, "closeProjectEvaluation", &pid)
        .await
        .expect_error("FORBIDDEN");
    assert_eq!(
        act(&app, &w.staff_a, "closeProjectEvaluation", &pid)
            .await
            .data()["closeProjectEvaluation"]["status"],
        "EVALUATED"
    );
    app.gql(w.resident_a.token(), RATE, json!({"p": pid, "s": 1}))
        .await
        .expect_error("INVALID_STATE");
    let s = project_state(&app, &w.resident_a, &pid).await;
    assert_eq!(s["averageRating"], 4.5);
    assert_eq!(s["ratingCount"], 2);
    // Each step was audited.
    let actions: Vec<String> = audit_entries(&app, &pid)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "create",
            "submit",
            "review_pass",
            "select",
            "start",
            "complete",
            "rate",
            "rerate",
            "rate",
            "close_evaluation"
        ]
    );
}

async fn rejection_and_removal_release_reservations(app: TestApp) {
    let w = app.world().await;
    let n = accepted_need(&app, &w.resident_a, &w.staff_a, w.community_a, "助餐").await;
    let meals = resource(
        &app,
        &w.resident_a,
        w.community_a,
        "助餐服务",
        "SERVICE",
        5,
        &[],
    )
    .await;
    let p = project(
        &app,
        &w.staff_a,
        w.community_a,
        "助餐一期",
        &[&n],
        &[(&meals, 5)],
        1000,
    )
    .await;
    let pid = id(&p);
    assert_eq!(pledge_of(&p, &meals)["resource"]["status"], "RESERVED");
    // The need is claimed: another project cannot take it.
    let r = app
        .gql(
            w.staff_a.token(),
            CREATE_PROJECT,
            json!({"c": w.community_a, "t": "另一个", "n": [n], "p": [], "b": 0}),
        )
        .await;
    r.expect_error("INVALID_STATE");
    act(&app, &w.staff_a, "submitProject", &pid).await.data();
    // Below the pass mark (60 by default): rejected, units released.
    let r = review(&app, &w.street_admin_a, &pid, 59).await;
    assert_eq!(r.data()["reviewProject"]["status"], "REJECTED");
    let s = project_state(&app, &w.staff_a, &pid).await;
    assert_eq!(pledge_of(&s, &meals)["status"], "RELEASED");
    assert_eq!(pledge_of(&s, &meals)["resource"]["reserved"], 0);
    assert_eq!(pledge_of(&s, &meals)["resource"]["status"], "AVAILABLE");
    for m in ["submitProject", "selectProject", "startProject"] {
        act(&app, &w.staff_a, m, &pid)
            .await
            .expect_error("INVALID_STATE");
    }
    // The need is free again for another project.
    let p2 = project(
        &app,
        &w.staff_a,
        w.community_a,
        "助餐二期",
        &[&n],
        &[(&meals, 3)],
        1000,
    )
    .await;
    let pid2 = id(&p2);
    act(&app, &w.staff_a, "submitProject", &pid2).await.data();
    assert_eq!(
        review(&app, &w.street_admin_a, &pid2, 60).await.data()["reviewProject"]["status"],
        "IN_LIBRARY"
    );
    // 出库 needs a reason and an officer.
    const REMOVE: &str = "mutation($p: ID!, $r: String!) { removeProjectFromLibrary(projectId: $p, reason: $r) { id status removalReason } }";
    let r = app
        .gql(
            w.street_admin_a.token(),
            REMOVE,
            json!({"p": pid2, "r": " "}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "reason"
    );
    app.gql(
        w.staff_a.token(),
        REMOVE,
        json!({"p": pid2, "r": "重复立项"}),
    )
    .await
    .expect_error("FORBIDDEN");
    let r = app
        .gql(
            w.street_admin_a.token(),
            REMOVE,
            json!({"p": pid2, "r": "重复立项"}),
        )
        .await;
    assert_eq!(
        r.data()["removeProjectFromLibrary"]["status"],
        "REMOVED_FROM_LIBRARY"
    );
    assert_eq!(
        r.data()["removeProjectFromLibrary"]["removalReason"],
        "重复立项"
    );
    let s = project_state(&app, &w.staff_a, &pid2).await;
    assert_eq!(pledge_of(&s, &meals)["resource"]["reserved"], 0);
    app.gql(
        w.street_admin_a.token(),
        REMOVE,
        json!({"p": pid2, "r": "再次"}),
    )
    .await
    .expect_error("INVALID_STATE");
    act(&app, &w.staff_a, "selectProject", &pid2)
        .await
        .expect_error("INVALID_STATE");

    // Bad input writes nothing.
    let before = app.count("SELECT COUNT(*) FROM project").await;
    for (field, vars) in [
        (
            "budgetFen",
            json!({"c": w.community_a, "t": "x", "n": [], "p": [], "b": -1}),
        ),
        (
            "title",
            json!({"c": w.community_a, "t": "", "n": [], "p": [], "b": 0}),
        ),
        (
            "pledges",
            json!({"c": w.community_a, "t": "x", "n": [], "p": [{"resourceId": meals, "quantity": 0}], "b": 0}),
        ),
        (
            "pledges",
            json!({"c": w.community_a, "t": "x", "n": [], "p": [{"resourceId": meals, "quantity": 1}, {"resourceId": meals, "quantity": 1}], "b": 0}),
        ),
    ] {
        let r = app.gql(w.staff_a.token(), CREATE_PROJECT, vars).await;
        assert_eq!(
            r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
            field
        );
    }
    // Too many units: a conflict, and neither the project nor the need claim is kept.
    let n3 = accepted_need(&app, &w.resident_a, &w.staff_a, w.community_a, "助浴").await;
    let r = app
        .gql(w.staff_a.token(), CREATE_PROJECT, json!({"c": w.community_a, "t": "x", "n": [n3], "p": [{"resourceId": meals, "quantity": 6}], "b": 0}))
        .await;
    r.expect_error("CONFLICT");
    assert_eq!(app.count("SELECT COUNT(*) FROM project").await, before);
    let r = app
        .gql(
            w.staff_a.token(),
            "query($id: ID!) { need(id: $id) { status project { id } } }",
            json!({"id": n3}),
        )
        .await;
    assert_eq!(r.data()["need"]["status"], "ACCEPTED");
    assert_eq!(r.data()["need"]["project"], Value::Null);
    // Another street's resource cannot be pledged; a resident cannot create projects.
    let far = resource(
        &app,
        &w.resident_b,
        w.community_b,
        "远方资源",
        "GOODS",
        5,
        &[],
    )
    .await;
    app.gql(w.staff_a.token(), CREATE_PROJECT, json!({"c": w.community_a, "t": "x", "n": [], "p": [{"resourceId": far, "quantity": 1}], "b": 0}))
        .await
        .expect_error("NOT_FOUND");
    app.gql(
        w.resident_a.token(),
        CREATE_PROJECT,
        json!({"c": w.community_a, "t": "x", "n": [], "p": [], "b": 0}),
    )
    .await
    .expect_error("FORBIDDEN");
    assert_eq!(app.count("SELECT COUNT(*) FROM project").await, before);
}

async fn concurrent_pledges_never_over_reserve(app: TestApp) {
    let w = app.world().await;
    // Two projects pledge the last 3 units at the same moment: one wins.
    let r = resource(
        &app,
        &w.resident_a,
        w.community_a,
        "活动桌椅",
        "GOODS",
        3,
        &[],
    )
    .await;
    let attempts = (0..2).map(|i| {
        app.gql(
            w.staff_a.token(),
            CREATE_PROJECT,
            json!({"c": w.community_a, "t": format!("抢占{i}"), "n": [], "p": [{"resourceId": r, "quantity": 3}], "b": 0}),
        )
    });
    let results = join_all(attempts).await;
    let won = results.iter().filter(|r| r.error_code().is_none()).count();
    assert_eq!(won, 1, "{results:?}");
    for loser in results.iter().filter(|r| r.error_code().is_some()) {
        loser.expect_error("CONFLICT");
    }
    // Many projects pledging one unit each of five: exactly five succeed.
    let r5 = resource(
        &app,
        &w.resident_a,
        w.community_a,
        "共享雨伞",
        "GOODS",
        5,
        &[],
    )
    .await;
    let attempts = (0..8).map(|i| {
        app.gql(
            w.staff_a.token(),
            CREATE_PROJECT,
            json!({"c": w.community_a, "t": format!("雨伞{i}"), "n": [], "p": [{"resourceId": r5, "quantity": 1}], "b": 0}),
        )
    });
    let results = join_all(attempts).await;
    assert_eq!(
        results.iter().filter(|r| r.error_code().is_none()).count(),
        5
    );
    let state = app
        .gql(
            w.resident_a.token(),
            "query($id: ID!) { resource(id: $id) { reserved remaining status } }",
            json!({"id": r5}),
        )
        .await;
    assert_eq!(state.data()["resource"]["reserved"], 5);
    assert_eq!(state.data()["resource"]["remaining"], 0);
    assert_eq!(state.data()["resource"]["status"], "RESERVED");
    assert_eq!(app.count("SELECT COUNT(*) FROM pledge").await, 6);
    assert_eq!(
        app.count("SELECT COALESCE(SUM(quantity), 0) FROM pledge")
            .await,
        8
    );
    // Pledges of the same resources in opposite orders, at once, all succeed
    // (rows are locked in one order, no deadlock).
    let a = resource(&app, &w.resident_a, w.community_a, "音响", "GOODS", 6, &[]).await;
    let b = resource(
        &app,
        &w.resident_a,
        w.community_a,
        "投影仪",
        "GOODS",
        6,
        &[],
    )
    .await;
    let attempts = (0..6).map(|i| {
        let (x, y) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        app.gql(
            w.staff_a.token(),
            CREATE_PROJECT,
            json!({"c": w.community_a, "t": format!("晚会{i}"), "n": [],
                   "p": [{"resourceId": x, "quantity": 1}, {"resourceId": y, "quantity": 1}], "b": 0}),
        )
    });
    let results = join_all(attempts).await;
    assert!(
        results.iter().all(|r| r.error_code().is_none()),
        "{results:?}"
    );
    // The database itself refuses over-reservation.
    let sql = "UPDATE resource SET reserved = reserved + 1";
    let err = sea_orm::ConnectionTrait::execute_unprepared(&app.db, sql).await;
    assert!(err.is_err(), "CHECK (reserved + used <= quantity)");
}

async fn a_stricter_pass_mark(backend: Backend) {
    let Some(app) = linli::spawn_app_with(backend, |s| s.project_pass_mark = 80).await else {
        linli::report_postgres_skipped("a_stricter_pass_mark");
        return;
    };
    let w = app.world().await;
    let make = |title: &'static str| {
        let app = &app;
        let staff = w.staff_a.clone();
        async move {
            let p = project(app, &staff, w.community_a, title, &[], &[], 0).await;
            let pid = id(&p);
            act(app, &staff, "submitProject", &pid).await.data();
            pid
        }
    };
    let low = make("七十分").await;
    assert_eq!(
        review(&app, &w.street_admin_a, &low, 79).await.data()["reviewProject"]["status"],
        "REJECTED"
    );
    let high = make("八十分").await;
    assert_eq!(
        review(&app, &w.street_admin_a, &high, 80).await.data()["reviewProject"]["status"],
        "IN_LIBRARY"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_mark_sqlite() {
    a_stricter_pass_mark(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_mark_postgres() {
    a_stricter_pass_mark(Backend::Postgres).await;
}

async fn another_community_of_the_street_selects_and_delivers(app: TestApp) {
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
    let resident2 = app.member(c2, "甲二居民", &[Role::Resident], &staff2).await;
    let p = project(
        &app,
        &w.staff_a,
        w.community_a,
        "四点半课堂",
        &[],
        &[],
        50_000,
    )
    .await;
    let pid = id(&p);
    act(&app, &w.staff_a, "submitProject", &pid).await.data();
    review(&app, &w.street_admin_a, &pid, 88).await.data();
    // The neighbouring community's staff see it in the library and pick it.
    let r = act(&app, &staff2, "selectProject", &pid).await;
    assert_eq!(r.data()["selectProject"]["status"], "SELECTED");
    let r = app
        .gql(staff2.token(), "query($c: ID!) { projects(communityId: $c) { totalCount edges { node { id selectedBy { id } } } } }", json!({"c": c2}))
        .await;
    assert_eq!(r.data()["projects"]["totalCount"], 1);
    assert_eq!(
        r.data()["projects"]["edges"][0]["node"]["selectedBy"]["id"],
        c2.to_string()
    );
    // The delivering community runs it; the creating one no longer can.
    act(&app, &w.staff_a, "startProject", &pid)
        .await
        .expect_error("FORBIDDEN");
    act(&app, &staff2, "startProject", &pid).await.data();
    act(&app, &staff2, "completeProject", &pid).await.data();
    // Its residents rate it; the creating community's residents do not.
    app.gql(resident2.token(), RATE, json!({"p": pid, "s": 5}))
        .await
        .data();
    app.gql(w.resident_a.token(), RATE, json!({"p": pid, "s": 1}))
        .await
        .expect_error("FORBIDDEN");
}

async fn a_used_up_resource_is_exhausted_until_restocked(app: TestApp) {
    let w = app.world().await;
    let chairs = resource(
        &app,
        &w.resident_a,
        w.community_a,
        "折叠椅",
        "GOODS",
        2,
        &[],
    )
    .await;
    const STATE: &str =
        "query($id: ID!) { resource(id: $id) { quantity reserved used remaining status } }";
    const WITHDRAW: &str = "mutation($r: ID!) { withdrawResource(resourceId: $r) { status } }";
    const RESTOCK: &str = "mutation($r: ID!, $q: Int!) { restockResource(resourceId: $r, quantity: $q) { quantity remaining status } }";
    let p = id(&project(
        &app,
        &w.staff_a,
        w.community_a,
        "广场舞",
        &[],
        &[(&chairs, 2)],
        0,
    )
    .await);
    // Fully pledged: RESERVED, and it cannot be withdrawn while the project may use it.
    let r = app
        .gql(w.resident_a.token(), STATE, json!({"id": chairs}))
        .await;
    assert_eq!(r.data()["resource"]["status"], "RESERVED");
    app.gql(w.resident_a.token(), WITHDRAW, json!({"r": chairs}))
        .await
        .expect_error("INVALID_STATE");
    act(&app, &w.staff_a, "submitProject", &p).await.data();
    review(&app, &w.street_admin_a, &p, 90).await.data();
    act(&app, &w.staff_a, "selectProject", &p).await.data();
    act(&app, &w.staff_a, "startProject", &p).await.data();
    act(&app, &w.staff_a, "completeProject", &p).await.data();
    let r = app
        .gql(w.resident_a.token(), STATE, json!({"id": chairs}))
        .await;
    assert_eq!(
        r.data()["resource"],
        json!({"quantity": 2, "reserved": 0, "used": 2, "remaining": 0, "status": "EXHAUSTED"})
    );
    app.gql(w.resident_a.token(), WITHDRAW, json!({"r": chairs}))
        .await
        .expect_error("INVALID_STATE");
    let r = app
        .gql(w.resident_a.token(), RESTOCK, json!({"r": chairs, "q": 0}))
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "quantity"
    );
    let r = app
        .gql(w.resident_a.token(), RESTOCK, json!({"r": chairs, "q": 3}))
        .await;
    assert_eq!(
        r.data()["restockResource"],
        json!({"quantity": 5, "remaining": 3, "status": "AVAILABLE"})
    );
}

backend_tests!(
    activities_and_catalogue_items_link_only_to_their_community,
    a_used_up_resource_is_exhausted_until_restocked,
    a_project_runs_from_draft_to_evaluated,
    rejection_and_removal_release_reservations,
    concurrent_pledges_never_over_reserve,
    another_community_of_the_street_selects_and_delivers,
);

/// Time credits link to the lists: an activity serves a project of its
/// community, a catalogue item comes from a resource of its community.
async fn activities_and_catalogue_items_link_only_to_their_community(app: TestApp) {
    let w = app.world().await;
    let meals = resource(
        &app,
        &w.resident_a,
        w.community_a,
        "助餐服务",
        "SERVICE",
        10,
        &[],
    )
    .await;
    let need = accepted_need(&app, &w.resident_a, &w.staff_a, w.community_a, "老人助餐").await;
    let p = project(
        &app,
        &w.staff_a,
        w.community_a,
        "银龄关爱",
        &[&need],
        &[(&meals, 2)],
        1_000,
    )
    .await;
    let other_resource = resource(
        &app,
        &w.resident_b,
        w.community_b,
        "乙社区场地",
        "VENUE",
        1,
        &[],
    )
    .await;
    let starts = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let ends =
        (chrono::Utc::now() + chrono::Duration::days(1) + chrono::Duration::hours(2)).to_rfc3339();
    let create_activity = |community: uuid::Uuid, project: Value| json!({"c": community, "t": "助餐志愿", "s": starts, "e": ends, "cap": 5, "pph": 10, "p": project});
    let activity = "mutation($c: ID!, $t: String!, $s: DateTime!, $e: DateTime!, $cap: Int!, $pph: Int!, $p: ID) { createActivity(communityId: $c, title: $t, startsAt: $s, endsAt: $e, capacity: $cap, pointsPerHour: $pph, projectId: $p) { id projectId } }";
    let ok = app
        .gql(
            w.staff_a.token(),
            activity,
            create_activity(w.community_a, json!(id(&p))),
        )
        .await;
    assert_eq!(ok.data()["createActivity"]["projectId"], json!(id(&p)));
    // Another community's project, or none at all: refused, nothing written.
    let before = app.count("SELECT COUNT(*) FROM activity").await;
    let r = app
        .gql(
            w.staff_b.token(),
            activity,
            create_activity(w.community_b, json!(id(&p))),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "projectId"
    );
    let r = app
        .gql(
            w.staff_a.token(),
            activity,
            create_activity(w.community_a, json!(uuid::Uuid::now_v7())),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "projectId"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM activity").await, before);

    let item = "mutation($c: ID!, $r: ID) { createCatalogItem(communityId: $c, title: \"助餐券\", pricePoints: 10, stock: 5, resourceId: $r) { id } }";
    app.gql(
        w.staff_a.token(),
        item,
        json!({"c": w.community_a, "r": meals}),
    )
    .await
    .data();
    let r = app
        .gql(
            w.staff_a.token(),
            item,
            json!({"c": w.community_a, "r": other_resource}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "resourceId"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM catalog_item").await, 1);
}
