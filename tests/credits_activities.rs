//! Volunteer time credits: volunteers and teams, activities (sign-up,
//! waiting list, check-in codes, attendance, confirming service), the
//! catalogue and redemptions, leaderboards and the service record.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::credits_support;

use api::policy::Role;
use api::service::credits::activities::{self, Check};
use chrono::{Duration, Utc};
use credits_support::*;
use linli::{TestApp, backend_tests};
use serde_json::json;
use uuid::Uuid;

async fn volunteer(app: &TestApp, world: &linli::World, name: &str) -> linli::world::Person {
    app.member(
        world.community_a,
        name,
        &[Role::Resident, Role::Volunteer],
        &world.staff_a,
    )
    .await
}

async fn creating_activities_checks_input_and_role(app: TestApp) {
    let world = app.world().await;
    let starts = Utc::now() + Duration::hours(2);
    let ends = starts + Duration::hours(2);
    // Linking to a project is tested with the projects (tests/lists_projects.rs).
    let ok = app
        .gql(
            world.staff_a.token(),
            CREATE_ACTIVITY,
            json!({"c": world.community_a, "t": "敬老院包饺子", "s": starts, "e": ends, "cap": 5, "pph": 12, "p": null}),
        )
        .await;
    assert_eq!(
        ok.data()["createActivity"]["projectId"],
        serde_json::Value::Null
    );
    let unknown_project = app
        .gql(
            world.staff_a.token(),
            CREATE_ACTIVITY,
            json!({"c": world.community_a, "t": "敬老院包饺子", "s": starts, "e": ends, "cap": 5, "pph": 12, "p": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(
        unknown_project.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "projectId"
    );
    let cases = [
        (json!({"t": " "}), "title"),
        (json!({"s": Utc::now() - Duration::hours(1)}), "startsAt"),
        (json!({"e": starts - Duration::minutes(1)}), "endsAt"),
        (json!({"e": starts + Duration::hours(25)}), "endsAt"),
        (json!({"cap": 0}), "capacity"),
        (json!({"pph": -1}), "pointsPerHour"),
        (json!({"p": "bad"}), "projectId"),
    ];
    for (patch, field) in cases {
        let mut vars = json!({"c": world.community_a, "t": "活动", "s": starts, "e": ends, "cap": 5, "pph": 12, "p": null});
        for (k, v) in patch.as_object().unwrap() {
            vars[k] = v.clone();
        }
        let r = app.gql(world.staff_a.token(), CREATE_ACTIVITY, vars).await;
        assert_eq!(
            r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
            field
        );
    }
    let vars = json!({"c": world.community_a, "t": "活动", "s": starts, "e": ends, "cap": 5, "pph": 12, "p": null});
    app.gql(world.resident_a.token(), CREATE_ACTIVITY, vars.clone())
        .await
        .expect_error("FORBIDDEN");
    app.gql(world.staff_b.token(), CREATE_ACTIVITY, vars)
        .await
        .expect_error("FORBIDDEN");
    assert_eq!(app.count("SELECT COUNT(*) FROM activity").await, 1);
}

async fn sign_up_fills_places_then_the_waiting_list_which_moves_up(app: TestApp) {
    let world = app.world().await;
    let activity = future_activity(&app, &world, 2, 60, 10).await;
    let a = volunteer(&app, &world, "甲").await;
    let b = volunteer(&app, &world, "乙").await;
    let c = volunteer(&app, &world, "丙").await;
    let r = sign_up(&app, &a, &activity).await;
    assert_eq!(
        r.data()["signUpActivity"]["mySignUp"]["status"],
        "SIGNED_UP"
    );
    sign_up(&app, &b, &activity).await.data();
    let r = sign_up(&app, &c, &activity).await;
    assert_eq!(
        r.data()["signUpActivity"]["mySignUp"]["status"],
        "WAITLISTED"
    );
    assert_eq!(r.data()["signUpActivity"]["signedUpCount"], 2);
    assert_eq!(r.data()["signUpActivity"]["waitlistCount"], 1);
    sign_up(&app, &a, &activity).await.expect_error("CONFLICT");
    // Only volunteers sign up.
    sign_up(&app, &world.resident_a, &activity)
        .await
        .expect_error("FORBIDDEN");
    sign_up(&app, &world.resident_b, &activity)
        .await
        .expect_error("NOT_FOUND");
    // A place freed goes to the first on the waiting list.
    let cancel = "mutation($a: ID!) { cancelSignUp(activityId: $a) { id mySignUp { status } } }";
    let r = app.gql(a.token(), cancel, json!({"a": activity})).await;
    assert_eq!(r.data()["cancelSignUp"]["mySignUp"]["status"], "CANCELLED");
    let mine =
        "query($a: ID!) { activity(id: $a) { signedUpCount waitlistCount mySignUp { status } } }";
    let r = app.gql(c.token(), mine, json!({"a": activity})).await;
    assert_eq!(r.data()["activity"]["mySignUp"]["status"], "SIGNED_UP");
    assert_eq!(r.data()["activity"]["waitlistCount"], 0);
    // Signing up again queues at the back.
    let r = sign_up(&app, &a, &activity).await;
    assert_eq!(
        r.data()["signUpActivity"]["mySignUp"]["status"],
        "WAITLISTED"
    );
    app.gql(a.token(), cancel, json!({"a": activity}))
        .await
        .data();
    app.gql(a.token(), cancel, json!({"a": activity}))
        .await
        .expect_error("INVALID_STATE");
    // Once started, no more sign-ups or cancellations.
    move_to_past(&app, &activity, 1).await;
    sign_up(&app, &a, &activity)
        .await
        .expect_error("INVALID_STATE");
    app.gql(b.token(), cancel, json!({"a": activity}))
        .await
        .expect_error("INVALID_STATE");
}

async fn concurrent_sign_ups_never_exceed_capacity(app: TestApp) {
    let world = app.world().await;
    let activity = future_activity(&app, &world, 3, 60, 10).await;
    let mut people = Vec::new();
    for i in 0..8 {
        people.push(volunteer(&app, &world, &format!("抢位{i}")).await);
    }
    let responses =
        futures_util::future::join_all(people.iter().map(|p| sign_up(&app, p, &activity))).await;
    let signed = responses
        .iter()
        .filter(|r| r.data()["signUpActivity"]["mySignUp"]["status"] == "SIGNED_UP")
        .count();
    assert_eq!(signed, 3);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM activity_signup WHERE status = 'WAITLISTED'")
            .await,
        5
    );
}

async fn check_in_codes_work_only_around_the_activity(app: TestApp) {
    let world = app.world().await;
    // Starts in 20 minutes: inside the check-in window.
    let starts = Utc::now() + Duration::minutes(20);
    let r = app
        .gql(
            world.staff_a.token(),
            CREATE_ACTIVITY,
            json!({"c": world.community_a, "t": "社区义诊", "s": starts, "e": starts + Duration::hours(2), "cap": 5, "pph": 10}),
        )
        .await;
    let activity = r.data()["createActivity"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = volunteer(&app, &world, "签到者").await;
    let w = volunteer(&app, &world, "未报名").await;
    sign_up(&app, &v, &activity).await.data();
    let show = "mutation($a: ID!) { showCheckInCode(activityId: $a) { code expiresAt } }";
    // Only the organiser (or staff) shows the code.
    app.gql(v.token(), show, json!({"a": activity}))
        .await
        .expect_error("FORBIDDEN");
    let r = app
        .gql(world.staff_a.token(), show, json!({"a": activity}))
        .await;
    let code = r.data()["showCheckInCode"]["code"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(code.len(), 6);
    let check_in = "mutation($a: ID!, $code: String!) { checkInActivity(activityId: $a, code: $code) { status checkedInAt checkedOutAt } }";
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = app
        .gql(v.token(), check_in, json!({"a": activity, "code": wrong}))
        .await;
    assert_eq!(
        r.expect_reason("BAD_USER_INPUT", "CHECK_IN_CODE_WRONG")["extensions"]["field"],
        "code"
    );
    let r = app
        .gql(v.token(), check_in, json!({"a": activity, "code": code}))
        .await;
    assert!(r.data()["checkInActivity"]["checkedInAt"].is_string());
    app.gql(v.token(), check_in, json!({"a": activity, "code": code}))
        .await
        .expect_reason("INVALID_STATE", "ALREADY_CHECKED_IN");
    // Without a sign-up there is nothing to check in.
    app.gql(w.token(), check_in, json!({"a": activity, "code": code}))
        .await
        .expect_reason("INVALID_STATE", "NOT_SIGNED_UP");
    let check_out = "mutation($a: ID!, $code: String!) { checkOutActivity(activityId: $a, code: $code) { checkedOutAt } }";
    let r = app
        .gql(v.token(), check_out, json!({"a": activity, "code": code}))
        .await;
    assert!(r.data()["checkOutActivity"]["checkedOutAt"].is_string());
    // Far from the activity, no code is shown and none works.
    let far = future_activity(&app, &world, 5, 60, 10).await;
    move_to_past(&app, &far, -5).await;
    app.gql(world.staff_a.token(), show, json!({"a": far}))
        .await
        .expect_error("INVALID_STATE");
    // An expired code is refused (checked as of a later time).
    let id = Uuid::parse_str(&activity).unwrap();
    let later = Utc::now() + Duration::minutes(11);
    let err = activities::check_with_code(&app.db, &app.actor(w.id), id, &code, Check::In, later)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code().as_str(), "BAD_USER_INPUT");
}

async fn confirming_service_posts_points_by_the_rules(app: TestApp) {
    let world = app.world().await;
    let activity = future_activity(&app, &world, 5, 120, 10).await;
    let a = volunteer(&app, &world, "服务甲").await;
    let b = volunteer(&app, &world, "服务乙").await;
    let c = volunteer(&app, &world, "服务丙").await;
    let d = volunteer(&app, &world, "服务丁").await;
    for p in [&a, &b, &c, &d] {
        sign_up(&app, p, &activity).await.data();
    }
    // Not yet ended: nothing to confirm.
    let early = app
        .gql(
            world.staff_a.token(),
            CONFIRM,
            json!({"a": activity, "records": [{"userId": a.id, "minutes": 60}], "key": "early"}),
        )
        .await;
    early.expect_error("INVALID_STATE");
    attend(&app, &world, &activity, &a, 0, 120).await;
    attend(&app, &world, &activity, &b, 30, 90).await;
    // c checks in and never checks out.
    let id = Uuid::parse_str(&activity).unwrap();
    let row = {
        use sea_orm::EntityTrait;
        entity::credits::activity::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
    };
    activities::check_by_organiser(
        &app.db,
        &app.actor(world.staff_a.id),
        id,
        c.id,
        Check::In,
        row.starts_at + Duration::minutes(10),
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    // The activity ended an hour ago: confirming closes the open check-in
    // at the end and flags it.
    let confirm = |records: serde_json::Value, key: &str| {
        app.gql(
            world.staff_a.token(),
            CONFIRM,
            json!({"a": activity, "records": records, "key": key}),
        )
    };
    // Minutes that differ from the attendance need a reason.
    let r = confirm(json!([{"userId": b.id, "minutes": 90}]), "k-b1").await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "reason"
    );
    // Nobody confirms their own minutes.
    let staff_volunteer = world.staff_a.id;
    confirm(
        json!([{"userId": staff_volunteer, "minutes": 60}]),
        "k-self",
    )
    .await
    .expect_error("FORBIDDEN");
    // Bad minutes.
    let r = confirm(json!([{"userId": a.id, "minutes": 0}]), "k-zero").await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "records"
    );
    let r = confirm(json!([{"userId": a.id, "minutes": 121}]), "k-long").await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "records"
    );
    // No attendance at all.
    confirm(json!([{"userId": d.id, "minutes": 60}]), "k-d")
        .await
        .expect_error("INVALID_STATE");
    // Someone who never signed up (not even a member).
    confirm(
        json!([{"userId": world.outsider.id, "minutes": 60}]),
        "k-out",
    )
    .await
    .expect_error("INVALID_STATE");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM posting").await,
        0,
        "nothing written"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM point_account WHERE kind = 'MEMBER'")
            .await,
        0,
        "no account opened by a refused confirmation"
    );

    let records = json!([
        {"userId": a.id, "minutes": 120},
        {"userId": b.id, "minutes": 90, "reason": "提前到场布置"},
        {"userId": c.id, "minutes": 110}
    ]);
    let r = confirm(records.clone(), "k-main").await;
    let postings = r.data()["confirmService"].as_array().unwrap().clone();
    let amounts: Vec<i64> = postings
        .iter()
        .map(|p| p["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![20, 15, 18], "minutes × points per hour / 60");
    assert!(postings.iter().all(|p| p["kind"] == "EARN"));
    // The same key and records replay; other records with it conflict.
    let again = confirm(records, "k-main").await;
    assert_eq!(again.data()["confirmService"], r.data()["confirmService"]);
    confirm(json!([{"userId": d.id, "minutes": 1}]), "k-main")
        .await
        .expect_error("CONFLICT");
    // Confirmed once only.
    confirm(json!([{"userId": a.id, "minutes": 120}]), "k-a2")
        .await
        .expect_error("INVALID_STATE");
    let mine = app
        .gql(a.token(), MY_ACCOUNT, json!({"c": world.community_a}))
        .await;
    assert_eq!(mine.data()["myAccount"]["balance"], 20);
    assert_eq!(mine.data()["myAccount"]["minutesServed"], 120);
    // Staff see c's attendance flagged.
    let signups = app
        .gql(
            world.staff_a.token(),
            "query($a: ID!) { activitySignUps(activityId: $a) { user { id } autoClosed confirmedMinutes correctionReason } }",
            json!({"a": activity}),
        )
        .await;
    let rows = signups.data()["activitySignUps"]
        .as_array()
        .unwrap()
        .clone();
    let flagged: Vec<_> = rows.iter().filter(|r| r["autoClosed"] == true).collect();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0]["user"]["id"], c.id.to_string());
    assert!(
        rows.iter()
            .any(|r| r["correctionReason"] == "提前到场布置" && r["confirmedMinutes"] == 90)
    );
    // Residents cannot confirm.
    app.gql(
        world.resident_a.token(),
        CONFIRM,
        json!({"a": activity, "records": [{"userId": d.id, "minutes": 10}], "key": "k-res"}),
    )
    .await
    .expect_error("FORBIDDEN");
    // Reversing an EARN takes back points and minutes.
    let first = postings[0]["id"].as_str().unwrap();
    app.gql(
        world.staff_a.token(),
        REVERSE,
        json!({"p": first, "reason": "时长录错", "key": "rev-earn"}),
    )
    .await
    .data();
    let mine = app
        .gql(a.token(), MY_ACCOUNT, json!({"c": world.community_a}))
        .await;
    assert_eq!(mine.data()["myAccount"]["balance"], 0);
    assert_eq!(mine.data()["myAccount"]["minutesServed"], 0);
    assert_ledger_invariants(&app).await;
}

async fn overlapping_service_and_the_daily_cap(app: TestApp) {
    let world = app.world().await;
    set_rules(&app, &world, json!({"dailyCapMinutes": 130})).await;
    let v = volunteer(&app, &world, "连轴转").await;
    let first = future_activity(&app, &world, 5, 120, 10).await;
    let second = future_activity(&app, &world, 5, 120, 10).await;
    sign_up(&app, &v, &first).await.data();
    sign_up(&app, &v, &second).await.data();
    // Both moved to the same hours of the past: they overlap.
    attend(&app, &world, &first, &v, 0, 120).await;
    attend(&app, &world, &second, &v, 0, 120).await;
    let confirm = |activity: &str, minutes: i64, key: &str| {
        app.gql(
            world.staff_a.token(),
            CONFIRM,
            json!({"a": activity, "records": [{"userId": v.id, "minutes": minutes}], "key": key}),
        )
    };
    confirm(&first, 120, "o-1").await.data();
    confirm(&second, 120, "o-2")
        .await
        .expect_error("INVALID_STATE");
    // A third activity the same day, not overlapping: only 10 minutes
    // remain under the cap of 130.
    let third = future_activity(&app, &world, 5, 30, 60).await;
    sign_up(&app, &v, &third).await.data();
    let (starts, ends) = move_to_past(&app, &third, 3).await;
    let first_row = {
        use sea_orm::EntityTrait;
        entity::credits::activity::Entity::find_by_id(Uuid::parse_str(&first).unwrap())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
    };
    let shift = first_row.ends_at - starts + Duration::minutes(1);
    // Put the third after the first (same local day is very likely; the
    // check below depends on it only through the credited minutes).
    {
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::credits::activity::Entity::update_many()
            .col_expr(
                entity::credits::activity::Column::StartsAt,
                Expr::value(starts + shift),
            )
            .col_expr(
                entity::credits::activity::Column::EndsAt,
                Expr::value(ends + shift),
            )
            .filter(entity::credits::activity::Column::Id.eq(Uuid::parse_str(&third).unwrap()))
            .exec(&app.db)
            .await
            .unwrap();
    }
    attend(&app, &world, &third, &v, 0, 30).await;
    let r = confirm(&third, 30, "o-3").await;
    let same_day = {
        let offset = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        first_row.starts_at.with_timezone(&offset).date_naive()
            == (starts + shift).with_timezone(&offset).date_naive()
    };
    let expected = if same_day { 10 } else { 30 };
    assert_eq!(r.data()["confirmService"][0]["amount"], expected);
    let signups = app
        .gql(
            world.staff_a.token(),
            "query($a: ID!) { activitySignUps(activityId: $a) { confirmedMinutes creditedMinutes } }",
            json!({"a": third}),
        )
        .await;
    assert_eq!(signups.data()["activitySignUps"][0]["confirmedMinutes"], 30);
    assert_eq!(
        signups.data()["activitySignUps"][0]["creditedMinutes"],
        expected
    );
    assert_ledger_invariants(&app).await;
}

async fn points_above_the_balance_cap_go_to_the_donation_pool(app: TestApp) {
    let world = app.world().await;
    set_rules(&app, &world, json!({"balanceCap": 25})).await;
    let v = volunteer(&app, &world, "封顶者").await;
    give(&app, &world, &v, 10).await;
    let activity = future_activity(&app, &world, 5, 120, 15).await;
    sign_up(&app, &v, &activity).await.data();
    attend(&app, &world, &activity, &v, 0, 120).await;
    let r = app
        .gql(
            world.staff_a.token(),
            CONFIRM,
            json!({"a": activity, "records": [{"userId": v.id, "minutes": 120}], "key": "cap"}),
        )
        .await;
    let postings = r.data()["confirmService"].as_array().unwrap().clone();
    assert_eq!(postings.len(), 2);
    assert_eq!(postings[0]["amount"], 15);
    assert_eq!(postings[1]["amount"], 15, "the rest to the pool");
    assert_eq!(balance(&app, &v, world.community_a).await, 25);
    assert_eq!(
        app.count("SELECT CAST(balance AS BIGINT) FROM point_account WHERE kind = 'DONATION_POOL'")
            .await,
        15
    );
    // A transfer that would pass the cap is refused.
    let other = volunteer(&app, &world, "转赠者").await;
    give(&app, &world, &other, 5).await;
    transfer(&app, &world, &other, &v, 1, "over-cap")
        .await
        .expect_error("INVALID_STATE");
    assert_ledger_invariants(&app).await;
}

async fn redeeming_reserves_stock_spends_points_and_cancelling_refunds(app: TestApp) {
    let world = app.world().await;
    let item = create_item(&app, &world, "家政服务一小时", 20, 3).await;
    let v = volunteer(&app, &world, "兑换者").await;
    give(&app, &world, &v, 50).await;
    let r = app
        .gql(
            v.token(),
            REDEEM,
            json!({"item": item, "q": 2, "key": "rd-1"}),
        )
        .await;
    let redemption = r.data()["redeem"].clone();
    assert_eq!(redemption["status"], "RESERVED");
    assert_eq!(redemption["points"], 40);
    assert_eq!(redemption["item"]["stock"], 1);
    let code = redemption["pickupCode"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 8);
    assert_eq!(balance(&app, &v, world.community_a).await, 10);
    // Not enough points: nothing reserved.
    app.gql(
        v.token(),
        REDEEM,
        json!({"item": item, "q": 1, "key": "rd-2"}),
    )
    .await
    .expect_error("INVALID_STATE");
    assert_eq!(
        app.count("SELECT CAST(stock AS BIGINT) FROM catalog_item")
            .await,
        1
    );
    // Not enough stock.
    give(&app, &world, &v, 100).await;
    app.gql(
        v.token(),
        REDEEM,
        json!({"item": item, "q": 2, "key": "rd-3"}),
    )
    .await
    .expect_error("INVALID_STATE");
    let r = app
        .gql(
            v.token(),
            REDEEM,
            json!({"item": item, "q": 0, "key": "rd-4"}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "quantity"
    );
    // Others do not see the pick-up code.
    let id = redemption["id"].as_str().unwrap().to_string();
    let cancel =
        "mutation($r: ID!) { cancelRedemption(redemptionId: $r) { id status item { stock } } }";
    app.gql(world.resident_a.token(), cancel, json!({"r": id}))
        .await
        .expect_error("NOT_FOUND");
    let r = app.gql(v.token(), cancel, json!({"r": id})).await;
    assert_eq!(r.data()["cancelRedemption"]["status"], "CANCELLED");
    assert_eq!(r.data()["cancelRedemption"]["item"]["stock"], 3);
    assert_eq!(
        balance(&app, &v, world.community_a).await,
        150,
        "10 + 100 given + 40 refunded"
    );
    app.gql(v.token(), cancel, json!({"r": id}))
        .await
        .expect_error("INVALID_STATE");
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM posting WHERE kind = 'REDEEM' AND reverses_posting_id IS NOT NULL"
        )
        .await,
        1,
        "the refund reverses the REDEEM posting"
    );
    // Fulfilment with the code.
    let r = app
        .gql(
            v.token(),
            REDEEM,
            json!({"item": item, "q": 1, "key": "rd-5"}),
        )
        .await;
    let id = r.data()["redeem"]["id"].as_str().unwrap().to_string();
    let code = r.data()["redeem"]["pickupCode"]
        .as_str()
        .unwrap()
        .to_string();
    let fulfil = "mutation($r: ID!, $code: String!) { fulfilRedemption(redemptionId: $r, pickupCode: $code) { status pickupCode } }";
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let r = app
        .gql(
            world.staff_a.token(),
            fulfil,
            json!({"r": id, "code": wrong}),
        )
        .await;
    assert_eq!(
        r.expect_reason("BAD_USER_INPUT", "PICKUP_CODE_WRONG")["extensions"]["field"],
        "pickupCode"
    );
    app.gql(v.token(), fulfil, json!({"r": id, "code": code}))
        .await
        .expect_error("FORBIDDEN");
    let r = app
        .gql(
            world.staff_a.token(),
            fulfil,
            json!({"r": id, "code": code}),
        )
        .await;
    assert_eq!(r.data()["fulfilRedemption"]["status"], "FULFILLED");
    assert!(
        r.data()["fulfilRedemption"]["pickupCode"].is_null(),
        "staff do not see the code"
    );
    app.gql(v.token(), cancel, json!({"r": id}))
        .await
        .expect_error("INVALID_STATE");
    // Catalogue management is for staff.
    app.gql(
        world.resident_a.token(),
        "mutation($c: ID!) { createCatalogItem(communityId: $c, title: \"x\", pricePoints: 1, stock: 1) { id } }",
        json!({"c": world.community_a}),
    )
    .await
    .expect_error("FORBIDDEN");
    let r = app
        .gql(
            world.staff_a.token(),
            "mutation($c: ID!) { createCatalogItem(communityId: $c, title: \"x\", pricePoints: 0, stock: 1) { id } }",
            json!({"c": world.community_a}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "pricePoints"
    );
    let listed = app
        .gql(
            v.token(),
            "query($c: ID!) { catalogItems(communityId: $c) { totalCount edges { node { title stock pricePoints } } } }",
            json!({"c": world.community_a}),
        )
        .await;
    assert_eq!(listed.data()["catalogItems"]["totalCount"], 1);
    assert_ledger_invariants(&app).await;
}

async fn leaderboards_and_the_service_record(app: TestApp) {
    let world = app.world().await;
    let a = volunteer(&app, &world, "榜首").await;
    let b = volunteer(&app, &world, "榜二").await;
    let c = volunteer(&app, &world, "队外").await;
    let activity = future_activity(&app, &world, 5, 120, 30).await;
    for p in [&a, &b, &c] {
        sign_up(&app, p, &activity).await.data();
    }
    attend(&app, &world, &activity, &a, 0, 120).await;
    attend(&app, &world, &activity, &b, 0, 60).await;
    attend(&app, &world, &activity, &c, 0, 90).await;
    app.gql(
        world.staff_a.token(),
        CONFIRM,
        json!({"a": activity, "records": [
            {"userId": a.id, "minutes": 120},
            {"userId": b.id, "minutes": 60},
            {"userId": c.id, "minutes": 90}
        ], "key": "lb"}),
    )
    .await
    .data();
    // Transfers do not count on the leaderboard.
    give(&app, &world, &b, 500).await;
    let team = app
        .gql(
            world.staff_a.token(),
            "mutation($c: ID!, $l: ID!) { createVolunteerTeam(communityId: $c, name: \"助老服务队\", leaderId: $l) { id members { id } } }",
            json!({"c": world.community_a, "l": a.id}),
        )
        .await;
    let team_id = team.data()["createVolunteerTeam"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The leader adds a member; a resident who is not a volunteer cannot be added.
    app.gql(
        a.token(),
        "mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, userId: $u) { id } }",
        json!({"t": team_id, "u": b.id}),
    )
    .await
    .data();
    let r = app
        .gql(
            a.token(),
            "mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, userId: $u) { id } }",
            json!({"t": team_id, "u": world.resident_a.id}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "userId"
    );
    app.gql(
        c.token(),
        "mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, userId: $u) { id } }",
        json!({"t": team_id, "u": c.id}),
    )
    .await
    .expect_error("FORBIDDEN");

    let board = "query($c: ID!, $f: DateTime!, $t: DateTime!, $team: ID) { leaderboard(communityId: $c, from: $f, to: $t, teamId: $team) { user { id } points minutes rank } }";
    let from = Utc::now() - Duration::days(30);
    let to = Utc::now() + Duration::days(1);
    let r = app
        .gql(
            world.resident_a.token(),
            board,
            json!({"c": world.community_a, "f": from, "t": to, "team": null}),
        )
        .await;
    let rows = r.data()["leaderboard"].as_array().unwrap().clone();
    let summary: Vec<(String, i64, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["user"]["id"].as_str().unwrap().to_string(),
                r["points"].as_i64().unwrap(),
                r["minutes"].as_i64().unwrap(),
                r["rank"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (a.id.to_string(), 60, 120, 1),
            (c.id.to_string(), 45, 90, 2),
            (b.id.to_string(), 30, 60, 3),
        ]
    );
    let r = app
        .gql(
            world.resident_a.token(),
            board,
            json!({"c": world.community_a, "f": from, "t": to, "team": team_id}),
        )
        .await;
    assert_eq!(
        r.data()["leaderboard"].as_array().unwrap().len(),
        2,
        "team members only"
    );
    // A period without service is empty; a reversed period is refused.
    let r = app
        .gql(world.resident_a.token(), board, json!({"c": world.community_a, "f": from - Duration::days(60), "t": from, "team": null}))
        .await;
    assert_eq!(r.data()["leaderboard"].as_array().unwrap().len(), 0);
    let r = app
        .gql(
            world.resident_a.token(),
            board,
            json!({"c": world.community_a, "f": to, "t": from, "team": null}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "to"
    );
    app.gql(
        world.resident_b.token(),
        board,
        json!({"c": world.community_a, "f": from, "t": to, "team": null}),
    )
    .await
    .expect_error("FORBIDDEN");

    // The service record, with its CSV export.
    let record = "query($c: ID!, $u: ID) { serviceRecord(communityId: $c, userId: $u) { totalMinutes totalPoints entries { minutes points activity { title } } csv } }";
    let r = app
        .gql(
            a.token(),
            record,
            json!({"c": world.community_a, "u": null}),
        )
        .await;
    let rec = &r.data()["serviceRecord"];
    assert_eq!(rec["totalMinutes"], 120);
    assert_eq!(rec["totalPoints"], 60);
    assert_eq!(rec["entries"][0]["activity"]["title"], "陪伴独居老人");
    let csv = rec["csv"].as_str().unwrap();
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 3, "header, one activity, total: {csv}");
    assert!(lines[1].contains("陪伴独居老人") && lines[1].contains(",120,60,"));
    assert!(lines[2].contains("合计") && lines[2].contains(",120,60,"));
    // Another volunteer's record is for staff only.
    app.gql(
        b.token(),
        record,
        json!({"c": world.community_a, "u": a.id}),
    )
    .await
    .expect_error("FORBIDDEN");
    let r = app
        .gql(
            world.staff_a.token(),
            record,
            json!({"c": world.community_a, "u": b.id}),
        )
        .await;
    assert_eq!(r.data()["serviceRecord"]["totalPoints"], 30);
}

async fn volunteers_keep_skills_that_staff_can_search(app: TestApp) {
    let world = app.world().await;
    let v = volunteer(&app, &world, "多才").await;
    let set =
        "mutation($c: ID!, $s: [String!]!) { setVolunteerSkills(communityId: $c, skills: $s) }";
    let r = app
        .gql(
            v.token(),
            set,
            json!({"c": world.community_a, "s": ["理发", " 维修家电 ", "理发", ""]}),
        )
        .await;
    assert_eq!(r.data()["setVolunteerSkills"], json!(["理发", "维修家电"]));
    let r = app
        .gql(
            v.token(),
            set,
            json!({"c": world.community_a, "s": ["一二三四五六七八九十一二三四五六七八九十一"]}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "skills"
    );
    app.gql(
        world.resident_a.token(),
        set,
        json!({"c": world.community_a, "s": ["唱歌"]}),
    )
    .await
    .expect_error("FORBIDDEN");
    let search = "query($c: ID!, $s: String) { volunteers(communityId: $c, skill: $s) { totalCount edges { node { user { id } skills } } } }";
    let r = app
        .gql(
            world.staff_a.token(),
            search,
            json!({"c": world.community_a, "s": "理发"}),
        )
        .await;
    assert_eq!(r.data()["volunteers"]["totalCount"], 1);
    assert_eq!(
        r.data()["volunteers"]["edges"][0]["node"]["user"]["id"],
        v.id.to_string()
    );
    app.gql(
        world.resident_a.token(),
        search,
        json!({"c": world.community_a, "s": null}),
    )
    .await
    .expect_error("FORBIDDEN");
}

async fn cancelled_activities_take_no_more_sign_ups(app: TestApp) {
    let world = app.world().await;
    let activity = future_activity(&app, &world, 5, 60, 10).await;
    let v = volunteer(&app, &world, "扑空").await;
    sign_up(&app, &v, &activity).await.data();
    let cancel =
        "mutation($a: ID!, $r: String!) { cancelActivity(activityId: $a, reason: $r) { status } }";
    app.gql(v.token(), cancel, json!({"a": activity, "r": "下雨"}))
        .await
        .expect_error("FORBIDDEN");
    let r = app
        .gql(
            world.staff_a.token(),
            cancel,
            json!({"a": activity, "r": " "}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "reason"
    );
    let r = app
        .gql(
            world.staff_a.token(),
            cancel,
            json!({"a": activity, "r": "暴雨预警"}),
        )
        .await;
    assert_eq!(r.data()["cancelActivity"]["status"], "CANCELLED");
    app.gql(
        world.staff_a.token(),
        cancel,
        json!({"a": activity, "r": "再取消"}),
    )
    .await
    .expect_error("INVALID_STATE");
    let w = volunteer(&app, &world, "晚到").await;
    sign_up(&app, &w, &activity)
        .await
        .expect_error("INVALID_STATE");
}

async fn the_scheduler_closes_forgotten_check_outs_and_expires_points(app: TestApp) {
    let world = app.world().await;
    let activity = future_activity(&app, &world, 5, 60, 10).await;
    let v = volunteer(&app, &world, "忘签退").await;
    sign_up(&app, &v, &activity).await.data();
    let (starts, ends) = move_to_past(&app, &activity, 3).await;
    activities::check_by_organiser(
        &app.db,
        &app.actor(world.staff_a.id),
        Uuid::parse_str(&activity).unwrap(),
        v.id,
        Check::In,
        starts + Duration::minutes(5),
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    give(&app, &world, &v, 40).await;
    let later = Utc::now()
        .checked_add_months(chrono::Months::new(25))
        .unwrap();
    for _ in 0..2 {
        api::service::credits::run_scheduled(&app.db, later)
            .await
            .map_err(|e| e.message())
            .unwrap();
    }
    let signups = app
        .gql(
            world.staff_a.token(),
            "query($a: ID!) { activitySignUps(activityId: $a) { autoClosed checkedOutAt } }",
            json!({"a": activity}),
        )
        .await;
    let row = &signups.data()["activitySignUps"][0];
    assert_eq!(row["autoClosed"], true);
    let closed: chrono::DateTime<Utc> = row["checkedOutAt"].as_str().unwrap().parse().unwrap();
    assert!(
        (closed - ends).num_seconds().abs() <= 1,
        "closed at the end"
    );
    assert_eq!(balance(&app, &v, world.community_a).await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM posting WHERE kind = 'EXPIRE'")
            .await,
        1,
        "the second run changed nothing"
    );
    assert_ledger_invariants(&app).await;
}

backend_tests!(
    cancelled_activities_take_no_more_sign_ups,
    the_scheduler_closes_forgotten_check_outs_and_expires_points,
    creating_activities_checks_input_and_role,
    sign_up_fills_places_then_the_waiting_list_which_moves_up,
    concurrent_sign_ups_never_exceed_capacity,
    check_in_codes_work_only_around_the_activity,
    confirming_service_posts_points_by_the_rules,
    overlapping_service_and_the_daily_cap,
    points_above_the_balance_cap_go_to_the_donation_pool,
    redeeming_reserves_stock_spends_points_and_cancelling_refunds,
    leaderboards_and_the_service_record,
    volunteers_keep_skills_that_staff_can_search,
);
