//! Abuse limits: each attack is refused quickly with the right status and
//! code, ordinary requests keep being answered while it runs, and the server
//! is healthy afterwards. The per-IP and per-user rate limits answer 429
//! RATE_LIMITED with a retry hint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use linli::{Backend, TestApp, backend_tests, spawn_app_with};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use linli::Socket;

/// A graphql-transport-ws socket, acknowledged, with `token` (or none).
async fn open_socket(app: &TestApp, token: Option<&str>) -> Socket {
    let (mut socket, _) = app.connect_socket("graphql-transport-ws").await;
    let payload = match token {
        Some(token) => json!({"Authorization": format!("Bearer {token}")}),
        None => json!({}),
    };
    let init = json!({"type": "connection_init", "payload": payload});
    socket.send(Message::text(init.to_string())).await.unwrap();
    let ack = next_message(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

async fn next_message(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a message within 20 s")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] != "ping" && value["type"] != "pong" {
                return value;
            }
        }
    }
}

/// Sends `count` operations of `query` on `socket` at once; the payload of
/// each (by id), once all are complete.
async fn flood(socket: &mut Socket, count: usize, query: &str, variables: Value) -> Vec<Value> {
    for id in 0..count {
        let subscribe = json!({
            "id": id.to_string(),
            "type": "subscribe",
            "payload": {"query": query, "variables": variables},
        });
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .unwrap();
    }
    let mut payloads = vec![Value::Null; count];
    let mut complete = 0;
    while complete < count {
        let message = next_message(socket).await;
        let id: usize = message["id"].as_str().unwrap().parse().unwrap();
        match message["type"].as_str() {
            Some("next") => payloads[id] = message["payload"].clone(),
            Some("complete") => complete += 1,
            _ => panic!("unexpected {message}"),
        }
    }
    payloads
}

fn reason(payload: &Value) -> Option<&str> {
    payload["errors"][0]["extensions"]["reason"].as_str()
}

/// An attack must be refused well before a real query would time out.
const QUICKLY: Duration = Duration::from_secs(3);

async fn post(app: &TestApp, body: Vec<u8>) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = app
        .client
        .post(app.graphql_url())
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, body, started.elapsed())
}

fn query_body(query: &str) -> Vec<u8> {
    json!({ "query": query }).to_string().into_bytes()
}

async fn assert_healthy(app: &TestApp) {
    let r = app
        .client
        .get(format!("{}/healthz", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ordinary = app
        .gql(None, "{ regions(first: 5) { totalCount } }", json!({}))
        .await;
    assert!(ordinary.data()["regions"]["totalCount"].is_number());
}

fn first_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

fn first_message(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase()
}

fn deep_query(depth: usize) -> String {
    let mut query = String::from("{ regions { edges { node { id ");
    for _ in 0..depth {
        query.push_str("parent { ");
    }
    query.push_str("id");
    for _ in 0..depth {
        query.push_str(" }");
    }
    query.push_str(" } } } }");
    query
}

fn aliased_query(aliases: usize) -> String {
    let mut query = String::from("{ ");
    for i in 0..aliases {
        query.push_str(&format!(
            "a{i}: regions(first: 100) {{ totalCount edges {{ node {{ id name }} }} }} "
        ));
    }
    query.push('}');
    query
}

fn directive_query(directives: usize) -> String {
    let mut query = String::from("{ __typename");
    for _ in 0..directives {
        query.push_str(" @include(if: true)");
    }
    query.push_str(" }");
    query
}

async fn depth_50_is_refused(app: TestApp) {
    let (status, body, elapsed) = post(&app, query_body(&deep_query(50))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.get("data").is_none(), "never executed: {body}");
    assert_eq!(
        first_code(&body),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{body}"
    );
    // 54 nested selection sets: refused from the text, before parsing.
    assert!(first_message(&body).contains("嵌套过深"), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "DOCUMENT_TOO_DEEP"
    );
    assert!(elapsed < QUICKLY, "refused in {elapsed:?}");
    // Depth 20 is parsed, then refused by the schema's depth limit (16).
    let (status, body, _) = post(&app, query_body(&deep_query(20))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        first_code(&body),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{body}"
    );
    assert!(first_message(&body).contains("deep"), "{body}");
    // Depth 10 runs.
    let (status, body, _) = post(&app, query_body(&deep_query(10))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_healthy(&app).await;
}

async fn a_thousand_aliases_are_refused(app: TestApp) {
    let (status, body, elapsed) = post(&app, query_body(&aliased_query(1_000))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.get("data").is_none(), "never executed: {body}");
    assert_eq!(
        first_code(&body),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{body}"
    );
    let message = first_message(&body);
    // 72 KB of text: refused for its length before it is parsed.
    assert!(message.contains("查询过大"), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "DOCUMENT_TOO_LARGE"
    );
    assert!(elapsed < QUICKLY, "refused in {elapsed:?}");
    // A thousand short aliases (15 KB) are refused for the number of
    // fields, counted from the text before parsing.
    let short: String = (0..1_000).map(|i| format!("a{i}: __typename ")).collect();
    let (status, body, _) = post(&app, query_body(&format!("{{ {short} }}"))).await;
    assert_eq!(status, 400, "{body}");
    assert!(first_message(&body).contains("字段"), "{body}");
    // A handful of aliases is ordinary and still runs.
    let (status, body, _) = post(&app, query_body(&aliased_query(5))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["a4"]["totalCount"].is_number(), "{body}");
    assert_healthy(&app).await;
}

async fn a_hundred_operation_batch_is_refused(app: TestApp) {
    let batch: Vec<Value> = (0..100)
        .map(|i| json!({"query": format!("query Q{i} {{ regions {{ totalCount }} }}")}))
        .collect();
    let (status, body, elapsed) = post(&app, Value::Array(batch).to_string().into_bytes()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(first_code(&body), Some("BAD_REQUEST"), "{body}");
    assert!(first_message(&body).contains("批量"), "{body}");
    assert!(elapsed < QUICKLY, "refused in {elapsed:?}");
    // One document with 100 operations and no operationName does not run either.
    let document: String = (0..100)
        .map(|i| format!("query Q{i} {{ regions {{ totalCount }} }}\n"))
        .collect();
    let (status, body, _) = post(&app, query_body(&document)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.get("data").is_none(), "{body}");
    assert_healthy(&app).await;
}

async fn ten_thousand_directives_are_refused(app: TestApp) {
    let (status, body, elapsed) = post(&app, query_body(&directive_query(10_000))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.get("data").is_none(), "never executed: {body}");
    assert_eq!(
        first_code(&body),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{body}"
    );
    assert!(elapsed < QUICKLY, "refused in {elapsed:?}");
    // Spread over many fields (one directive each) they are refused too:
    // the document has too many fields and directives.
    let mut spread = String::from("{ ");
    for i in 0..10_000 {
        spread.push_str(&format!("a{i}: __typename @include(if: true) "));
    }
    spread.push('}');
    let (status, body, elapsed) = post(&app, query_body(&spread)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        first_code(&body),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{body}"
    );
    assert!(elapsed < QUICKLY, "refused in {elapsed:?}");
    assert_healthy(&app).await;
}

async fn a_ten_megabyte_body_is_refused(app: TestApp) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let huge = format!(
        r#"{{"query":"{{ __typename }}","variables":{{"x":"{}"}}}}"#,
        "a".repeat(10 << 20)
    );
    // Over a raw connection, so that the answer is read even when the
    // server answers before the client has finished sending (an HTTP client
    // then reports a broken pipe and never shows the status).
    let address = app.base_url.trim_start_matches("http://").to_string();
    let started = Instant::now();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        huge.len()
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    let sender = tokio::spawn(async move {
        // Cut short once the server has refused it: that is the point.
        let _ = writer.write_all(huge.as_bytes()).await;
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    let elapsed = started.elapsed();
    sender.abort();
    let status_line = String::from_utf8_lossy(&answer);
    assert!(
        status_line.starts_with("HTTP/1.1 413"),
        "a 10 MB body is refused with 413, got: {status_line:?}"
    );
    assert!(elapsed < QUICKLY, "refused in {elapsed:?}");
    assert_healthy(&app).await;
}

/// Ordinary queries keep being answered (successfully, without errors) while
/// all the attacks are sent at once.
async fn ordinary_traffic_is_served_during_attacks(app: TestApp) {
    let attacks = async {
        for _ in 0..3 {
            let bodies = vec![
                query_body(&deep_query(50)),
                query_body(&aliased_query(1_000)),
                query_body(&directive_query(10_000)),
            ];
            let sent = bodies.into_iter().map(|b| post(&app, b));
            for (status, _, _) in futures_util::future::join_all(sent).await {
                assert_eq!(status, 400);
            }
        }
    };
    let ordinary = async {
        let mut answered = 0;
        for _ in 0..20 {
            let r = app
                .gql(None, "{ regions(first: 5) { totalCount } }", json!({}))
                .await;
            assert!(r.data()["regions"]["totalCount"].is_number());
            answered += 1;
        }
        answered
    };
    let ((), answered) = futures_util::join!(attacks, ordinary);
    assert_eq!(answered, 20);
    assert_healthy(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ip_rate_limit_answers_429_with_a_retry_hint() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit_ip_burst = 5.0;
        s.rate_limit_ip_per_sec = 0.5;
    })
    .await
    .unwrap();
    for _ in 0..5 {
        let (status, body, _) = post(&app, query_body("{ __typename }")).await;
        assert_eq!(status, 200, "{body}");
    }
    let response = app
        .client
        .post(app.graphql_url())
        .header("content-type", "application/json")
        .body(query_body("{ __typename }"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(first_code(&body), Some("RATE_LIMITED"));
    assert_eq!(body["errors"][0]["extensions"]["reason"], "RATE_LIMITED_IP");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], retry_after);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("频繁")
    );
    // GET and the WebSocket endpoint count against the same bucket.
    let r = app
        .client
        .get(app.graphql_url())
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // Health checks are never limited.
    let r = app
        .client
        .get(format!("{}/healthz", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // After the hinted wait a token is back: the wait is what is tested.
    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(200)).await;
    let (status, _, _) = post(&app, query_body("{ __typename }")).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_rate_limit_is_per_user() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit_user_burst = 3.0;
        s.rate_limit_user_per_sec = 0.2;
    })
    .await
    .unwrap();
    let world = app.world().await;
    for _ in 0..3 {
        app.gql(world.resident_a.token(), "{ me { id } }", json!({}))
            .await
            .data();
    }
    let refused = app
        .gql(world.resident_a.token(), "{ me { id } }", json!({}))
        .await;
    assert_eq!(refused.status, 429);
    refused.expect_error("RATE_LIMITED");
    assert!(refused.body["errors"][0]["extensions"]["retryAfter"].as_u64() >= Some(1));
    // A mutation refused by the limit writes nothing.
    let before = app.count("SELECT COUNT(*) FROM audit_log").await;
    let r = app
        .gql(
            world.resident_a.token(),
            r#"mutation { updateProfile(displayName: "改名") { id } }"#,
            json!({}),
        )
        .await;
    r.expect_error("RATE_LIMITED");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, before);
    // Other users, and anonymous callers, have their own buckets.
    app.gql(world.resident_b.token(), "{ me { id } }", json!({}))
        .await
        .data();
    app.gql(None, "{ me { id } }", json!({})).await.data();
}

/// Sixty password logins in a row over one socket: the per-IP limit is
/// charged per operation, as over HTTP, and a refused login is never
/// evaluated (no Argon2 check, no session).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_flood_over_one_socket_is_limited() {
    // One cell back every 100 s: the refill cannot blur the count, nor
    // free the bucket before the HTTP check below, however slow the
    // machine (at 1 a second it once did: issue 24's flake hunt).
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit_ip_burst = 5.0;
        s.rate_limit_ip_per_sec = 0.01;
    })
    .await
    .unwrap();
    app.password_user("13800138000", "correct-horse-42").await;
    let mut socket = open_socket(&app, None).await;
    let login = "mutation($p: String!, $w: String!) { passwordLogin(phone: $p, password: $w) { accessToken } }";
    let started = Instant::now();
    let payloads = flood(
        &mut socket,
        60,
        login,
        json!({"p": "13800138000", "w": "correct-horse-42"}),
    )
    .await;
    let evaluated = payloads
        .iter()
        .filter(|p| p["data"]["passwordLogin"]["accessToken"].is_string())
        .count();
    let limited: Vec<&Value> = payloads
        .iter()
        .filter(|p| reason(p) == Some("RATE_LIMITED_IP"))
        .collect();
    assert_eq!(evaluated + limited.len(), 60, "{payloads:?}");
    // The burst of 5, less the socket's own opening, plus what refilled
    // (1 in 100 s) while the flood was answered.
    let refilled = (started.elapsed().as_secs_f64() / 100.0) as usize + 1;
    assert!(
        (1..=4 + refilled).contains(&evaluated),
        "{evaluated} evaluated"
    );
    for payload in &limited {
        assert!(payload["data"].is_null(), "{payload}");
        assert_eq!(payload["errors"][0]["extensions"]["code"], "RATE_LIMITED");
        assert!(payload["errors"][0]["extensions"]["retryAfter"].as_u64() >= Some(1));
    }
    // Only the evaluated logins made sessions.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM refresh_token").await,
        evaluated as i64
    );
    // HTTP shares the bucket.
    let (status, body, _) = post(&app, query_body("{ __typename }")).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "RATE_LIMITED_IP");
}

/// The per-user limit is charged per operation on a socket, from the same
/// bucket as the user's HTTP requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_limit_is_charged_per_socket_operation() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit_user_burst = 3.0;
        // One back every 100 s: the counts below hold on any machine.
        s.rate_limit_user_per_sec = 0.01;
    })
    .await
    .unwrap();
    let world = app.world().await;
    let mut socket = open_socket(&app, Some(&world.resident_a.token)).await;
    let payloads = flood(&mut socket, 10, "{ me { id } }", json!({})).await;
    let answered = payloads
        .iter()
        .filter(|p| p["data"]["me"]["id"].is_string())
        .count();
    let limited = payloads
        .iter()
        .filter(|p| reason(p) == Some("RATE_LIMITED_USER"))
        .count();
    assert_eq!((answered, limited), (3, 7), "{payloads:?}");
    let r = app
        .gql(world.resident_a.token(), "{ me { id } }", json!({}))
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.body["errors"][0]["extensions"]["reason"],
        "RATE_LIMITED_USER"
    );
    // Another user's socket has its own bucket.
    let mut other = open_socket(&app, Some(&world.resident_b.token)).await;
    let payloads = flood(&mut other, 1, "{ me { id } }", json!({})).await;
    assert!(payloads[0]["data"]["me"]["id"].is_string(), "{payloads:?}");
}

backend_tests!(
    depth_50_is_refused,
    a_thousand_aliases_are_refused,
    a_hundred_operation_batch_is_refused,
    ten_thousand_directives_are_refused,
    a_ten_megabyte_body_is_refused,
    ordinary_traffic_is_served_during_attacks,
);
