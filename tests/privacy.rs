//! Personal data (issue 8): phones sealed at rest and found by their blind
//! index, legacy plaintext sealed at start, a wrong key refused, a person's
//! export of their own data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use api::crypto::{CryptoError, DataKeys, SealedColumn};
use api::service::consultation::{ballot, proposal as proposals, settings};
use api::service::privacy::{self, SealReport};
use entity::consultation::ballot::{Electorate, PassRule};
use entity::consultation::setting::SecondingKind;
use entity::org::{membership, user};
use linli::world::Person;
use linli::{TestApp, World, backend_tests};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use serde_json::json;
use uuid::Uuid;

#[path = "credits_support/mod.rs"]
mod credits_support;
#[path = "lists_support/mod.rs"]
mod lists_support;

/// The phone every `World` member joined with.
const WORLD_PHONE: &str = "13912345678";
const LOGIN: &str = "mutation($p: String!, $w: String!) { passwordLogin(phone: $p, password: $w) { accessToken refreshToken user { id } } }";
const MY_DATA: &str = "query { myData }";

/// Every text value of the columns that may hold a phone, read with raw SQL.
async fn stored_phone_columns(app: &TestApp) -> Vec<String> {
    let backend = app.db.get_database_backend();
    let mut values = Vec::new();
    for sql in [
        "SELECT login_phone FROM users",
        "SELECT login_phone_blind_index FROM users",
        "SELECT phone FROM membership",
    ] {
        let rows = app
            .db
            .query_all_raw(Statement::from_string(backend, sql.to_string()))
            .await
            .unwrap();
        for row in rows {
            if let Some(value) = row.try_get_by_index::<Option<String>>(0).unwrap() {
                values.push(value);
            }
        }
    }
    values
}

async fn password_user(app: &TestApp, phone: &str, password: &str) -> Uuid {
    api::service::auth::create_password_user(
        &app.db,
        &app.state.keys,
        phone,
        "社工",
        password,
        false,
    )
    .await
    .map_err(|e| e.message())
    .unwrap()
    .id
}

async fn phones_are_sealed_at_rest_and_shown_as_before(app: TestApp) {
    let world = app.world().await;
    password_user(&app, "13855556666", "right-password").await;
    let stored = stored_phone_columns(&app).await;
    assert!(stored.len() >= 7, "{stored:?}");
    for value in &stored {
        for digits in [WORLD_PHONE, "13855556666", "12345678", "55556666"] {
            assert!(!value.contains(digits), "plaintext phone at rest: {value}");
        }
    }
    let sealed = stored.iter().filter(|v| v.starts_with("v1:")).count();
    assert_eq!(
        sealed,
        stored.len() - 1,
        "all but the blind index are sealed"
    );
    // The member sees their own phone; staff see it whole; a grid worker masked.
    let mine = app
        .gql(
            world.resident_a.token(),
            "{ me { memberships { phone } } }",
            json!({}),
        )
        .await;
    assert_eq!(mine.data()["me"]["memberships"][0]["phone"], WORLD_PHONE);
    let members = "query($c: ID!) { members(communityId: $c, first: 50) { edges { node { phone user { id } } } } }";
    for (viewer, expected) in [
        (&world.staff_a, WORLD_PHONE),
        (&world.grid_a, "139****5678"),
    ] {
        let r = app
            .gql(viewer.token(), members, json!({"c": world.community_a}))
            .await;
        let edges = r.data()["members"]["edges"].as_array().unwrap().clone();
        let resident = edges
            .iter()
            .find(|e| e["node"]["user"]["id"] == world.resident_a.id.to_string())
            .unwrap();
        assert_eq!(resident["node"]["phone"], expected);
    }
}

async fn login_by_phone_works_and_duplicates_are_refused(app: TestApp) {
    let world = app.world().await;
    password_user(&app, "13811112222", "right-password").await;
    let login = app
        .gql(
            None,
            LOGIN,
            json!({"p": " 13811112222 ", "w": "right-password"}),
        )
        .await;
    assert!(login.data()["passwordLogin"]["accessToken"].is_string());
    app.gql(
        None,
        LOGIN,
        json!({"p": "13811112223", "w": "right-password"}),
    )
    .await
    .expect_error("UNAUTHENTICATED");
    // The same phone again: CONFLICT, from the service and from the API.
    let again = api::service::auth::create_password_user(
        &app.db,
        &app.state.keys,
        "13811112222",
        "另一人",
        "right-password",
        false,
    )
    .await
    .map_err(|e| e.code());
    assert_eq!(again.err(), Some(api::error::ErrorCode::Conflict));
    let users_before = app.count("SELECT COUNT(*) FROM users").await;
    app.gql(
        world.resident_a.token(),
        "mutation($p: String!, $w: String!) { setPassword(phone: $p, password: $w) { id } }",
        json!({"p": "13811112222", "w": "another-password"}),
    )
    .await
    .expect_error("CONFLICT");
    // An officer appointed by an existing phone is that account, not a new one.
    let appoint = r#"mutation($r: ID!, $p: String!) { appointOfficer(regionId: $r, phone: $p, displayName: "干部", role: OBSERVER) { id } }"#;
    app.gql(
        world.street_admin_a.token(),
        appoint,
        json!({"r": world.street_a, "p": "13811112222"}),
    )
    .await
    .data();
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, users_before);
    // A free phone can be set, and then logs in.
    app.gql(
        world.resident_a.token(),
        "mutation($p: String!, $w: String!) { setPassword(phone: $p, password: $w) { id } }",
        json!({"p": "13811113333", "w": "another-password"}),
    )
    .await
    .data();
    let login = app
        .gql(
            None,
            LOGIN,
            json!({"p": "13811113333", "w": "another-password"}),
        )
        .await;
    assert_eq!(
        login.data()["passwordLogin"]["user"]["id"],
        world.resident_a.id.to_string()
    );
}

async fn the_start_up_backfill_seals_plaintext_and_is_idempotent(app: TestApp) {
    let world = app.world().await;
    let staff_login = password_user(&app, "13822223333", "right-password").await;
    // Rows as they were before encryption: plaintext, no blind index.
    user::Entity::update_many()
        .col_expr(user::Column::LoginPhoneSealed, Expr::value("13822223333"))
        .col_expr(
            user::Column::LoginPhoneBlindIndex,
            Expr::value(Option::<String>::None),
        )
        .filter(user::Column::Id.eq(staff_login))
        .exec(&app.db)
        .await
        .unwrap();
    membership::Entity::update_many()
        .col_expr(membership::Column::PhoneSealed, Expr::value("13700001111"))
        .filter(membership::Column::UserId.eq(world.resident_a.id))
        .exec(&app.db)
        .await
        .unwrap();
    membership::Entity::update_many()
        .col_expr(membership::Column::PhoneSealed, Expr::value("13700002222"))
        .filter(membership::Column::UserId.eq(world.resident_b.id))
        .exec(&app.db)
        .await
        .unwrap();
    assert!(
        stored_phone_columns(&app)
            .await
            .iter()
            .any(|v| v == "13700001111")
    );

    let report = privacy::prepare(&app.db, &app.state.keys).await.unwrap();
    assert_eq!(
        report,
        SealReport {
            login_phones: 1,
            membership_phones: 2
        }
    );
    for value in stored_phone_columns(&app).await {
        for digits in ["13822223333", "13700001111", "13700002222"] {
            assert!(!value.contains(digits), "still plaintext: {value}");
        }
    }
    // Idempotent: nothing left to seal, nothing changes.
    let before = stored_phone_columns(&app).await;
    let again = privacy::prepare(&app.db, &app.state.keys).await.unwrap();
    assert_eq!(again, SealReport::default());
    assert_eq!(stored_phone_columns(&app).await, before);
    // The sealed rows work: password login by phone, the member's own phone.
    let login = app
        .gql(
            None,
            LOGIN,
            json!({"p": "13822223333", "w": "right-password"}),
        )
        .await;
    assert_eq!(
        login.data()["passwordLogin"]["user"]["id"],
        staff_login.to_string()
    );
    let mine = app
        .gql(
            world.resident_a.token(),
            "{ me { memberships { phone } } }",
            json!({}),
        )
        .await;
    assert_eq!(mine.data()["me"]["memberships"][0]["phone"], "13700001111");
}

async fn a_wrong_key_is_refused_with_a_clear_error(app: TestApp) {
    let world = app.world().await;
    let wrong = DataKeys::from_secret(&[42u8; 32]);
    let err = privacy::prepare(&app.db, &wrong).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("DATA_ENCRYPTION_KEY"), "{message}");
    // Nothing was converted or rewritten by the refused start.
    assert!(
        stored_phone_columns(&app)
            .await
            .iter()
            .all(|v| !v.contains(WORLD_PHONE))
    );
    // A sealed value does not open with another key: an error, not a panic.
    let row = membership::Entity::find_by_id(world.resident_a.membership_id.unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        wrong.open(SealedColumn::MembershipPhone, row.id, &row.phone_sealed),
        Err(CryptoError::WrongKey)
    );
    assert_eq!(
        app.state
            .keys
            .open(SealedColumn::MembershipPhone, row.id, &row.phone_sealed)
            .as_deref(),
        Ok(WORLD_PHONE)
    );
    // A value that does not open shows as an INTERNAL error, not a crash.
    membership::Entity::update_many()
        .col_expr(
            membership::Column::PhoneSealed,
            Expr::value(
                wrong
                    .seal(SealedColumn::MembershipPhone, row.id, "13700009999")
                    .unwrap(),
            ),
        )
        .filter(membership::Column::Id.eq(row.id))
        .exec(&app.db)
        .await
        .unwrap();
    let r = app
        .gql(
            world.resident_a.token(),
            "{ me { memberships { phone } } }",
            json!({}),
        )
        .await;
    r.expect_error("INTERNAL");
    // The server keeps serving.
    app.gql(world.staff_a.token(), "{ me { id } }", json!({}))
        .await
        .data();
}

async fn open_ballot(app: &TestApp, world: &World) -> Uuid {
    settings::update_consultation_settings(
        &app.db,
        &app.actor(world.staff_a.id),
        world.community_a,
        settings::SettingsChange {
            seconding_kind: SecondingKind::Residents,
            seconding_value: 1,
            max_proxies_per_holder: None,
            notice_days: None,
        },
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    let p = proposals::submit_proposal(
        &app.db,
        &app.actor(world.resident_a.id),
        world.community_a,
        "加装电梯",
        "三栋加装电梯",
    )
    .await
    .map_err(|e| e.message())
    .unwrap()
    .id;
    proposals::second_proposal(&app.db, &app.actor(world.staff_a.id), p)
        .await
        .map_err(|e| e.message())
        .unwrap();
    proposals::accept_proposal(&app.db, &app.actor(world.staff_a.id), p)
        .await
        .map_err(|e| e.message())
        .unwrap();
    ballot::open_ballot(
        &app.db,
        &app.actor(world.staff_a.id),
        ballot::OpenBallot {
            proposal_id: Some(p),
            covenant_version_id: None,
            council_id: None,
            electorate: Electorate::Residents,
            pass_rule: PassRule::MajorityOfCast,
            quorum: 1,
            secret: false,
            opens_at: None,
            closes_at: chrono::Utc::now() + chrono::Duration::days(1),
        },
    )
    .await
    .map_err(|e| e.message())
    .unwrap()
    .id
}

async fn vote(app: &TestApp, who: &Person, ballot_id: Uuid) {
    app.gql(
        who.token(),
        "mutation($b: ID!) { castVote(ballotId: $b, choice: FOR) { id } }",
        json!({"b": ballot_id}),
    )
    .await
    .data();
}

async fn the_export_holds_the_callers_records_and_nobody_elses(app: TestApp) {
    let world = app.world().await;
    let mine = lists_support::need(
        &app,
        &world.resident_a,
        world.community_a,
        "陪诊",
        "医疗",
        "NORMAL",
        "我需要有人陪我去医院",
    )
    .await;
    let theirs = lists_support::need(
        &app,
        &world.resident_b,
        world.community_b,
        "修水管",
        "维修",
        "HIGH",
        "李四家的水管坏了",
    )
    .await;
    let ballot_id = open_ballot(&app, &world).await;
    vote(&app, &world.resident_a, ballot_id).await;
    credits_support::give(&app, &world, &world.resident_a, 30).await;

    let r = app.gql(world.resident_a.token(), MY_DATA, json!({})).await;
    let data = r.data()["myData"].clone();
    assert_eq!(data["format"], "linli-personal-data/1");
    assert_eq!(data["user"]["id"], world.resident_a.id.to_string());
    assert_eq!(data["user"]["display_name"], "张三");
    assert_eq!(data["memberships"][0]["phone"], WORLD_PHONE);
    assert_eq!(data["memberships"][0]["real_name"], "张三");
    assert_eq!(data["memberships"][0]["status"], "ACTIVE");
    let need_ids: Vec<&str> = data["needs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(need_ids, vec![mine.as_str()]);
    assert_eq!(data["needs"][0]["description"], "我需要有人陪我去医院");
    assert_eq!(data["proposals"].as_array().unwrap().len(), 1);
    assert_eq!(data["votes"].as_array().unwrap().len(), 1);
    assert_eq!(data["ballot_electorates"].as_array().unwrap().len(), 1);
    assert_eq!(data["point_accounts"][0]["balance"], 30);
    assert_eq!(data["postings"].as_array().unwrap().len(), 1);
    assert!(data["user"].get("password_hash").is_none());
    assert!(data["user"].get("login_phone_blind_index").is_none());

    // Nothing of another person: not their need, name, id or membership.
    let text = data.to_string();
    for foreign in [
        theirs.as_str(),
        "李四",
        "修水管",
        &world.resident_b.id.to_string(),
        &world.resident_b.membership_id.unwrap().to_string(),
        &world.staff_a.membership_id.unwrap().to_string(),
    ] {
        assert!(!text.contains(foreign), "export leaks {foreign}");
    }
    // Each sees their own.
    let r = app.gql(world.resident_b.token(), MY_DATA, json!({})).await;
    let theirs_export = r.data()["myData"].clone();
    assert_eq!(theirs_export["user"]["id"], world.resident_b.id.to_string());
    assert_eq!(theirs_export["needs"][0]["id"], theirs.as_str());
    assert!(!theirs_export.to_string().contains("张三"));
    // Anonymous: refused.
    app.gql(None, MY_DATA, json!({}))
        .await
        .expect_error("UNAUTHENTICATED");
}

backend_tests!(
    phones_are_sealed_at_rest_and_shown_as_before,
    login_by_phone_works_and_duplicates_are_refused,
    the_start_up_backfill_seals_plaintext_and_is_idempotent,
    a_wrong_key_is_refused_with_a_clear_error,
    the_export_holds_the_callers_records_and_nobody_elses,
);
