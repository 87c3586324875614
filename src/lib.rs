//! Test support for Linli's end-to-end tests: each test gets its own server
//! on port 0 and its own database — a temporary SQLite file always, and a
//! fresh PostgreSQL database when `TEST_DATABASE_URL` is set.
//!
//! Write a test as `async fn name(app: TestApp)` and list it in
//! [`backend_tests!`]; it then runs once per back end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod process;
pub mod world;

use std::sync::Once;

use api::config::Settings;
use api::http::Application;
use api::policy::Actor;
use api::state::AppState;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

pub use world::World;

pub const TEST_JWT_SECRET: &str = "linli-test-secret-0123456789abcdef0123456789";
/// The personal-data key of test servers (32 bytes, hex).
pub const TEST_DATA_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn(TestApp)` on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::spawn_app($crate::Backend::Sqlite).await.expect("sqlite app");
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    match $crate::spawn_app($crate::Backend::Postgres).await {
                        Some(app) => super::$name(app).await,
                        None => $crate::report_postgres_skipped(stringify!($name)),
                    }
                }
            )*
        }
    };
}

/// The tests' side of a WebSocket to `/graphql/ws`.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl TestApp {
    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.base_url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// Opens `/graphql/ws` offering `protocol`, not yet initialised; with
    /// the server's upgrade answer.
    pub async fn connect_socket(
        &self,
        protocol: &str,
    ) -> (
        Socket,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ) {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}/graphql/ws", self.base_url.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        tokio_tungstenite::connect_async(request).await.unwrap()
    }
}

/// How long [`wait_until`] waits for a condition before the test fails:
/// long enough that a slow or busy machine makes a test slower, never red.
pub const WAIT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// Polls `check` every 50 ms until it gives `Some`, and returns that; fails
/// the test, naming `what`, when [`WAIT_DEADLINE`] passes first. Tests wait
/// on the condition they need, never on a fixed sleep.
pub async fn wait_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            started.elapsed() < WAIT_DEADLINE,
            "waited {WAIT_DEADLINE:?} for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Says so on the terminal itself: the test harness captures `eprintln!` of
/// passing tests, and a skip must not pass silently.
pub fn report_postgres_skipped(test: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED on PostgreSQL: {test} (set TEST_DATABASE_URL to run it)"
    );
}

pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub state: AppState,
    pub backend: Backend,
    handle: actix_web::dev::ServerHandle,
    _data_dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // Stop the server; the runtime may already be gone at the end of a test.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
    }
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            api::telemetry::init(api::config::LogFormat::Text);
        }
    });
}

/// Settings for a test server: a temporary data folder, port 0.
pub fn test_settings(data_dir: &std::path::Path) -> Settings {
    let mut settings = Settings::for_data_dir(data_dir);
    settings.jwt_secret = Some(SecretString::from(TEST_JWT_SECRET.to_string()));
    settings.data_encryption_key = Some(SecretString::from(TEST_DATA_KEY.to_string()));
    settings.workers = Some(2);
    settings.db_max_connections = 8;
    settings
}

/// Starts a server on `backend`; `None` when PostgreSQL is asked for and
/// `TEST_DATABASE_URL` is not set.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    init_logs();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(data_dir.path());
    settings.database_url = Some(match backend {
        Backend::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            data_dir.path().join("test.db").display()
        ),
        Backend::Postgres => fresh_postgres_database().await?,
    });
    configure(&mut settings);
    let db = api::db::connect(&settings).await.expect("connect");
    api::db::migrate(&db).await.expect("migrate");
    let state = AppState::new(settings, db.clone()).expect("state");
    // As the binary does: the key check and sealing legacy plaintext.
    api::service::privacy::prepare(&db, &state.keys)
        .await
        .expect("prepare personal data");
    let app = Application::build(state.clone()).expect("bind");
    let port = app.port();
    let server = app.into_server();
    let handle = server.handle();
    tokio::spawn(server);
    Some(TestApp {
        base_url: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        db,
        state,
        backend,
        handle,
        _data_dir: data_dir,
    })
}

/// Creates an empty database for one test on the server of TEST_DATABASE_URL.
async fn fresh_postgres_database() -> Option<String> {
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!("linli_test_{}", Uuid::now_v7().simple());
    let admin = api::db::connect_url(&admin_url, 1)
        .await
        .expect("TEST_DATABASE_URL connects");
    admin
        .execute_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("CREATE DATABASE {name}"),
        ))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base.to_string(), format!("?{query}")),
        None => (admin_url.clone(), String::new()),
    };
    let server = base
        .rsplit_once('/')
        .map(|(server, _)| server.to_string())
        .unwrap_or(base);
    Some(format!("{server}/{name}{query}"))
}

/// `BALLOT_CLOSED`, not `ballotClosed` or `BALLOT__CLOSED`.
pub fn is_screaming_snake_case(name: &str) -> bool {
    !name.is_empty()
        && name.split('_').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        && name.starts_with(|c: char| c.is_ascii_uppercase())
}

/// One GraphQL response, as JSON.
#[derive(Debug, Clone)]
pub struct GqlResponse {
    pub status: u16,
    pub body: Value,
}

impl GqlResponse {
    /// `data`, after checking there were no errors.
    pub fn data(&self) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            serde_json::to_string_pretty(&self.body).unwrap()
        );
        &self.body["data"]
    }

    /// The `extensions.code` of the first error, or None when there is none.
    pub fn error_code(&self) -> Option<String> {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .map(str::to_string)
    }

    /// The `extensions.reason` of the first error, or None when there is none.
    pub fn error_reason(&self) -> Option<String> {
        self.body["errors"][0]["extensions"]["reason"]
            .as_str()
            .map(str::to_string)
    }

    /// The first error, failing the test unless it has `code`, a message in
    /// Chinese and (every error does) an `extensions.reason` in
    /// SCREAMING_SNAKE_CASE.
    pub fn expect_error(&self, code: &str) -> &Value {
        assert_eq!(
            self.error_code().as_deref(),
            Some(code),
            "expected {code}, got {}",
            serde_json::to_string_pretty(&self.body).unwrap()
        );
        let message = self.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "error messages are Chinese: {message}"
        );
        // Every error, the HTTP layer's refusals (401, 413, 429, …) too.
        let reason = self.error_reason();
        assert!(
            reason.as_deref().is_some_and(is_screaming_snake_case),
            "every error carries extensions.reason in SCREAMING_SNAKE_CASE: {}",
            serde_json::to_string_pretty(&self.body).unwrap()
        );
        &self.body["errors"][0]
    }

    /// The first error, failing the test unless it has `code` and `reason`.
    pub fn expect_reason(&self, code: &str, reason: &str) -> &Value {
        let error = self.expect_error(code);
        assert_eq!(
            self.error_reason().as_deref(),
            Some(reason),
            "expected {code} {reason}, got {}",
            serde_json::to_string_pretty(&self.body).unwrap()
        );
        error
    }
}

impl TestApp {
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.base_url)
    }

    /// Sends a GraphQL request as `token` (None: anonymous).
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> GqlResponse {
        let mut request = self
            .client
            .post(self.graphql_url())
            .header("content-type", "application/json")
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.json().await.expect("json body");
        GqlResponse { status, body }
    }

    /// A fresh access token for a user (as after logging in).
    pub fn token_for(&self, user_id: Uuid) -> String {
        self.state
            .jwt
            .issue(user_id, chrono::Utc::now())
            .expect("token")
            .0
    }

    /// An access token for a user that stops being accepted `valid_for`
    /// from now (the verifier's leeway included): for tests of expiry.
    pub fn token_expiring_in(&self, user_id: Uuid, valid_for: std::time::Duration) -> String {
        let leeway = chrono::Duration::seconds(api::auth::jwt::LEEWAY_SECS as i64);
        let issued_at = chrono::Utc::now() - api::auth::jwt::ACCESS_TOKEN_TTL - leeway
            + chrono::Duration::from_std(valid_for).expect("a short duration");
        self.state.jwt.issue(user_id, issued_at).expect("token").0
    }

    /// Runs a SQL statement that returns one integer (a count).
    pub async fn count(&self, sql: &str) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(backend, sql.to_string()))
            .await
            .expect("count query")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    pub fn actor(&self, user_id: Uuid) -> Actor {
        Actor::User(user_id)
    }
}
