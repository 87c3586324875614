//! Personal data (issue 8): phones sealed at rest and found by their blind
//! index, legacy plaintext sealed at start, a wrong key refused, a person's
//! export of their own data, and the erasure of an account.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use api::crypto::{CryptoError, DataKeys, SealedColumn};
use api::service::privacy::{self, ERASED_NEED_DESCRIPTION, SealReport};
use entity::org::{membership, user};
use linli::world::Person;
use linli::{TestApp, World, backend_tests};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::credits_support;
use crate::lists_support;

/// The phone every `World` member joined with.
const WORLD_PHONE: &str = "13912345678";
const LOGIN: &str = "mutation($p: String!, $w: String!) { passwordLogin(phone: $p, password: $w) { accessToken refreshToken user { id } } }";
const REFRESH: &str = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }";
const ERASE: &str =
    "mutation($c: String!) { deleteMyAccount(confirmation: $c) { id pseudonym erasedAt } }";
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

async fn phones_are_sealed_at_rest_and_shown_as_before(app: TestApp) {
    let world = app.world().await;
    app.password_user("13855556666", "right-password").await;
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
    app.password_user("13811112222", "right-password").await;
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
    let session =
        set_password_and_log_in(&app, &world.resident_a, "13811113333", "another-password").await;
    assert_eq!(session["user"]["id"], world.resident_a.id.to_string());
}

/// `person` sets a login phone and password, then logs in with them; the
/// passwordLogin answer.
async fn set_password_and_log_in(
    app: &TestApp,
    person: &Person,
    phone: &str,
    password: &str,
) -> Value {
    app.gql(
        person.token(),
        "mutation($p: String!, $w: String!) { setPassword(phone: $p, password: $w) { id } }",
        json!({"p": phone, "w": password}),
    )
    .await
    .data();
    app.gql(None, LOGIN, json!({"p": phone, "w": password}))
        .await
        .data()["passwordLogin"]
        .clone()
}

async fn the_start_up_backfill_seals_plaintext_and_is_idempotent(app: TestApp) {
    let world = app.world().await;
    let staff_login = app.password_user("13822223333", "right-password").await;
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

async fn vote(app: &TestApp, who: &Person, ballot_id: Uuid) {
    app.gql(
        who.token(),
        "mutation($b: ID!) { castVote(ballotId: $b, choice: FOR) { id } }",
        json!({"b": ballot_id}),
    )
    .await
    .data();
}

async fn tally(app: &TestApp, world: &World, ballot_id: Uuid) -> Value {
    let r = app
        .gql(
            world.staff_a.token(),
            "query($b: ID!) { ballot(id: $b) { tally { forCount turnout } } }",
            json!({"b": ballot_id}),
        )
        .await;
    r.data()["ballot"]["tally"].clone()
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
    let ballot_id = app.open_residents_ballot(&world, false).await;
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

async fn erasure_pseudonymises_and_keeps_what_must_stay(app: TestApp) {
    let world = app.world().await;
    // The resident logs in by password too, so there is a session to revoke.
    let session =
        set_password_and_log_in(&app, &world.resident_a, "13833334444", "right-password").await;
    let access = session["accessToken"].as_str().unwrap().to_string();
    let refresh = session["refreshToken"].as_str().unwrap().to_string();
    let need = lists_support::need(
        &app,
        &world.resident_a,
        world.community_a,
        "陪诊",
        "医疗",
        "NORMAL",
        "我住3栋502，腿脚不便",
    )
    .await;
    let ballot_id = app.open_residents_ballot(&world, false).await;
    vote(&app, &world.resident_a, ballot_id).await;
    vote(&app, &world.staff_a, ballot_id).await;
    let tally_before = tally(&app, &world, ballot_id).await;
    // Points earned, then given to a neighbour: postings stay, balance is 0.
    credits_support::give(&app, &world, &world.resident_a, 40).await;
    credits_support::transfer(
        &app,
        &world,
        &world.resident_a,
        &world.staff_a,
        40,
        &Uuid::now_v7().to_string(),
    )
    .await
    .data();
    let postings = app.count("SELECT COUNT(*) FROM posting").await;
    let votes = app.count("SELECT COUNT(*) FROM ballot_vote").await;
    let electors = app.count("SELECT COUNT(*) FROM ballot_elector").await;

    let r = app
        .gql(Some(&access), ERASE, json!({"c": "确认注销"}))
        .await;
    let erased = r.data()["deleteMyAccount"].clone();
    let suffix = &world.resident_a.id.simple().to_string()[24..];
    let pseudonym = format!("已注销用户-{suffix}");
    assert_eq!(erased["id"], world.resident_a.id.to_string());
    assert_eq!(erased["pseudonym"], pseudonym);

    // The person is gone: name, phones, logins.
    let row = user::Entity::find_by_id(world.resident_a.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.display_name, pseudonym);
    assert!(row.login_phone_sealed.is_none() && row.login_phone_blind_index.is_none());
    assert!(row.password_hash.is_none() && row.wechat_openid.is_none());
    assert!(row.erased_at.is_some());
    let m = membership::Entity::find_by_id(world.resident_a.membership_id.unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.real_name, pseudonym);
    assert_eq!(m.phone_sealed, "");
    assert_eq!(m.status, membership::MembershipStatus::Left);
    assert_eq!(m.roles, 0);
    let need_row = entity::lists::need::Entity::find_by_id(need.parse::<Uuid>().unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(need_row.description, ERASED_NEED_DESCRIPTION);
    assert_eq!(need_row.requester_id, world.resident_a.id);

    // Tokens stop working: the access token, the world's token, the refresh token.
    for token in [access.as_str(), world.resident_a.token.as_str()] {
        let r = app.gql(Some(token), "{ me { id } }", json!({})).await;
        assert_eq!(r.status, 401);
        r.expect_error("UNAUTHENTICATED");
    }
    app.gql(None, REFRESH, json!({"t": refresh}))
        .await
        .expect_error("UNAUTHENTICATED");
    app.gql(
        None,
        LOGIN,
        json!({"p": "13833334444", "w": "right-password"}),
    )
    .await
    .expect_error("UNAUTHENTICATED");

    // What must stay stays, under the pseudonym; sums unchanged.
    assert_eq!(app.count("SELECT COUNT(*) FROM posting").await, postings);
    assert_eq!(app.count("SELECT COUNT(*) FROM ballot_vote").await, votes);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ballot_elector").await,
        electors
    );
    assert_eq!(tally(&app, &world, ballot_id).await, tally_before);
    credits_support::assert_ledger_invariants(&app).await;
    let members = app
        .gql(
            world.staff_a.token(),
            "query($c: ID!) { members(communityId: $c, status: LEFT) { edges { node { realName phone user { id displayName } } } } }",
            json!({"c": world.community_a}),
        )
        .await;
    let left = members.data()["members"]["edges"][0]["node"].clone();
    assert_eq!(left["realName"], pseudonym);
    assert_eq!(left["phone"], "");
    assert_eq!(left["user"]["displayName"], pseudonym);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'user' AND action = 'erase'")
            .await,
        1
    );
    // Nobody else was touched.
    let other = user::Entity::find_by_id(world.resident_b.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.display_name, "李四");
    assert!(other.erased_at.is_none());
    app.gql(world.resident_b.token(), "{ me { id } }", json!({}))
        .await
        .data();
}

async fn erasure_is_refused_for_bad_input_points_and_anonymous(app: TestApp) {
    let world = app.world().await;
    let audits = app.count("SELECT COUNT(*) FROM audit_log").await;
    // Anonymous: there is nobody to erase.
    app.gql(None, ERASE, json!({"c": "确认注销"}))
        .await
        .expect_error("UNAUTHENTICATED");
    // A wrong confirmation writes nothing.
    for wrong in ["", "yes", "确认", "确认注销账号"] {
        let r = app
            .gql(world.resident_a.token(), ERASE, json!({"c": wrong}))
            .await;
        let error = r.expect_error("BAD_USER_INPUT");
        assert_eq!(error["extensions"]["field"], "confirmation");
    }
    // Points not yet spent or given: INVALID_STATE, nothing written.
    credits_support::give(&app, &world, &world.resident_a, 25).await;
    let audits_with_points = app.count("SELECT COUNT(*) FROM audit_log").await;
    assert!(audits_with_points > audits);
    let r = app
        .gql(world.resident_a.token(), ERASE, json!({"c": "确认注销"}))
        .await;
    r.expect_error("INVALID_STATE");
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("25")
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log").await,
        audits_with_points
    );
    let row = user::Entity::find_by_id(world.resident_a.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.display_name, "张三");
    assert!(row.erased_at.is_none());
    // The mutation names nobody: another user's erasure cannot be asked for.
    let args = app
        .gql(
            world.admin.token(),
            r#"{ __type(name: "Mutation") { fields { name args { name } } } }"#,
            json!({}),
        )
        .await;
    let fields = args.data()["__type"]["fields"].as_array().unwrap().clone();
    let erase = fields
        .iter()
        .find(|f| f["name"] == "deleteMyAccount")
        .unwrap();
    assert_eq!(erase["args"], json!([{"name": "confirmation"}]));
    // Staff calling it erase themselves, never the resident.
    app.gql(world.staff_a.token(), ERASE, json!({"c": "确认注销"}))
        .await
        .data();
    app.gql(
        world.resident_a.token(),
        "{ me { displayName } }",
        json!({}),
    )
    .await
    .data();
    // Erasing twice: the token is refused.
    app.gql(world.staff_a.token(), ERASE, json!({"c": "确认注销"}))
        .await
        .expect_error("UNAUTHENTICATED");
}

backend_tests!(
    phones_are_sealed_at_rest_and_shown_as_before,
    login_by_phone_works_and_duplicates_are_refused,
    the_start_up_backfill_seals_plaintext_and_is_idempotent,
    a_wrong_key_is_refused_with_a_clear_error,
    the_export_holds_the_callers_records_and_nobody_elses,
    erasure_pseudonymises_and_keeps_what_must_stay,
    erasure_is_refused_for_bad_input_points_and_anonymous,
);
