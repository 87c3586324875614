//! GraphQL over HTTP, GraphiQL, WebSocket subscriptions, health, readiness, metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use linli::{Backend, TestApp, backend_tests, spawn_app_with};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use linli::Socket;

/// Opens /graphql/ws with `protocol` and sends `connection_init` with `payload`.
async fn open_socket(app: &TestApp, protocol: &str, payload: Value) -> Socket {
    let (mut socket, _) = app.connect_socket(protocol).await;
    let init = json!({"type": "connection_init", "payload": payload});
    socket.send(Message::text(init.to_string())).await.unwrap();
    socket
}

/// What the server sent next: a message (pings skipped), or the close
/// frame's code (None: closed without one).
#[derive(Debug)]
enum Frame {
    Json(Value),
    Closed(Option<u16>),
}

async fn next_frame(socket: &mut Socket, within: Duration) -> Frame {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no frame within {within:?}"));
        match message {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" || value["type"] == "pong" || value["type"] == "ka" {
                    continue;
                }
                return Frame::Json(value);
            }
            Some(Ok(Message::Close(frame))) => {
                return Frame::Closed(frame.map(|f| u16::from(f.code)));
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Frame::Closed(None),
        }
    }
}

async fn next_json(socket: &mut Socket) -> Value {
    match next_frame(socket, Duration::from_secs(10)).await {
        Frame::Json(value) => value,
        closed => panic!("expected a message, got {closed:?}"),
    }
}

/// Runs `query` as operation `id` over a graphql-transport-ws socket: its
/// result, then the operation is complete.
async fn run_on_socket(socket: &mut Socket, id: &str, query: &str) -> Value {
    let subscribe = json!({"id": id, "type": "subscribe", "payload": {"query": query}});
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    let result = next_json(socket).await;
    assert_eq!(result["type"], "next", "{result}");
    assert_eq!(result["id"], id, "{result}");
    let complete = next_json(socket).await;
    assert_eq!(complete["type"], "complete", "{complete}");
    result["payload"].clone()
}

/// Waits for the server to close the socket; its close code.
async fn closed_with(socket: &mut Socket, within: Duration) -> Option<u16> {
    match next_frame(socket, within).await {
        Frame::Closed(code) => code,
        Frame::Json(value) => panic!("expected the socket to close, got {value}"),
    }
}

async fn post_raw(
    app: &TestApp,
    content_type: &str,
    accept: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.graphql_url())
        .header("content-type", content_type)
        .body(body);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.unwrap()
}

async fn post_json_accepting_both_media_types(app: TestApp) {
    let body = json!({"query": "{ __typename }"}).to_string().into_bytes();
    let legacy = post_raw(
        &app,
        "application/json",
        Some("application/json"),
        body.clone(),
    )
    .await;
    assert_eq!(legacy.status(), 200);
    assert!(
        legacy.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        legacy.json::<Value>().await.unwrap()["data"]["__typename"],
        "Query"
    );

    let modern = post_raw(
        &app,
        "application/json",
        Some("application/graphql-response+json"),
        body,
    )
    .await;
    assert_eq!(modern.status(), 200);
    assert!(
        modern.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/graphql-response+json")
    );
}

async fn requests_that_are_not_graphql_get_4xx(app: TestApp) {
    let accept = Some("application/graphql-response+json");
    // Not JSON at all.
    let r = post_raw(&app, "application/json", accept, b"{not json".to_vec()).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "MALFORMED_REQUEST"
    );
    // Wrong media type.
    let r = post_raw(&app, "text/plain", accept, b"{ __typename }".to_vec()).await;
    assert_eq!(r.status(), 415);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "UNSUPPORTED_MEDIA_TYPE"
    );
    // No query.
    let r = post_raw(
        &app,
        "application/json",
        accept,
        br#"{"variables":{}}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status(), 400);
    // A batch: refused.
    let batch = json!([{"query": "{ __typename }"}, {"query": "{ __typename }"}]).to_string();
    let r = post_raw(&app, "application/json", accept, batch.into_bytes()).await;
    assert_eq!(r.status(), 400);
    // Does not parse: a request error, 400 without data.
    let r = post_raw(
        &app,
        "application/json",
        accept,
        json!({"query": "{"}).to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body.get("data").is_none());
    assert!(body["errors"].is_array());
    // Does not validate (unknown field): 400 too.
    let r = post_raw(
        &app,
        "application/json",
        accept,
        json!({"query": "{ nope }"}).to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status(), 400);
    // An Accept the server cannot answer.
    let r = post_raw(
        &app,
        "application/json",
        Some("text/csv"),
        json!({"query": "{ __typename }"}).to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status(), 406);
}

async fn body_limit_refuses_large_requests(app: TestApp) {
    let huge = format!(
        r#"{{"query":"{{ __typename }}","variables":{{"x":"{}"}}}}"#,
        "a".repeat(2 << 20)
    );
    let r = post_raw(&app, "application/json", None, huge.into_bytes()).await;
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["reason"], "BODY_TOO_LARGE");
}

async fn get_runs_queries_but_not_mutations(app: TestApp) {
    let r = app
        .client
        .get(app.graphql_url())
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["data"]["__typename"],
        "Query"
    );
    let r = app
        .client
        .get(app.graphql_url())
        .query(&[(
            "query",
            r#"mutation { updateProfile(displayName: "x") { id } }"#,
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "MUTATION_OVER_GET"
    );
    // A named mutation alone in its document is the operation that would
    // run, with or without operationName: refused too.
    for params in [
        vec![(
            "query",
            r#"mutation Rename { updateProfile(displayName: "x") { id } }"#,
        )],
        vec![
            (
                "query",
                r#"mutation Rename { updateProfile(displayName: "x") { id } }"#,
            ),
            ("operationName", "Rename"),
        ],
    ] {
        let r = app
            .client
            .get(app.graphql_url())
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{params:?}");
    }
}

async fn graphiql_is_served_and_introspection_works(app: TestApp) {
    let r = app
        .client
        .get(app.graphql_url())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains("graphiql"), "GraphiQL page");
    // Every file the page loads comes from this server, cacheable.
    assert!(
        !html.contains("unpkg") && !html.contains("https://"),
        "{html}"
    );
    let assets: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("/graphiql/assets/"))
        .collect();
    assert_eq!(assets.len(), 5, "{html}");
    for asset in assets {
        let r = app
            .client
            .get(format!("{}{asset}", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        let content_type = r.headers()["content-type"].to_str().unwrap();
        let expected = if asset.contains(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(
            content_type.starts_with(expected),
            "{asset}: {content_type}"
        );
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable"),
            "{asset}"
        );
        assert!(r.bytes().await.unwrap().len() > 500, "{asset}");
    }
    let missing = app
        .client
        .get(format!("{}/graphiql/assets/nothing.js", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // GraphiQL's own introspection query must fit the depth and complexity limits.
    let introspection = r#"query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name }
      types { ...FullType } directives { name description locations args { ...InputValue } } } }
      fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args { ...InputValue }
      type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue } interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } }
      fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
      fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
      ofType { kind name ofType { kind name ofType { kind name } } } } } } } }"#;
    let response = app.gql(None, introspection, json!({})).await;
    assert!(
        response.data()["__schema"]["types"]
            .as_array()
            .unwrap()
            .len()
            > 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_and_introspection_off_in_production() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.app_env = api::config::AppEnv::Production
    })
    .await
    else {
        return;
    };
    let r = app
        .client
        .get(app.graphql_url())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let asset = app
        .client
        .get(format!("{}/graphiql/assets/graphiql.min.js", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), 404, "no GraphiQL files either");
    let response = app
        .gql(None, "{ __schema { types { name } } }", json!({}))
        .await;
    assert_eq!(
        response.body["data"]["__schema"],
        Value::Null,
        "introspection answers nothing"
    );
}

async fn depth_limit_refuses_deep_queries(app: TestApp) {
    let mut query = String::from("{ regions { edges { node { id ");
    for _ in 0..20 {
        query.push_str("parent { ");
    }
    query.push_str("id");
    for _ in 0..20 {
        query.push_str(" }");
    }
    query.push_str(" } } } }");
    let response = app.gql(None, &query, json!({})).await;
    let message = response.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        message.contains("nested too deep") || message.contains("depth"),
        "{message}"
    );
}

async fn health_ready_and_metrics(app: TestApp) {
    let r = app
        .client
        .get(format!("{}/healthz", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(format!("{}/readyz", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A named operation and an error show up in the metrics.
    app.gql(None, "query WhoAmI { me { id } }", json!({})).await;
    app.gql(
        None,
        r#"mutation Join { leaveCommunity(communityId: "x") { id } }"#,
        json!({}),
    )
    .await
    .expect_error("BAD_USER_INPUT");
    let text = app.metrics_text().await;
    assert!(
        text.contains(r#"linli_graphql_requests_total{operation="WhoAmI"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"linli_graphql_errors_total{code="BAD_USER_INPUT"} 1"#),
        "{text}"
    );
    assert!(text.contains("linli_graphql_request_duration_seconds_bucket"));
    assert!(text.contains("linli_db_pool_connections"));
}

async fn websocket_speaks_graphql_transport_ws(app: TestApp) {
    let world = app.world().await;
    let (mut socket, response) = app.connect_socket("graphql-transport-ws").await;
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", world.resident_a.token)}});
    socket.send(Message::text(init.to_string())).await.unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    let ack: Value = serde_json::from_str(ack.to_text().unwrap()).unwrap();
    assert_eq!(ack["type"], "connection_ack");
    // Subscriptions keep the document limits: a thousand aliases are
    // refused (from the text, before parsing) with an error message.
    let aliases: String = (0..1_000).map(|i| format!("a{i}: __typename ")).collect();
    let subscribe = json!({
        "id": "1",
        "type": "subscribe",
        "payload": {"query": format!("subscription {{ {aliases} }}")},
    });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    // async-graphql answers a refused document with a result holding only
    // the error (no data), then completes.
    assert_eq!(reply["type"], "next", "{reply}");
    assert!(reply["payload"]["data"].is_null(), "{reply}");
    assert!(
        reply["payload"]["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("字段")),
        "{reply}"
    );

    // A bad token is refused at connection_init.
    let (mut socket, _) = app.connect_socket("graphql-transport-ws").await;
    let init = json!({"type": "connection_init", "payload": {"Authorization": "Bearer forged"}});
    socket.send(Message::text(init.to_string())).await.unwrap();
    let reply = socket.next().await;
    let acked = matches!(&reply, Some(Ok(Message::Text(t))) if t.contains("connection_ack"));
    assert!(!acked, "a forged token is not acknowledged: {reply:?}");
    let closed =
        matches!(&reply, Some(Ok(Message::Close(Some(frame)))) if u16::from(frame.code) == 4401);
    assert!(closed, "closed with 4401: {reply:?}");
}

/// A socket is no way around the token's expiry: operations run while it
/// is valid, and the server closes the socket with 4401 when it expires.
async fn an_expired_token_closes_the_socket_with_4401(app: TestApp) {
    let world = app.world().await;
    let token = app.token_expiring_in(world.resident_a.id, Duration::from_secs(3));
    let mut socket = open_socket(
        &app,
        "graphql-transport-ws",
        json!({"Authorization": format!("Bearer {token}")}),
    )
    .await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    let me = run_on_socket(&mut socket, "1", "{ me { id } }").await;
    assert_eq!(
        me["data"]["me"]["id"],
        world.resident_a.id.to_string(),
        "{me}"
    );
    let started = Instant::now();
    assert_eq!(
        closed_with(&mut socket, Duration::from_secs(10)).await,
        Some(4401)
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    // Over HTTP the same token is refused alike.
    let r = app.gql(Some(&token), "{ me { id } }", json!({})).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["errors"][0]["extensions"]["reason"], "TOKEN_EXPIRED");
    // And a new socket with it is closed at connection_init.
    let mut again = open_socket(
        &app,
        "graphql-transport-ws",
        json!({"Authorization": format!("Bearer {token}")}),
    )
    .await;
    assert_eq!(
        closed_with(&mut again, Duration::from_secs(5)).await,
        Some(4401)
    );
}

/// A user who erases their account loses their open sockets too: closed
/// with 4403 within the liveness window.
async fn an_erased_users_socket_is_closed_with_4403(app: TestApp) {
    let world = app.world().await;
    let mut socket = open_socket(
        &app,
        "graphql-transport-ws",
        json!({"Authorization": format!("Bearer {}", world.resident_a.token)}),
    )
    .await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    let me = run_on_socket(&mut socket, "1", "{ me { id } }").await;
    assert_eq!(
        me["data"]["me"]["id"],
        world.resident_a.id.to_string(),
        "{me}"
    );
    app.gql(
        world.resident_a.token(),
        "mutation($c: String!) { deleteMyAccount(confirmation: $c) { id } }",
        json!({"c": "确认注销"}),
    )
    .await
    .data();
    let window = Duration::from_secs(api::auth::live::RECHECK_AFTER.as_secs() + 3);
    assert_eq!(closed_with(&mut socket, window).await, Some(4403));
    let r = app
        .gql(world.resident_a.token(), "{ me { id } }", json!({}))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body["errors"][0]["extensions"]["reason"],
        "SESSION_REVOKED"
    );
}

/// The older graphql-ws protocol still works, behind the same gate.
async fn the_old_graphql_ws_protocol_still_works(app: TestApp) {
    let world = app.world().await;
    let mut socket = open_socket(
        &app,
        "graphql-ws",
        json!({"Authorization": format!("Bearer {}", world.resident_a.token)}),
    )
    .await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    let start = json!({"id": "1", "type": "start", "payload": {"query": "{ me { id } }"}});
    socket.send(Message::text(start.to_string())).await.unwrap();
    let data = next_json(&mut socket).await;
    assert_eq!(data["type"], "data", "{data}");
    assert_eq!(
        data["payload"]["data"]["me"]["id"],
        world.resident_a.id.to_string()
    );
    assert_eq!(next_json(&mut socket).await["type"], "complete");
}

/// GET takes the same text limits as POST, before the document is parsed:
/// documents that do not even parse are refused for their size, not for
/// their syntax.
async fn get_refuses_overlong_documents_before_parsing(app: TestApp) {
    let get = |query: String| {
        let request = app
            .client
            .get(app.graphql_url())
            .header("accept", "application/graphql-response+json")
            .query(&[("query", query)]);
        async move {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    // 600 aliases and no closing brace: a parser would call it unfinished.
    let aliases: String = (0..600).map(|i| format!("a{i}: __typename ")).collect();
    let (status, body) = get(format!("{{ {aliases}")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.get("data").is_none(), "{body}");
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body}"
    );
    assert_eq!(error["extensions"]["reason"], "TOO_MANY_FIELDS", "{body}");
    // 40 nested selection sets, unclosed: refused for the nesting.
    let (status, body) = get(format!("{{ {}", "a { ".repeat(40))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"], "DOCUMENT_TOO_DEEP",
        "{body}"
    );
    // POST answers the same document the same way.
    let r = post_raw(
        &app,
        "application/json",
        Some("application/graphql-response+json"),
        json!({"query": format!("{{ {aliases}")})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["reason"], "TOO_MANY_FIELDS",
        "{body}"
    );
    // An unfinished document within the limits is left to the parser.
    let (status, body) = get("{ __typename".to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"], "QUERY_INVALID",
        "{body}"
    );
}

backend_tests!(
    post_json_accepting_both_media_types,
    requests_that_are_not_graphql_get_4xx,
    body_limit_refuses_large_requests,
    get_runs_queries_but_not_mutations,
    graphiql_is_served_and_introspection_works,
    depth_limit_refuses_deep_queries,
    health_ready_and_metrics,
    websocket_speaks_graphql_transport_ws,
    an_expired_token_closes_the_socket_with_4401,
    an_erased_users_socket_is_closed_with_4403,
    the_old_graphql_ws_protocol_still_works,
    get_refuses_overlong_documents_before_parsing,
);
