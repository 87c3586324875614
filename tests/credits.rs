//! Volunteer time credits: the ledger (accounts, postings, idempotency,
//! transfers, corrections, expiry) and its guarantees under concurrency,
//! on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::credits_support;

use api::policy::Role;
use chrono::{Duration, Months, Utc};
use credits_support::*;
use futures_util::future::join_all;
use linli::{TestApp, backend_tests};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

async fn transfer_moves_points_and_statements_show_them(app: TestApp) {
    let world = app.world().await;
    let giver = app
        .member(
            world.community_a,
            "志愿者甲",
            &[Role::Resident, Role::Volunteer],
            &world.staff_a,
        )
        .await;
    let giver_account = give(&app, &world, &giver, 100).await;
    let response = app
        .gql(
            giver.token(),
            TRANSFER,
            json!({"c": world.community_a, "to": world.resident_a.id, "amount": 30, "memo": "给邻居", "key": "t-1"}),
        )
        .await;
    let posting = &response.data()["transferPoints"];
    assert_eq!(posting["kind"], "TRANSFER");
    assert_eq!(posting["amount"], -30, "seen from the giver");
    assert_eq!(posting["memo"], "给邻居");

    assert_eq!(balance(&app, &giver, world.community_a).await, 70);
    assert_eq!(
        balance(&app, &world.resident_a, world.community_a).await,
        30
    );

    let statement = app
        .gql(
            giver.token(),
            STATEMENT,
            json!({"a": giver_account, "first": 10}),
        )
        .await;
    let edges = statement.data()["postings"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(statement.data()["postings"]["totalCount"], 2);
    let kinds: Vec<(String, i64)> = edges
        .iter()
        .map(|e| {
            (
                e["node"]["kind"].as_str().unwrap().to_string(),
                e["node"]["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![("TRANSFER".to_string(), -30), ("ADJUST".to_string(), 100)],
        "newest first, signed from the account"
    );
    // The recipient sees the same posting as +30.
    let receiver_account = account_id(&app, &world.resident_a, world.community_a).await;
    let theirs = app
        .gql(
            world.resident_a.token(),
            STATEMENT,
            json!({"a": receiver_account, "first": 10}),
        )
        .await;
    assert_eq!(theirs.data()["postings"]["edges"][0]["node"]["amount"], 30);
    // Someone else cannot read the giver's statement.
    app.gql(
        world.resident_b.token(),
        STATEMENT,
        json!({"a": giver_account, "first": 10}),
    )
    .await
    .expect_error("NOT_FOUND");
    app.gql(
        world.grid_a.token(),
        STATEMENT,
        json!({"a": giver_account, "first": 10}),
    )
    .await
    .expect_error("NOT_FOUND");
    // Staff and the street above may.
    app.gql(
        world.staff_a.token(),
        STATEMENT,
        json!({"a": giver_account, "first": 10}),
    )
    .await
    .data();
    app.gql(
        world.street_admin_a.token(),
        STATEMENT,
        json!({"a": giver_account, "first": 10}),
    )
    .await
    .data();
    assert_ledger_invariants(&app).await;
}

async fn statements_paginate_newest_first(app: TestApp) {
    let world = app.world().await;
    let v = app
        .member(
            world.community_a,
            "志愿者乙",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    let account = account_id(&app, &v, world.community_a).await;
    for i in 1..=5 {
        adjust(&app, &world, &account, i, &format!("adj-{i}"))
            .await
            .data();
    }
    let first = app
        .gql(v.token(), STATEMENT, json!({"a": account, "first": 2}))
        .await;
    let page = &first.data()["postings"];
    assert_eq!(page["totalCount"], 5);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let amounts = |page: &serde_json::Value| -> Vec<i64> {
        page["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["amount"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(amounts(page), vec![5, 4]);
    let cursor = page["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    let second = app
        .gql(
            v.token(),
            STATEMENT_AFTER,
            json!({"a": account, "first": 10, "after": cursor}),
        )
        .await;
    let page = &second.data()["postings"];
    assert_eq!(amounts(page), vec![3, 2, 1]);
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
    let account_view = app
        .gql(v.token(), MY_ACCOUNT, json!({"c": world.community_a}))
        .await;
    assert_eq!(account_view.data()["myAccount"]["balance"], 15);
}

async fn idempotency_keys_replay_and_conflict(app: TestApp) {
    let world = app.world().await;
    let v = app
        .member(
            world.community_a,
            "志愿者丙",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    give(&app, &world, &v, 100).await;
    let vars = json!({"c": world.community_a, "to": world.resident_a.id, "amount": 10, "memo": null, "key": "same-key"});
    let first = app.gql(v.token(), TRANSFER, vars.clone()).await;
    let second = app.gql(v.token(), TRANSFER, vars).await;
    assert_eq!(
        first.data()["transferPoints"]["id"],
        second.data()["transferPoints"]["id"],
        "a replay returns the first result"
    );
    assert_eq!(
        balance(&app, &v, world.community_a).await,
        90,
        "posted once"
    );
    let postings = app
        .count("SELECT COUNT(*) FROM posting WHERE kind = 'TRANSFER'")
        .await;
    // A different request with the same key is a conflict, and posts nothing.
    app.gql(
        v.token(),
        TRANSFER,
        json!({"c": world.community_a, "to": world.resident_a.id, "amount": 11, "memo": null, "key": "same-key"}),
    )
    .await
    .expect_error("CONFLICT");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM posting WHERE kind = 'TRANSFER'")
            .await,
        postings
    );
    // The key is per community and unique in the database.
    let dup = app
        .db
        .execute_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "INSERT INTO idempotency_key (id, community_id, key, operation, actor_id, request_hash, result_ids, created_at) \
                 SELECT {}, community_id, key, operation, actor_id, request_hash, result_ids, created_at FROM idempotency_key WHERE key = 'same-key'",
                new_id_sql(&app)
            ),
        ))
        .await;
    assert!(dup.is_err(), "a second row with the same key is refused");
    // A key that failed (not enough points) stays free.
    app.gql(
        v.token(),
        TRANSFER,
        json!({"c": world.community_a, "to": world.resident_a.id, "amount": 1000, "memo": null, "key": "k-fail"}),
    )
    .await
    .expect_error("INVALID_STATE");
    app.gql(
        v.token(),
        TRANSFER,
        json!({"c": world.community_a, "to": world.resident_a.id, "amount": 5, "memo": null, "key": "k-fail"}),
    )
    .await
    .data();
    assert_eq!(balance(&app, &v, world.community_a).await, 85);
    // An empty key is bad input.
    let err = app
        .gql(
            v.token(),
            TRANSFER,
            json!({"c": world.community_a, "to": world.resident_a.id, "amount": 5, "memo": null, "key": "  "}),
        )
        .await;
    assert_eq!(
        err.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "idempotencyKey"
    );
    assert_ledger_invariants(&app).await;
}

async fn transfers_refuse_bad_requests_and_write_nothing(app: TestApp) {
    let world = app.world().await;
    let v = app
        .member(
            world.community_a,
            "志愿者丁",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    give(&app, &world, &v, 50).await;
    let before = app.count("SELECT COUNT(*) FROM posting").await;
    let cases = [
        (
            json!({"c": world.community_a, "to": world.resident_a.id, "amount": 0, "memo": null, "key": "b1"}),
            "BAD_USER_INPUT",
            Some("amount"),
        ),
        (
            json!({"c": world.community_a, "to": world.resident_a.id, "amount": -5, "memo": null, "key": "b2"}),
            "BAD_USER_INPUT",
            Some("amount"),
        ),
        (
            json!({"c": world.community_a, "to": v.id, "amount": 5, "memo": null, "key": "b3"}),
            "BAD_USER_INPUT",
            Some("toUserId"),
        ),
        (
            json!({"c": world.community_a, "to": world.resident_b.id, "amount": 5, "memo": null, "key": "b4"}),
            "BAD_USER_INPUT",
            Some("toUserId"),
        ),
        (
            json!({"c": world.community_a, "to": world.outsider.id, "amount": 5, "memo": null, "key": "b5"}),
            "BAD_USER_INPUT",
            Some("toUserId"),
        ),
        (
            json!({"c": world.community_a, "to": world.resident_a.id, "amount": 51, "memo": null, "key": "b6"}),
            "INVALID_STATE",
            None,
        ),
        (
            json!({"c": world.community_a, "to": world.resident_a.id, "amount": 5, "memo": "长".repeat(201), "key": "b7"}),
            "BAD_USER_INPUT",
            Some("memo"),
        ),
        (
            json!({"c": "not-an-id", "to": world.resident_a.id, "amount": 5, "memo": null, "key": "b8"}),
            "BAD_USER_INPUT",
            Some("communityId"),
        ),
    ];
    for (vars, code, field) in cases {
        let response = app.gql(v.token(), TRANSFER, vars.clone()).await;
        let err = response.expect_error(code);
        if let Some(field) = field {
            assert_eq!(err["extensions"]["field"], field, "{vars}");
        }
    }
    // Another community's member cannot move points here.
    app.gql(
        world.resident_b.token(),
        TRANSFER,
        json!({"c": world.community_a, "to": world.resident_a.id, "amount": 1, "memo": null, "key": "b9"}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(
        None,
        TRANSFER,
        json!({"c": world.community_a, "to": world.resident_a.id, "amount": 1, "memo": null, "key": "b10"}),
    )
    .await
    .expect_error("UNAUTHENTICATED");
    assert_eq!(app.count("SELECT COUNT(*) FROM posting").await, before);
    assert_eq!(balance(&app, &v, world.community_a).await, 50);
}

/// Accounts open inside the write transaction that posts to them: a request
/// refused there (here for want of points) leaves no empty account behind.
async fn refused_postings_open_no_account(app: TestApp) {
    let world = app.world().await;
    let item = create_item(&app, &world, "电影票", 20, 5).await;
    let sender = app
        .member(
            world.community_a,
            "新成员甲",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    let receiver = app
        .member(
            world.community_a,
            "新成员乙",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    let accounts = "SELECT COUNT(*) FROM point_account";
    let before = app.count(accounts).await;
    transfer(&app, &world, &sender, &receiver, 5, "no-points")
        .await
        .expect_error("INVALID_STATE");
    app.gql(
        sender.token(),
        REDEEM,
        json!({"item": item, "q": 1, "key": "no-points-redeem"}),
    )
    .await
    .expect_error("INVALID_STATE");
    assert_eq!(app.count(accounts).await, before);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM catalog_item WHERE stock = 5")
            .await,
        1,
        "the reserved stock went back with the refused redemption"
    );
}

async fn family_only_transfers_stay_in_the_household(app: TestApp) {
    let world = app.world().await;
    set_rules(&app, &world, json!({"transferPolicy": "FAMILY_ONLY"})).await;
    let parent = household_member(&app, &world, "老王", "6栋", "601").await;
    let child = household_member(&app, &world, "小王", "6栋", "601").await;
    give(&app, &world, &parent, 40).await;
    app.gql(
        parent.token(),
        TRANSFER,
        json!({"c": world.community_a, "to": world.resident_a.id, "amount": 5, "memo": null, "key": "f1"}),
    )
    .await
    .expect_error("BAD_USER_INPUT");
    app.gql(
        parent.token(),
        TRANSFER,
        json!({"c": world.community_a, "to": child.id, "amount": 15, "memo": "给孩子", "key": "f2"}),
    )
    .await
    .data();
    assert_eq!(balance(&app, &child, world.community_a).await, 15);
    assert_eq!(balance(&app, &parent, world.community_a).await, 25);
}

async fn postings_and_balances_are_guarded_by_the_database(app: TestApp) {
    let world = app.world().await;
    let v = app
        .member(
            world.community_a,
            "志愿者戊",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    give(&app, &world, &v, 10).await;
    let backend = app.db.get_database_backend();
    let exec = |sql: &str| {
        app.db.execute_raw(Statement::from_string(
            backend,
            sql.replace("NEW_ID", new_id_sql(&app)),
        ))
    };
    assert!(
        exec("UPDATE posting SET amount = 1").await.is_err(),
        "postings are never updated"
    );
    assert!(
        exec("DELETE FROM posting").await.is_err(),
        "postings are never deleted"
    );
    assert!(
        exec("UPDATE point_account SET balance = -1 WHERE kind = 'MEMBER'")
            .await
            .is_err(),
        "a member balance never goes below zero"
    );
    assert!(
        exec("UPDATE point_account SET balance = balance - 1000 WHERE kind = 'ISSUING'")
            .await
            .is_ok(),
        "the issuing account may go below zero"
    );
    assert!(
        exec("INSERT INTO posting (id, community_id, kind, amount, from_account_id, to_account_id, created_at) \
              SELECT NEW_ID, community_id, kind, 0, from_account_id, to_account_id, created_at FROM posting")
            .await
            .is_err(),
        "amount > 0"
    );
    assert!(
        exec("INSERT INTO posting (id, community_id, kind, amount, from_account_id, to_account_id, created_at) \
              SELECT NEW_ID, community_id, 'GIFT', 5, from_account_id, to_account_id, created_at FROM posting")
            .await
            .is_err(),
        "only the five kinds"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM posting").await, 1);
}

async fn reversals_link_and_happen_once(app: TestApp) {
    let world = app.world().await;
    let v = app
        .member(
            world.community_a,
            "志愿者己",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    let account = account_id(&app, &v, world.community_a).await;
    let posted = adjust(&app, &world, &account, 30, "r-1").await;
    let original = posted.data()["adjustPoints"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reversed = app
        .gql(
            world.staff_a.token(),
            REVERSE,
            json!({"p": original, "reason": "录入错误", "key": "rev-1"}),
        )
        .await;
    let reversal = &reversed.data()["reversePosting"];
    assert_eq!(reversal["kind"], "ADJUST", "a reversal keeps the kind");
    assert_eq!(reversal["amount"], -30);
    assert_eq!(reversal["reversesPostingId"], original.as_str());
    assert_eq!(balance(&app, &v, world.community_a).await, 0);
    // Once only.
    app.gql(
        world.staff_a.token(),
        REVERSE,
        json!({"p": original, "reason": "再冲一次", "key": "rev-2"}),
    )
    .await
    .expect_error("INVALID_STATE");
    // A reversal is not reversed.
    app.gql(
        world.staff_a.token(),
        REVERSE,
        json!({"p": reversal["id"], "reason": "冲正的冲正", "key": "rev-3"}),
    )
    .await
    .expect_error("INVALID_STATE");
    // Residents and other communities' staff may not.
    app.gql(
        world.resident_a.token(),
        REVERSE,
        json!({"p": original, "reason": "x", "key": "rev-4"}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(
        world.staff_b.token(),
        REVERSE,
        json!({"p": original, "reason": "x", "key": "rev-5"}),
    )
    .await
    .expect_error("FORBIDDEN");
    // The database refuses a second reversal too.
    let backend = app.db.get_database_backend();
    let dup = app
        .db
        .execute_raw(Statement::from_string(
            backend,
            format!(
                "INSERT INTO posting (id, community_id, kind, amount, from_account_id, to_account_id, reverses_posting_id, created_at) \
                 SELECT {}, community_id, kind, amount, from_account_id, to_account_id, reverses_posting_id, created_at \
                 FROM posting WHERE reverses_posting_id IS NOT NULL",
                new_id_sql(&app)
            ),
        ))
        .await;
    assert!(dup.is_err(), "reverses_posting_id is unique");
    assert_ledger_invariants(&app).await;
}

async fn adjustments_need_staff_a_reason_and_not_their_own_account(app: TestApp) {
    let world = app.world().await;
    let v = app
        .member(
            world.community_a,
            "志愿者庚",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    let account = account_id(&app, &v, world.community_a).await;
    let staff_account = account_id(&app, &world.staff_a, world.community_a).await;
    let call = |token: Option<String>,
                account: String,
                amount: i64,
                reason: &'static str,
                key: &'static str| {
        let app = &app;
        async move {
            app.gql(
                token.as_deref(),
                ADJUST,
                json!({"a": account, "amount": amount, "reason": reason, "key": key}),
            )
            .await
        }
    };
    let staff = Some(world.staff_a.token.clone());
    call(staff.clone(), staff_account.clone(), 10, "给自己", "a1")
        .await
        .expect_error("FORBIDDEN");
    let zero = call(staff.clone(), account.clone(), 0, "无", "a2").await;
    assert_eq!(
        zero.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "amount"
    );
    let blank = call(staff.clone(), account.clone(), 5, "  ", "a3").await;
    assert_eq!(
        blank.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "reason"
    );
    call(
        Some(world.resident_a.token.clone()),
        account.clone(),
        5,
        "想加分",
        "a4",
    )
    .await
    .expect_error("FORBIDDEN");
    call(
        Some(world.staff_b.token.clone()),
        account.clone(),
        5,
        "跨社区",
        "a5",
    )
    .await
    .expect_error("FORBIDDEN");
    // Taking more than the balance is refused; nothing is written.
    call(staff.clone(), account.clone(), -5, "扣分", "a6")
        .await
        .expect_reason("INVALID_STATE", "INSUFFICIENT_POINTS");
    assert_eq!(app.count("SELECT COUNT(*) FROM posting").await, 0);
    call(staff.clone(), account.clone(), 8, "补录", "a7")
        .await
        .data();
    let down = call(staff, account, -3, "多记了", "a8").await;
    assert_eq!(down.data()["adjustPoints"]["amount"], -3);
    assert_eq!(balance(&app, &v, world.community_a).await, 5);
    // Every posting is audited with its actor.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE entity_type = 'posting' AND actor_id IS NOT NULL"
        )
        .await,
        2
    );
}

async fn expiry_is_oldest_first_and_idempotent(app: TestApp) {
    let world = app.world().await;
    let v = app
        .member(
            world.community_a,
            "志愿者辛",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    give(&app, &world, &v, 100).await;
    transfer(&app, &world, &v, &world.resident_a, 30, "e-1")
        .await
        .data();
    let now = Utc::now();
    // Within the validity period nothing expires.
    let report = api::service::credits::ledger::expire_points(
        &app.db,
        world.community_a,
        now.checked_add_months(Months::new(23)).unwrap(),
        None,
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    assert_eq!(report.points, 0);
    // After 24 months (the default), what is left of the old points expires:
    // the 30 spent came from them.
    let later = now.checked_add_months(Months::new(25)).unwrap();
    let report =
        api::service::credits::ledger::expire_points(&app.db, world.community_a, later, None)
            .await
            .map_err(|e| e.message())
            .unwrap();
    assert_eq!(
        report.points, 100,
        "70 of the volunteer and 30 of the recipient"
    );
    assert_eq!(balance(&app, &v, world.community_a).await, 0);
    assert_eq!(balance(&app, &world.resident_a, world.community_a).await, 0);
    // Running it again changes nothing.
    let again =
        api::service::credits::ledger::expire_points(&app.db, world.community_a, later, None)
            .await
            .map_err(|e| e.message())
            .unwrap();
    assert_eq!(again.points, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM posting WHERE kind = 'EXPIRE'")
            .await,
        2
    );
    // Points received later are kept.
    give(&app, &world, &v, 20).await;
    let report = api::service::credits::ledger::expire_points(
        &app.db,
        world.community_a,
        now + Duration::days(30),
        None,
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    assert_eq!(report.points, 0);
    assert_eq!(balance(&app, &v, world.community_a).await, 20);
    // A shorter validity period set by staff applies.
    set_rules(&app, &world, json!({"validityMonths": 1})).await;
    let report = api::service::credits::ledger::expire_points(
        &app.db,
        world.community_a,
        now + Duration::days(40),
        None,
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    assert_eq!(report.points, 20);
    // Staff run it by hand; residents may not.
    let run = app
        .gql(
            world.staff_a.token(),
            EXPIRE,
            json!({"c": world.community_a}),
        )
        .await;
    assert_eq!(run.data()["expirePoints"]["points"], 0);
    app.gql(
        world.resident_a.token(),
        EXPIRE,
        json!({"c": world.community_a}),
    )
    .await
    .expect_error("FORBIDDEN");
    assert_ledger_invariants(&app).await;
}

async fn settings_are_validated_and_staff_only(app: TestApp) {
    let world = app.world().await;
    let bad = [
        (json!({"pointsPerHourDefault": -1}), "pointsPerHourDefault"),
        (json!({"dailyCapMinutes": 0}), "dailyCapMinutes"),
        (json!({"balanceCap": 0}), "balanceCap"),
        (json!({"validityMonths": 0}), "validityMonths"),
    ];
    for (patch, field) in bad {
        let vars = settings_vars(&world, patch);
        let response = app.gql(world.staff_a.token(), SET_RULES, vars).await;
        assert_eq!(
            response.expect_error("BAD_USER_INPUT")["extensions"]["field"],
            field
        );
    }
    app.gql(
        world.resident_a.token(),
        SET_RULES,
        settings_vars(&world, json!({})),
    )
    .await
    .expect_error("FORBIDDEN");
    let shown = app
        .gql(
            world.resident_a.token(),
            "query($c: ID!) { creditSettings(communityId: $c) { validityMonths dailyCapMinutes transferPolicy balanceCap } }",
            json!({"c": world.community_a}),
        )
        .await;
    assert_eq!(shown.data()["creditSettings"]["validityMonths"], 24);
    assert_eq!(
        shown.data()["creditSettings"]["transferPolicy"],
        "ANY_MEMBER"
    );
}

// ---------- concurrency ----------

async fn concurrent_transfers_never_overdraw(app: TestApp) {
    let world = app.world().await;
    let v = app
        .member(
            world.community_a,
            "志愿者壬",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    give(&app, &world, &v, 100).await;
    let recipients = [&world.resident_a, &world.grid_a, &world.staff_a];
    let requests = (0..20).map(|i| {
        let to = recipients[i % recipients.len()].id;
        let v = &v;
        let app = &app;
        let community = world.community_a;
        async move {
            app.gql(
                v.token(),
                TRANSFER,
                json!({"c": community, "to": to, "amount": 10, "memo": null, "key": format!("c-{i}")}),
            )
            .await
        }
    });
    let responses = join_all(requests).await;
    let ok = responses
        .iter()
        .filter(|r| r.error_code().is_none())
        .count();
    for r in responses.iter().filter(|r| r.error_code().is_some()) {
        r.expect_error("INVALID_STATE");
    }
    assert_eq!(ok, 10, "exactly the balance is spent");
    assert_eq!(balance(&app, &v, world.community_a).await, 0);
    assert_ledger_invariants(&app).await;
}

/// Many first postings to an account that does not exist yet, at once: each
/// opens it or finds it opened (insert ON CONFLICT DO NOTHING, then read),
/// none fails, and the member ends with one account holding them all.
async fn first_postings_at_once_open_one_account(app: TestApp) {
    let world = app.world().await;
    let receiver = app
        .member(
            world.community_a,
            "新成员丙",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    let mut donors = Vec::new();
    for i in 0..6 {
        let donor = app
            .member(
                world.community_a,
                &format!("捐赠人{i}"),
                &[Role::Volunteer],
                &world.staff_a,
            )
            .await;
        give(&app, &world, &donor, 10).await;
        donors.push(donor);
    }
    let member_accounts = "SELECT COUNT(*) FROM point_account WHERE kind = 'MEMBER'";
    let before = app.count(member_accounts).await;
    let keys: Vec<String> = (0..donors.len()).map(|i| format!("first-{i}")).collect();
    let requests = donors
        .iter()
        .zip(&keys)
        .map(|(donor, key)| transfer(&app, &world, donor, &receiver, 5, key));
    for response in join_all(requests).await {
        response.data();
    }
    assert_eq!(app.count(member_accounts).await, before + 1);
    assert_eq!(balance(&app, &receiver, world.community_a).await, 30);

    // Two members new to the ledger sending to each other at once, again and
    // again: each transaction opens both accounts while the other opens them
    // too. They are refused for want of points, never for a deadlock.
    for round in 0..8 {
        let a = app
            .member(
                world.community_a,
                &format!("甲{round}"),
                &[Role::Volunteer],
                &world.staff_a,
            )
            .await;
        let b = app
            .member(
                world.community_a,
                &format!("乙{round}"),
                &[Role::Volunteer],
                &world.staff_a,
            )
            .await;
        let (key_ab, key_ba) = (format!("ab-{round}"), format!("ba-{round}"));
        let (ab, ba) = futures_util::join!(
            transfer(&app, &world, &a, &b, 1, &key_ab),
            transfer(&app, &world, &b, &a, 1, &key_ba),
        );
        ab.expect_error("INVALID_STATE");
        ba.expect_error("INVALID_STATE");
    }
    assert_eq!(app.count(member_accounts).await, before + 1);
    assert_ledger_invariants(&app).await;
}

async fn one_key_sent_concurrently_posts_once(app: TestApp) {
    let world = app.world().await;
    let v = app
        .member(
            world.community_a,
            "志愿者癸",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    give(&app, &world, &v, 100).await;
    let requests = (0..10).map(|_| {
        app.gql(
            v.token(),
            TRANSFER,
            json!({"c": world.community_a, "to": world.resident_a.id, "amount": 7, "memo": null, "key": "one-key"}),
        )
    });
    let responses = join_all(requests).await;
    let ids: Vec<String> = responses
        .iter()
        .map(|r| {
            r.data()["transferPoints"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "every replay returns the first posting"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM posting WHERE kind = 'TRANSFER'")
            .await,
        1
    );
    assert_eq!(balance(&app, &v, world.community_a).await, 93);
    assert_ledger_invariants(&app).await;
}

async fn the_last_item_goes_to_exactly_one(app: TestApp) {
    let world = app.world().await;
    let item = create_item(&app, &world, "理发券", 10, 1).await;
    let mut buyers = Vec::new();
    for i in 0..6 {
        let p = app
            .member(
                world.community_a,
                &format!("买家{i}"),
                &[Role::Volunteer],
                &world.staff_a,
            )
            .await;
        give(&app, &world, &p, 10).await;
        buyers.push(p);
    }
    let requests = buyers.iter().enumerate().map(|(i, p)| {
        app.gql(
            p.token(),
            REDEEM,
            json!({"item": item, "q": 1, "key": format!("last-{i}")}),
        )
    });
    let responses = join_all(requests).await;
    let winners = responses
        .iter()
        .filter(|r| r.error_code().is_none())
        .count();
    for r in responses.iter().filter(|r| r.error_code().is_some()) {
        r.expect_error("INVALID_STATE");
    }
    assert_eq!(winners, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM catalog_item WHERE stock = 0")
            .await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM redemption").await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM posting WHERE kind = 'REDEEM'")
            .await,
        1
    );
    let mut spent = 0;
    for p in &buyers {
        spent += 10 - balance(&app, p, world.community_a).await;
    }
    assert_eq!(spent, 10, "only the winner paid");
    assert_ledger_invariants(&app).await;
}

async fn busy_community_keeps_every_invariant(app: TestApp) {
    let world = app.world().await;
    let item = create_item(&app, &world, "米面油", 5, 12).await;
    let mut people = Vec::new();
    for i in 0..6 {
        let p = app
            .member(
                world.community_a,
                &format!("忙碌{i}"),
                &[Role::Volunteer],
                &world.staff_a,
            )
            .await;
        people.push(p);
    }
    // An activity that ended, with everyone attended, to confirm concurrently.
    let activity = future_activity(&app, &world, 10, 60, 12).await;
    for p in &people {
        sign_up(&app, p, &activity).await.data();
    }
    for p in &people {
        attend(&app, &world, &activity, p, 0, 60).await;
    }
    let mut futures = Vec::new();
    // Staff confirm each volunteer in its own request, each sent twice.
    for (i, p) in people.iter().enumerate() {
        for _ in 0..2 {
            let vars = json!({"a": activity, "records": [{"userId": p.id, "minutes": 60}], "key": format!("confirm-{i}")});
            futures.push(Box::pin(app.gql(world.staff_a.token(), CONFIRM, vars))
                as std::pin::Pin<
                    Box<dyn std::future::Future<Output = linli::GqlResponse> + Send + '_>,
                >);
        }
    }
    // Meanwhile they transfer and redeem, some keys replayed.
    for (i, p) in people.iter().enumerate() {
        let to = people[(i + 1) % people.len()].id;
        for attempt in 0..2 {
            let vars = json!({"c": world.community_a, "to": to, "amount": 3, "memo": null, "key": format!("busy-t-{i}")});
            futures.push(Box::pin(app.gql(p.token(), TRANSFER, vars)));
            let vars = json!({"item": item, "q": 1, "key": format!("busy-r-{i}-{}", attempt % 2)});
            futures.push(Box::pin(app.gql(p.token(), REDEEM, vars)));
        }
    }
    let responses = join_all(futures).await;
    for r in &responses {
        if let Some(code) = r.error_code() {
            assert!(
                code == "INVALID_STATE",
                "only refusals for lack of points or stock: {}",
                r.body
            );
        }
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM posting WHERE kind = 'EARN'")
            .await,
        6,
        "each confirmation posted once"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM idempotency_key WHERE operation = 'transfer'")
            .await,
        app.count("SELECT COUNT(*) FROM posting WHERE kind = 'TRANSFER'")
            .await
    );
    assert!(
        app.count("SELECT COUNT(*) FROM catalog_item WHERE stock < 0")
            .await
            == 0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM redemption").await
            + app
                .count("SELECT CAST(MIN(stock) AS BIGINT) FROM catalog_item")
                .await,
        12,
        "stock plus redemptions is what there was"
    );
    assert_ledger_invariants(&app).await;
}

async fn opposite_transfers_at_once_do_not_deadlock(app: TestApp) {
    let world = app.world().await;
    let a = app
        .member(
            world.community_a,
            "互转甲",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    let b = app
        .member(
            world.community_a,
            "互转乙",
            &[Role::Volunteer],
            &world.staff_a,
        )
        .await;
    give(&app, &world, &a, 50).await;
    give(&app, &world, &b, 50).await;
    let requests = (0..16).map(|i| {
        let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        app.gql(
            from.token(),
            TRANSFER,
            json!({"c": world.community_a, "to": to.id, "amount": 2, "memo": null, "key": format!("x-{i}")}),
        )
    });
    for r in join_all(requests).await {
        r.data();
    }
    assert_eq!(balance(&app, &a, world.community_a).await, 50);
    assert_eq!(balance(&app, &b, world.community_a).await, 50);
    assert_ledger_invariants(&app).await;
}

backend_tests!(
    opposite_transfers_at_once_do_not_deadlock,
    transfer_moves_points_and_statements_show_them,
    statements_paginate_newest_first,
    idempotency_keys_replay_and_conflict,
    transfers_refuse_bad_requests_and_write_nothing,
    family_only_transfers_stay_in_the_household,
    postings_and_balances_are_guarded_by_the_database,
    reversals_link_and_happen_once,
    adjustments_need_staff_a_reason_and_not_their_own_account,
    expiry_is_oldest_first_and_idempotent,
    settings_are_validated_and_staff_only,
    concurrent_transfers_never_overdraw,
    one_key_sent_concurrently_posts_once,
    refused_postings_open_no_account,
    first_postings_at_once_open_one_account,
    the_last_item_goes_to_exactly_one,
    busy_community_keeps_every_invariant,
);
