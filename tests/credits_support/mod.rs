//! Helpers shared by the time-credit tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use api::policy::Role;
use api::service::credits::activities::{self, Check};
use chrono::{DateTime, Duration, Utc};
use entity::credits::activity;
use linli::world::Person;
use linli::{GqlResponse, TestApp, World};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

pub const TRANSFER: &str = "mutation($c: ID!, $to: ID!, $amount: Int!, $memo: String, $key: String!) { transferPoints(communityId: $c, toUserId: $to, amount: $amount, memo: $memo, idempotencyKey: $key) { id kind amount memo createdAt } }";
pub const STATEMENT: &str = "query($a: ID!, $first: Int) { postings(accountId: $a, first: $first) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id kind amount memo createdAt reversesPostingId } } } }";
pub const STATEMENT_AFTER: &str = "query($a: ID!, $first: Int, $after: String) { postings(accountId: $a, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id kind amount } } } }";
pub const MY_ACCOUNT: &str =
    "query($c: ID!) { myAccount(communityId: $c) { id balance minutesServed } }";
pub const ADJUST: &str = "mutation($a: ID!, $amount: Int!, $reason: String!, $key: String!) { adjustPoints(accountId: $a, amount: $amount, reason: $reason, idempotencyKey: $key) { id kind amount memo } }";
pub const REVERSE: &str = "mutation($p: ID!, $reason: String!, $key: String!) { reversePosting(postingId: $p, reason: $reason, idempotencyKey: $key) { id kind amount reversesPostingId } }";
pub const EXPIRE: &str = "mutation($c: ID!) { expirePoints(communityId: $c) { accounts points } }";
pub const SET_RULES: &str = "mutation($c: ID!, $pph: Int!, $cap: Int!, $bal: Int, $months: Int!, $policy: TransferPolicy!) { updateCreditSettings(communityId: $c, pointsPerHourDefault: $pph, dailyCapMinutes: $cap, balanceCap: $bal, validityMonths: $months, transferPolicy: $policy) { validityMonths transferPolicy balanceCap dailyCapMinutes } }";
pub const REDEEM: &str = "mutation($item: ID!, $q: Int!, $key: String!) { redeem(itemId: $item, quantity: $q, idempotencyKey: $key) { id quantity status points pickupCode item { id stock } } }";
pub const CONFIRM: &str = "mutation($a: ID!, $records: [ServiceRecordInput!]!, $key: String!) { confirmService(activityId: $a, records: $records, idempotencyKey: $key) { id kind amount memo } }";
pub const SIGN_UP: &str = "mutation($a: ID!) { signUpActivity(activityId: $a) { id signedUpCount waitlistCount mySignUp { status } } }";
pub const CREATE_ACTIVITY: &str = "mutation($c: ID!, $t: String!, $s: DateTime!, $e: DateTime!, $cap: Int!, $pph: Int!, $p: ID) { createActivity(communityId: $c, title: $t, startsAt: $s, endsAt: $e, capacity: $cap, pointsPerHour: $pph, projectId: $p) { id title capacity pointsPerHour projectId } }";

/// The backend's expression for a fresh UUID in raw SQL.
pub fn new_id_sql(app: &TestApp) -> &'static str {
    match app.db.get_database_backend() {
        DbBackend::Postgres => "gen_random_uuid()",
        _ => "randomblob(16)",
    }
}

pub async fn account_id(app: &TestApp, person: &Person, community: Uuid) -> String {
    let r = app
        .gql(person.token(), MY_ACCOUNT, json!({"c": community}))
        .await;
    r.data()["myAccount"]["id"].as_str().unwrap().to_string()
}

pub async fn balance(app: &TestApp, person: &Person, community: Uuid) -> i64 {
    let r = app
        .gql(person.token(), MY_ACCOUNT, json!({"c": community}))
        .await;
    r.data()["myAccount"]["balance"].as_i64().unwrap()
}

/// Staff of community a adjust an account.
pub async fn adjust(
    app: &TestApp,
    world: &World,
    account: &str,
    amount: i64,
    key: &str,
) -> GqlResponse {
    app.gql(
        world.staff_a.token(),
        ADJUST,
        json!({"a": account, "amount": amount, "reason": "测试发放", "key": key}),
    )
    .await
}

/// Gives `amount` points to a member of community a (by the platform
/// administrator, so that staff can receive too). Returns the account id.
pub async fn give(app: &TestApp, world: &World, person: &Person, amount: i64) -> String {
    let account = account_id(app, person, world.community_a).await;
    app.gql(
        world.admin.token(),
        ADJUST,
        json!({"a": account, "amount": amount, "reason": "测试发放", "key": Uuid::now_v7().to_string()}),
    )
    .await
    .data();
    account
}

pub async fn transfer(
    app: &TestApp,
    world: &World,
    from: &Person,
    to: &Person,
    amount: i64,
    key: &str,
) -> GqlResponse {
    app.gql(
        from.token(),
        TRANSFER,
        json!({"c": world.community_a, "to": to.id, "amount": amount, "memo": null, "key": key}),
    )
    .await
}

pub fn settings_vars(world: &World, patch: Value) -> Value {
    let mut vars = json!({"c": world.community_a, "pph": 10, "cap": 480, "bal": null, "months": 24, "policy": "ANY_MEMBER"});
    let names = [
        ("pointsPerHourDefault", "pph"),
        ("dailyCapMinutes", "cap"),
        ("balanceCap", "bal"),
        ("validityMonths", "months"),
        ("transferPolicy", "policy"),
    ];
    for (field, var) in names {
        if let Some(value) = patch.get(field) {
            vars[var] = value.clone();
        }
    }
    vars
}

pub async fn set_rules(app: &TestApp, world: &World, patch: Value) {
    app.gql(
        world.staff_a.token(),
        SET_RULES,
        settings_vars(world, patch),
    )
    .await
    .data();
}

/// A volunteer of community a registered in a given household.
pub async fn household_member(
    app: &TestApp,
    world: &World,
    name: &str,
    building: &str,
    room: &str,
) -> Person {
    let person = app.applicant(world.community_a, name, building, room).await;
    api::service::org::approve_membership(
        &app.db,
        &app.actor(world.staff_a.id),
        person.membership_id.unwrap(),
        &[Role::Resident, Role::Volunteer],
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    person
}

pub async fn create_item(
    app: &TestApp,
    world: &World,
    title: &str,
    price: i64,
    stock: i64,
) -> String {
    let r = app
        .gql(
            world.staff_a.token(),
            "mutation($c: ID!, $t: String!, $p: Int!, $s: Int!) { createCatalogItem(communityId: $c, title: $t, pricePoints: $p, stock: $s) { id stock } }",
            json!({"c": world.community_a, "t": title, "p": price, "s": stock}),
        )
        .await;
    r.data()["createCatalogItem"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An activity of community a starting in an hour, `minutes` long.
pub async fn future_activity(
    app: &TestApp,
    world: &World,
    capacity: i64,
    minutes: i64,
    pph: i64,
) -> String {
    let starts = Utc::now() + Duration::hours(1);
    let r = app
        .gql(
            world.staff_a.token(),
            CREATE_ACTIVITY,
            json!({"c": world.community_a, "t": "陪伴独居老人", "s": starts, "e": starts + Duration::minutes(minutes), "cap": capacity, "pph": pph}),
        )
        .await;
    r.data()["createActivity"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Moves an activity so that it started `hours_ago` hours ago (same length).
pub async fn move_to_past(
    app: &TestApp,
    activity_id: &str,
    hours_ago: i64,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let id = Uuid::parse_str(activity_id).unwrap();
    let found = activity::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let starts = Utc::now() - Duration::hours(hours_ago);
    let ends = starts + (found.ends_at - found.starts_at);
    activity::Entity::update_many()
        .col_expr(activity::Column::StartsAt, Expr::value(starts))
        .col_expr(activity::Column::EndsAt, Expr::value(ends))
        .filter(activity::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
    (starts, ends)
}

pub async fn sign_up(app: &TestApp, person: &Person, activity_id: &str) -> GqlResponse {
    app.gql(person.token(), SIGN_UP, json!({"a": activity_id}))
        .await
}

/// The organiser (staff a) checks a volunteer in at start + `from` minutes
/// and out at start + `to` minutes, moving the activity into the past first
/// when it has not started.
pub async fn attend(
    app: &TestApp,
    world: &World,
    activity_id: &str,
    person: &Person,
    from: i64,
    to: i64,
) {
    let id = Uuid::parse_str(activity_id).unwrap();
    let mut found = activity::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    if found.starts_at > Utc::now() {
        move_to_past(app, activity_id, 3).await;
        found = activity::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
    }
    let staff = app.actor(world.staff_a.id);
    activities::check_by_organiser(
        &app.db,
        &staff,
        id,
        person.id,
        Check::In,
        found.starts_at + Duration::minutes(from),
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    activities::check_by_organiser(
        &app.db,
        &staff,
        id,
        person.id,
        Check::Out,
        found.starts_at + Duration::minutes(to),
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
}

/// The ledger's invariants: every community sums to zero, no member or pool
/// account is below zero, and every balance is the sum of its postings.
pub async fn assert_ledger_invariants(app: &TestApp) {
    assert_eq!(
        app.count("SELECT COUNT(*) FROM (SELECT community_id FROM point_account GROUP BY community_id HAVING SUM(balance) <> 0) t")
            .await,
        0,
        "every community's accounts sum to zero"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM point_account WHERE kind <> 'ISSUING' AND balance < 0")
            .await,
        0,
        "no member balance below zero"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM point_account a WHERE a.balance <> \
             COALESCE((SELECT SUM(p.amount) FROM posting p WHERE p.to_account_id = a.id), 0) - \
             COALESCE((SELECT SUM(p.amount) FROM posting p WHERE p.from_account_id = a.id), 0)"
        )
        .await,
        0,
        "every balance equals the sum of its postings"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM point_account a WHERE a.kind = 'MEMBER' AND a.minutes_served <> \
             COALESCE((SELECT SUM(p.minutes) FROM posting p WHERE p.to_account_id = a.id AND p.kind = 'EARN'), 0) - \
             COALESCE((SELECT SUM(p.minutes) FROM posting p WHERE p.from_account_id = a.id AND p.kind = 'EARN'), 0)"
        )
        .await,
        0,
        "minutes served equal the minutes of the EARN postings"
    );
}
