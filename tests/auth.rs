//! Logging in: WeChat code2session (against a local stand-in for WeChat),
//! phone + password with lockout, refresh-token rotation and reuse, logout,
//! and tokens that must be refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use linli::{Backend, TestApp, backend_tests, spawn_app_with};
use secrecy::SecretString;
use serde_json::{Value, json};

/// What the stand-in WeChat saw: the query strings of code2session calls.
type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// Plays WeChat's /sns/jscode2session: `ok-<openid>` logs in, `union-<openid>`
/// also returns a unionid, `bad` is error 40029, `limit` 45011, `busy` -1,
/// `risky` 40226.
async fn fake_wechat() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let recorded = seen.clone();
    let server = HttpServer::new(move || {
        let recorded = recorded.clone();
        App::new().route(
            "/sns/jscode2session",
            web::get().to(move |query: web::Query<Vec<(String, String)>>| {
                let recorded = recorded.clone();
                async move {
                    let params = query.into_inner();
                    recorded.lock().unwrap().push(params.clone());
                    let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_default();
                    if get("appid") != "wx-test-app" || get("secret") != "wx-test-secret" || get("grant_type") != "authorization_code" {
                        return HttpResponse::Ok().json(json!({"errcode": 40013, "errmsg": "invalid appid"}));
                    }
                    let code = get("js_code");
                    let body = if let Some(openid) = code.strip_prefix("ok-") {
                        json!({"openid": openid, "session_key": "SECRET-SESSION-KEY"})
                    } else if let Some(openid) = code.strip_prefix("union-") {
                        json!({"openid": openid, "session_key": "SECRET-SESSION-KEY", "unionid": format!("u-{openid}")})
                    } else if code == "limit" {
                        json!({"errcode": 45011, "errmsg": "api minute-quota reach limit"})
                    } else if code == "busy" {
                        json!({"errcode": -1, "errmsg": "system error"})
                    } else if code == "risky" {
                        json!({"errcode": 40226, "errmsg": "high risk user"})
                    } else {
                        json!({"errcode": 40029, "errmsg": "invalid code"})
                    };
                    HttpResponse::Ok().json(body)
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}"), seen)
}

async fn app_with_wechat(backend: Backend) -> Option<(TestApp, Seen)> {
    let (base, seen) = fake_wechat().await;
    let app = spawn_app_with(backend, |s| {
        s.wechat_api_base = base;
        s.wechat_app_id = "wx-test-app".into();
        s.wechat_app_secret = Some(SecretString::from("wx-test-secret".to_string()));
    })
    .await?;
    Some((app, seen))
}

const WECHAT_LOGIN: &str = "mutation($code: String!) { wechatLogin(code: $code) { accessToken refreshToken expiresAt user { id displayName } } }";

async fn wechat_login_finds_or_creates_the_user(app: TestApp) {
    let Some((app, seen)) = app_with_wechat(app.backend).await else {
        return;
    };
    let first = app
        .gql(None, WECHAT_LOGIN, json!({"code": "ok-openid-1"}))
        .await;
    let user_id = first.data()["wechatLogin"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let again = app
        .gql(None, WECHAT_LOGIN, json!({"code": "ok-openid-1"}))
        .await;
    assert_eq!(
        again.data()["wechatLogin"]["user"]["id"],
        user_id.as_str(),
        "same openid, same user"
    );
    let other = app
        .gql(None, WECHAT_LOGIN, json!({"code": "ok-openid-2"}))
        .await;
    assert_ne!(other.data()["wechatLogin"]["user"]["id"], user_id.as_str());
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 2);
    // The unionid is kept when WeChat gives one.
    app.gql(None, WECHAT_LOGIN, json!({"code": "union-openid-3"}))
        .await
        .data();
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE wechat_unionid = 'u-openid-3'")
            .await,
        1
    );
    // The token works.
    let token = first.data()["wechatLogin"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let me = app.gql(Some(&token), "{ me { id } }", json!({})).await;
    assert_eq!(me.data()["me"]["id"], user_id.as_str());
    // Linli asked WeChat exactly as documented.
    let calls = seen.lock().unwrap().clone();
    assert!(calls.iter().all(|c| {
        c.iter()
            .any(|(k, v)| k == "grant_type" && v == "authorization_code")
    }));
    assert!(
        calls[0]
            .iter()
            .any(|(k, v)| k == "js_code" && v == "ok-openid-1")
    );
    // The session_key is stored nowhere.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE CAST(after AS TEXT) LIKE '%SECRET-SESSION-KEY%'"
        )
        .await,
        0
    );
}

async fn wechat_errors_are_clear(app: TestApp) {
    let Some((app, _)) = app_with_wechat(app.backend).await else {
        return;
    };
    let bad = app.gql(None, WECHAT_LOGIN, json!({"code": "bad"})).await;
    assert_eq!(
        bad.expect_reason("BAD_USER_INPUT", "WECHAT_CODE_INVALID")["extensions"]["field"],
        "code"
    );
    let limit = app.gql(None, WECHAT_LOGIN, json!({"code": "limit"})).await;
    assert!(
        limit.expect_reason("RATE_LIMITED", "WECHAT_RATE_LIMITED")["extensions"]["retryAfter"]
            .as_i64()
            .is_some_and(|secs| secs > 0)
    );
    // WeChat busy (-1) is no bug of Linli's: UNAVAILABLE, try again later.
    let busy = app.gql(None, WECHAT_LOGIN, json!({"code": "busy"})).await;
    assert_eq!(
        busy.expect_reason("UNAVAILABLE", "WECHAT_UNAVAILABLE")["extensions"]["retryAfter"],
        10
    );
    app.gql(None, WECHAT_LOGIN, json!({"code": "risky"}))
        .await
        .expect_reason("FORBIDDEN", "WECHAT_USER_BLOCKED");
    assert!(
        busy.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("微信")
    );
    app.gql(None, WECHAT_LOGIN, json!({"code": ""}))
        .await
        .expect_error("BAD_USER_INPUT");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users").await,
        0,
        "nothing written"
    );
}

/// WeChat that cannot be reached (nothing listens at its address) is
/// UNAVAILABLE with retryAfter, as WeChat busy is.
async fn wechat_unreachable_is_unavailable(app: TestApp) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let Some(app) = spawn_app_with(app.backend, |s| {
        s.wechat_api_base = base;
        s.wechat_app_id = "wx-test-app".into();
        s.wechat_app_secret = Some(SecretString::from("wx-test-secret".to_string()));
    })
    .await
    else {
        return;
    };
    let r = app.gql(None, WECHAT_LOGIN, json!({"code": "ok-x"})).await;
    assert_eq!(
        r.expect_reason("UNAVAILABLE", "WECHAT_UNAVAILABLE")["extensions"]["retryAfter"],
        10
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

/// Not INTERNAL: the deployment has no WeChat settings, which is no fault
/// of the server (found by the schemathesis run of `.ci/run`, which fails
/// on any INTERNAL).
async fn wechat_login_without_configuration_says_so(app: TestApp) {
    let r = app.gql(None, WECHAT_LOGIN, json!({"code": "ok-x"})).await;
    let error = r.expect_reason("INVALID_STATE", "WECHAT_NOT_CONFIGURED");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("微信登录尚未配置"),
        "{error}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

const PASSWORD_LOGIN: &str = "mutation($p: String!, $w: String!) { passwordLogin(phone: $p, password: $w) { accessToken refreshToken user { id } } }";

async fn login(app: &TestApp, phone: &str, password: &str) -> linli::GqlResponse {
    app.gql(None, PASSWORD_LOGIN, json!({"p": phone, "w": password}))
        .await
}

/// `linli_password_verifications_total{against="<against>"}` from /metrics.
async fn verifications(app: &TestApp, against: &str) -> u64 {
    let text = app.metrics_text().await;
    let prefix = format!("linli_password_verifications_total{{against=\"{against}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map_or(0, |n| n.trim().parse().unwrap())
}

async fn password_login_and_lockout(app: TestApp) {
    let id = app.password_user("13811112222", "right-password").await;
    let ok = login(&app, "13811112222", "right-password").await;
    assert_eq!(
        ok.data()["passwordLogin"]["user"]["id"],
        id.to_string().as_str()
    );
    // Wrong password and unknown phone read the same.
    let wrong = login(&app, "13811112222", "wrong-password").await;
    let unknown = login(&app, "13899998888", "wrong-password").await;
    // An unknown phone and a wrong password read alike, reason included.
    unknown.expect_reason("UNAUTHENTICATED", "CREDENTIALS_WRONG");
    assert_eq!(wrong.body, unknown.body);
    // Five failures in a row lock the account, and say nothing more than
    // any other failure.
    for _ in 0..4 {
        assert_eq!(
            login(&app, "13811112222", "wrong-password").await.body,
            unknown.body
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE locked_until IS NOT NULL")
            .await,
        1
    );
    // Then even the right password is refused until the lock ends, with
    // the answer an unknown phone gets: a lock tells nobody the phone has
    // an account.
    let checked = verifications(&app, "account").await;
    let during_lock = login(&app, "13811112222", "right-password").await;
    assert_eq!(during_lock.status, unknown.status);
    assert_eq!(during_lock.body, unknown.body);
    assert_eq!(
        verifications(&app, "account").await,
        checked,
        "a locked account's hash is not checked"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'lock_after_failed_logins'")
            .await,
        1
    );
}

/// Fifty wrong passwords for one phone at once: the attempts are claimed
/// in SQL before any hash is checked, so no more than the allowed number
/// are checked against the account's hash, whatever the concurrency.
async fn a_burst_of_wrong_passwords_checks_at_most_the_allowed_number(app: TestApp) {
    let max = u64::try_from(api::service::auth::MAX_FAILED_LOGINS).unwrap();
    app.password_user("13811117777", "right-password").await;
    let unknown = login(&app, "13899997777", "wrong-password").await;
    unknown.expect_error("UNAUTHENTICATED");
    let (checked_before, dummies_before) = (
        verifications(&app, "account").await,
        verifications(&app, "dummy").await,
    );
    let burst = (0..50).map(|_| login(&app, "13811117777", "wrong-password"));
    let answers = futures_util::future::join_all(burst).await;
    for answer in &answers {
        assert_eq!(answer.body, unknown.body, "every attempt reads the same");
    }
    let checked = verifications(&app, "account").await - checked_before;
    assert_eq!(
        checked, max,
        "50 concurrent attempts checked {checked} passwords, the limit is {max}"
    );
    // The others cost a dummy hash each, as an unknown phone does.
    assert_eq!(
        verifications(&app, "dummy").await - dummies_before,
        50 - max
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE locked_until IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'lock_after_failed_logins'")
            .await,
        1,
        "one lock"
    );
    // The right password during the lock: refused, as an unknown phone is.
    let during_lock = login(&app, "13811117777", "right-password").await;
    assert_eq!(during_lock.body, unknown.body);
    assert_eq!(verifications(&app, "account").await - checked_before, max);
}

/// A lock that ran out lets the right password in and counts afresh.
async fn a_lock_that_ran_out_lets_the_right_password_in(app: TestApp) {
    use entity::org::user;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let id = app.password_user("13811118888", "right-password").await;
    for _ in 0..5 {
        login(&app, "13811118888", "wrong-password")
            .await
            .expect_error("UNAUTHENTICATED");
    }
    login(&app, "13811118888", "right-password")
        .await
        .expect_error("UNAUTHENTICATED");
    user::Entity::update_many()
        .col_expr(
            user::Column::LockedUntil,
            Expr::value(Some(chrono::Utc::now() - chrono::Duration::seconds(1))),
        )
        .filter(user::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
    // One wrong attempt after the lock does not lock again…
    login(&app, "13811118888", "wrong-password")
        .await
        .expect_error("UNAUTHENTICATED");
    let ok = login(&app, "13811118888", "right-password").await;
    assert_eq!(
        ok.data()["passwordLogin"]["user"]["id"],
        id.to_string().as_str()
    );
    // …and the success cleared both the count and the lock.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM users WHERE failed_login_count = 0 AND locked_until IS NULL"
        )
        .await,
        1
    );
}

async fn a_success_resets_the_failure_count(app: TestApp) {
    app.password_user("13811113333", "right-password").await;
    for _ in 0..4 {
        app.gql(
            None,
            PASSWORD_LOGIN,
            json!({"p": "13811113333", "w": "nope-nope"}),
        )
        .await
        .expect_error("UNAUTHENTICATED");
    }
    app.gql(
        None,
        PASSWORD_LOGIN,
        json!({"p": "13811113333", "w": "right-password"}),
    )
    .await
    .data();
    app.gql(
        None,
        PASSWORD_LOGIN,
        json!({"p": "13811113333", "w": "nope-nope"}),
    )
    .await
    .expect_error("UNAUTHENTICATED");
    app.gql(
        None,
        PASSWORD_LOGIN,
        json!({"p": "13811113333", "w": "right-password"}),
    )
    .await
    .data();
}

const REFRESH: &str = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken user { id } } }";

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(app: TestApp) {
    app.password_user("13811114444", "right-password").await;
    let login = app
        .gql(
            None,
            PASSWORD_LOGIN,
            json!({"p": "13811114444", "w": "right-password"}),
        )
        .await;
    let first = login.data()["passwordLogin"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    let rotated = app.gql(None, REFRESH, json!({"t": first})).await;
    let second = rotated.data()["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, second);
    // Only hashes are stored.
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM refresh_token WHERE token_hash = '{second}'"
        ))
        .await,
        0
    );
    // The spent token comes back: refused, and the whole family is revoked…
    app.gql(None, REFRESH, json!({"t": first}))
        .await
        .expect_error("UNAUTHENTICATED");
    // …so the newest token no longer works either.
    app.gql(None, REFRESH, json!({"t": second}))
        .await
        .expect_error("UNAUTHENTICATED");
    // Garbage is refused.
    app.gql(None, REFRESH, json!({"t": "garbage"}))
        .await
        .expect_error("UNAUTHENTICATED");
}

async fn concurrent_refresh_with_one_token_succeeds_at_most_once(app: TestApp) {
    app.password_user("13811115555", "right-password").await;
    let login = app
        .gql(
            None,
            PASSWORD_LOGIN,
            json!({"p": "13811115555", "w": "right-password"}),
        )
        .await;
    let token = login.data()["passwordLogin"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    let attempts = (0..8).map(|_| app.gql(None, REFRESH, json!({"t": token.clone()})));
    let results = futures_util::future::join_all(attempts).await;
    let successes = results.iter().filter(|r| r.error_code().is_none()).count();
    assert_eq!(successes, 1, "a refresh token is spent exactly once");
    // Every other attempt is a reuse, refused as such (never a server
    // fault), and the reuse revoked the family: the token issued to the
    // one success is spent with it.
    for refused in results.iter().filter(|r| r.error_code().is_some()) {
        refused.expect_error("UNAUTHENTICATED");
    }
    let issued = results
        .iter()
        .find(|r| r.error_code().is_none())
        .map(|r| r.data()["refreshToken"]["refreshToken"].clone())
        .unwrap();
    app.gql(None, REFRESH, json!({"t": issued}))
        .await
        .expect_error("UNAUTHENTICATED");
    assert!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'reuse_revoked_family'")
            .await
            >= 1
    );
}

async fn logout_revokes_the_session(app: TestApp) {
    app.password_user("13811116666", "right-password").await;
    let login = app
        .gql(
            None,
            PASSWORD_LOGIN,
            json!({"p": "13811116666", "w": "right-password"}),
        )
        .await;
    let access = login.data()["passwordLogin"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let refresh = login.data()["passwordLogin"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    let out = app
        .gql(
            Some(&access),
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({"t": refresh}),
        )
        .await;
    assert_eq!(out.data()["logout"], true);
    app.gql(None, REFRESH, json!({"t": refresh}))
        .await
        .expect_error("UNAUTHENTICATED");
    // Logging out needs a session.
    app.gql(
        None,
        "mutation($t: String!) { logout(refreshToken: $t) }",
        json!({"t": "x"}),
    )
    .await
    .expect_error("UNAUTHENTICATED");
}

async fn bad_access_tokens_are_refused_with_401(app: TestApp) {
    use base64::Engine;
    let user = app.create_user("某人", false).await;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, exp: i64| {
        b64.encode(format!(
            r#"{{"iss":"linli","aud":"{aud}","sub":"{}","iat":{now},"exp":{exp}}}"#,
            user.id
        ))
    };
    let sign = |header: &str, claims: &str, key: &[u8]| {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{header}.{claims}").as_bytes());
        format!(
            "{header}.{claims}.{}",
            b64.encode(mac.finalize().into_bytes())
        )
    };
    let hs256 = b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let none = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let secret = linli::TEST_JWT_SECRET.as_bytes();
    let valid = sign(&hs256, &claims("linli-api", now + 600), secret);
    let cases = [
        (
            "another key",
            sign(
                &hs256,
                &claims("linli-api", now + 600),
                b"another-secret-another-secret-0000",
            ),
        ),
        (
            "alg none",
            format!("{none}.{}.", claims("linli-api", now + 600)),
        ),
        (
            "another audience",
            sign(&hs256, &claims("other-app", now + 600), secret),
        ),
        (
            "expired",
            sign(&hs256, &claims("linli-api", now - 600), secret),
        ),
        ("garbage", "not.a.jwt".to_string()),
    ];
    let me = app.gql(Some(&valid), "{ me { id } }", json!({})).await;
    assert_eq!(
        me.data()["me"]["id"],
        user.id.to_string().as_str(),
        "a well-formed token works"
    );
    for (what, token) in cases {
        let response = app.gql(Some(&token), "{ me { id } }", json!({})).await;
        assert_eq!(response.status, 401, "{what}");
        assert_eq!(
            response.error_code().as_deref(),
            Some("UNAUTHENTICATED"),
            "{what}"
        );
        assert!(response.body.get("data").is_none(), "{what}");
    }
}

async fn set_password_enables_password_login(app: TestApp) {
    let user = app.create_user("社工小王", false).await;
    let set = "mutation($p: String!, $w: String!, $c: String) { setPassword(phone: $p, password: $w, currentPassword: $c) { id hasPasswordLogin } }";
    app.gql(user.token(), set, json!({"p": "123", "w": "long-enough"}))
        .await
        .expect_error("BAD_USER_INPUT");
    app.gql(user.token(), set, json!({"p": "13722223333", "w": "short"}))
        .await
        .expect_error("BAD_USER_INPUT");
    let done = app
        .gql(
            user.token(),
            set,
            json!({"p": "13722223333", "w": "long-enough"}),
        )
        .await;
    assert_eq!(done.data()["setPassword"]["hasPasswordLogin"], true);
    app.gql(
        None,
        PASSWORD_LOGIN,
        json!({"p": "13722223333", "w": "long-enough"}),
    )
    .await
    .data();
    // Changing it needs the current one.
    let wrong = app
        .gql(
            user.token(),
            set,
            json!({"p": "13722223333", "w": "another-one", "c": "bad"}),
        )
        .await;
    assert_eq!(
        wrong.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "currentPassword"
    );
    app.gql(
        user.token(),
        set,
        json!({"p": "13722223333", "w": "another-one", "c": "long-enough"}),
    )
    .await
    .data();
    // A phone another account uses is refused.
    let other = app.create_user("别人", false).await;
    app.gql(
        other.token(),
        set,
        json!({"p": "13722223333", "w": "long-enough"}),
    )
    .await
    .expect_error("CONFLICT");
    app.gql(None, set, json!({"p": "13722223333", "w": "long-enough"}))
        .await
        .expect_error("UNAUTHENTICATED");
}

async fn jwt_secret_is_generated_once_and_short_ones_refused(_app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let settings = api::config::Settings::for_data_dir(dir.path());
    use secrecy::ExposeSecret;
    let first = settings.resolve_jwt_secret().unwrap();
    let second = settings.resolve_jwt_secret().unwrap();
    assert_eq!(
        first.expose_secret(),
        second.expose_secret(),
        "kept in the data folder"
    );
    assert!(first.expose_secret().len() >= 32);
    let mut short = settings.clone();
    short.jwt_secret = Some(SecretString::from("too-short".to_string()));
    assert!(short.resolve_jwt_secret().is_err());
    let _ = Value::Null;
}

backend_tests!(
    wechat_login_finds_or_creates_the_user,
    wechat_errors_are_clear,
    wechat_unreachable_is_unavailable,
    wechat_login_without_configuration_says_so,
    password_login_and_lockout,
    a_burst_of_wrong_passwords_checks_at_most_the_allowed_number,
    a_lock_that_ran_out_lets_the_right_password_in,
    a_success_resets_the_failure_count,
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    concurrent_refresh_with_one_token_succeeds_at_most_once,
    logout_revokes_the_session,
    bad_access_tokens_are_refused_with_401,
    set_password_enables_password_login,
    jwt_secret_is_generated_once_and_short_ones_refused,
);
