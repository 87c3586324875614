//! The HTTP server: GraphQL over HTTP at /graphql (POST, and GET for
//! queries), GraphiQL, subscriptions over WebSocket at /graphql/ws, health,
//! readiness and metrics.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use async_graphql::Positioned;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
};
use async_graphql_actix_web::GraphQLSubscription;
use serde_json::{Map, Value, json};
use tracing_actix_web::TracingLogger;

use crate::auth::jwt::TokenError;
use crate::graphql::context::Session;
use crate::graphql::loaders::Loaders;
use crate::graphql::{LinliSchema, build_schema, build_subscription_schema};
use crate::metrics::Metrics;
use crate::policy::Actor;
use crate::ratelimit::{Limiter, Rate, retry_after_secs};
use crate::state::AppState;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";
const RATE_LIMITED: &str = "RATE_LIMITED";

struct Shared {
    /// Queries and mutations over HTTP (document limits checked by the handler).
    schema: LinliSchema,
    /// Subscriptions over WebSocket (document limits checked by an extension).
    subscription_schema: LinliSchema,
    state: AppState,
    metrics: Metrics,
    /// Requests per client IP address (token bucket).
    ip_limiter: Limiter<IpAddr>,
    /// Requests per logged-in user (token bucket).
    user_limiter: Limiter<uuid::Uuid>,
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
}

impl Application {
    /// Binds the listener and builds the schema, pools and loaders once.
    pub fn build(state: AppState) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(state.settings.bind_addr)?;
        // Consultation: live tallies across replicas, ballots opened and
        // closed on time, the notifications outbox drained.
        crate::service::consultation::live::spawn_background(
            state.db.clone(),
            state.tally_hub.clone(),
        );
        let port = listener.local_addr()?.port();
        let request_metrics = Metrics::new()?;
        request_metrics.register(state.passwords.verifications())?;
        // Requests get their own handle of the pool, whose statements are
        // counted; the background tasks above keep the uncounted one.
        let mut state = state;
        request_metrics.count_statements(&mut state.db);
        let shared = web::Data::new(Shared {
            schema: build_schema(state.clone()),
            subscription_schema: build_subscription_schema(state.clone()),
            metrics: request_metrics,
            ip_limiter: Limiter::new(Rate {
                per_second: state.settings.rate_limit_ip_per_sec,
                burst: state.settings.rate_limit_ip_burst,
            }),
            user_limiter: Limiter::new(Rate {
                per_second: state.settings.rate_limit_user_per_sec,
                burst: state.settings.rate_limit_user_burst,
            }),
            state: state.clone(),
        });
        let body_limit = state.settings.max_body_bytes;
        let graphiql = state.settings.graphiql_enabled();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .route("/graphql", web::post().to(graphql_post))
                .route("/graphql", web::get().to(graphql_get))
                .route("/graphql/ws", web::get().to(graphql_ws))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(metrics))
                .configure(|config| {
                    if graphiql {
                        crate::http_graphiql::routes(config);
                    }
                })
        })
        .shutdown_timeout(30)
        .listen(listener)?;
        if let Some(workers) = state.settings.workers {
            server = server.workers(workers.max(1));
        }
        Ok(Application {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until SIGINT/SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn into_server(self) -> actix_web::dev::Server {
        self.server
    }
}

/// How the client wants the answer (GraphQL over HTTP, “Accept”).
#[derive(Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphqlResponseJson,
    Json,
}

fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    let types: Vec<&str> = accept
        .split(',')
        .map(|part| part.split(';').next().unwrap_or_default().trim())
        .collect();
    if types.contains(&"application/graphql-response+json") {
        Some(MediaType::GraphqlResponseJson)
    } else if types
        .iter()
        .any(|t| matches!(*t, "application/json" | "application/*" | "*/*"))
    {
        Some(MediaType::Json)
    } else {
        None
    }
}

fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Actor, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Actor::Anonymous);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or(TokenError::Invalid)?;
    state.jwt.verify(token.trim()).map(Actor::User)
}

/// The operation of `document` that would run, as async-graphql chooses
/// it: the one named `operation_name`, else the only one. The parser keeps
/// a lone anonymous operation as `Single` and named ones in a map, so a
/// named operation alone in its document has a name here.
fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<(Option<&'a str>, &'a Positioned<OperationDefinition>)> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), None) => Some((None, operation)),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .get_key_value(name)
            .map(|(name, operation)| (Some(name.as_str()), operation)),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .iter()
            .next()
            .map(|(name, operation)| (Some(name.as_str()), operation)),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// A response made before execution: a request the server will not run.
fn request_error(status: StatusCode, media: MediaType, message: &str, code: &str) -> HttpResponse {
    let content_type = match media {
        MediaType::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
        MediaType::Json => JSON,
    };
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(json!({"errors": [{"message": message, "extensions": {"code": code}}]}).to_string())
}

fn token_rejected(media: MediaType, err: TokenError) -> HttpResponse {
    let message = match err {
        TokenError::Expired => "登录已过期，请刷新登录状态",
        TokenError::Invalid => "登录凭证无效，请重新登录",
    };
    let mut response = request_error(StatusCode::UNAUTHORIZED, media, message, "UNAUTHENTICATED");
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// 429 with `RATE_LIMITED`, `extensions.retryAfter` (seconds) and `Retry-After`.
fn rate_limited(media: MediaType, wait: Duration) -> HttpResponse {
    let secs = retry_after_secs(wait);
    let content_type = match media {
        MediaType::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
        MediaType::Json => JSON,
    };
    HttpResponse::build(StatusCode::TOO_MANY_REQUESTS)
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::RETRY_AFTER, secs.to_string()))
        .body(
            json!({"errors": [{
                "message": format!("请求过于频繁，请{secs}秒后再试"),
                "extensions": {"code": "RATE_LIMITED", "retryAfter": secs},
            }]})
            .to_string(),
        )
}

/// The client's address as the socket sees it (a proxy in front counts as
/// one client).
fn client_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map(|addr| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The per-IP limit, checked before anything else is done for a request:
/// the refusal to send, or None.
fn limit_ip(req: &HttpRequest, shared: &Shared) -> Option<HttpResponse> {
    let wait = shared.ip_limiter.check(client_ip(req)).err()?;
    let media = negotiate(req.headers()).unwrap_or(MediaType::Json);
    shared
        .metrics
        .observe(None, Duration::ZERO, std::iter::once(RATE_LIMITED));
    Some(rate_limited(media, wait))
}

async fn graphql_post(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    if let Some(refused) = limit_ip(&req, &shared) {
        return refused;
    }
    let Some(media) = negotiate(req.headers()) else {
        return HttpResponse::NotAcceptable().finish();
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.split(';').next().map(str::trim) != Some("application/json") {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "请求须为 application/json",
            "BAD_REQUEST",
        );
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(_) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                "请求体不是合法的 JSON",
                "BAD_REQUEST",
            );
        }
    };
    let request = match graphql_request_from_json(parsed) {
        Ok(request) => request,
        Err(message) => {
            return request_error(StatusCode::BAD_REQUEST, media, message, "BAD_REQUEST");
        }
    };
    execute(&req, &shared, media, request).await
}

/// Reads a POST body (already parsed as JSON) into one GraphQL request;
/// anything else (a batch, a missing query, wrong types) is refused with a
/// message. Public for the parser fuzz tests.
pub fn graphql_request_from_json(value: Value) -> Result<async_graphql::Request, &'static str> {
    let Value::Object(mut object) = value else {
        return Err("不支持批量请求：请求体须为一个 JSON 对象");
    };
    let query = match object.remove("query") {
        Some(Value::String(query)) => query,
        _ => return Err("缺少 query 字符串"),
    };
    let mut request = async_graphql::Request::new(query);
    match object.remove("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err("operationName 须为字符串"),
    }
    match object.remove("variables") {
        None | Some(Value::Null) => {}
        Some(variables @ Value::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(variables));
        }
        Some(_) => return Err("variables 须为 JSON 对象"),
    }
    match object.remove("extensions") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err("extensions 须为 JSON 对象"),
    }
    Ok(request)
}

#[derive(serde::Deserialize)]
struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
}

async fn graphql_get(
    req: HttpRequest,
    params: web::Query<Vec<(String, String)>>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let mut get = GetParams {
        query: None,
        operation_name: None,
        variables: None,
    };
    for (key, value) in params.into_inner() {
        match key.as_str() {
            "query" => get.query = Some(value),
            "operationName" => get.operation_name = Some(value),
            "variables" => get.variables = Some(value),
            _ => {}
        }
    }
    let Some(query) = get.query else {
        return graphiql(&req, &shared);
    };
    if let Some(refused) = limit_ip(&req, &shared) {
        return refused;
    }
    let Some(media) = negotiate(req.headers()) else {
        return HttpResponse::NotAcceptable().finish();
    };
    // GET may only read: a mutation over GET is refused before it runs.
    let parsed = async_graphql::parser::parse_query(&query).ok();
    if let Some(document) = &parsed {
        let operation_type = selected_operation(document, get.operation_name.as_deref())
            .map(|(_, operation)| operation.node.ty);
        if operation_type == Some(OperationType::Mutation) {
            let mut response = request_error(
                StatusCode::METHOD_NOT_ALLOWED,
                media,
                "变更操作须使用 POST",
                "BAD_REQUEST",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
    }
    let mut request = async_graphql::Request::new(query);
    if let Some(document) = parsed {
        // Parsed once: `execute` and the schema reuse it.
        request.set_parsed_query(document);
    }
    if let Some(name) = get.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = get.variables {
        match serde_json::from_str::<Value>(&variables) {
            Ok(variables @ Value::Object(_)) => {
                request = request.variables(async_graphql::Variables::from_json(variables));
            }
            _ => {
                return request_error(
                    StatusCode::BAD_REQUEST,
                    media,
                    "variables 须为 JSON 对象",
                    "BAD_REQUEST",
                );
            }
        }
    }
    execute(&req, &shared, media, request).await
}

fn graphiql(req: &HttpRequest, shared: &Shared) -> HttpResponse {
    if !shared.state.settings.graphiql_enabled() {
        return HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, JSON))
            .body(json!({"errors": [{"message": "缺少 query 参数"}]}).to_string());
    }
    crate::http_graphiql::page(req, "/graphql", "/graphql/ws")
}

async fn execute(
    req: &HttpRequest,
    shared: &Shared,
    media: MediaType,
    request: async_graphql::Request,
) -> HttpResponse {
    let actor = match authenticate(&shared.state, req.headers()) {
        Ok(actor) => actor,
        Err(err) => return token_rejected(media, err),
    };
    if let Actor::User(user_id) = actor
        && let Err(wait) = shared.user_limiter.check(user_id)
    {
        shared
            .metrics
            .observe(None, Duration::ZERO, std::iter::once(RATE_LIMITED));
        return rate_limited(media, wait);
    }
    if let Actor::User(user_id) = actor
        && !shared
            .state
            .live_sessions
            .recently_live(user_id, Instant::now())
    {
        match crate::service::auth::session_user_is_live(&shared.state.db, user_id).await {
            Ok(true) => shared
                .state
                .live_sessions
                .mark_live(user_id, Instant::now()),
            // The account was erased (or is gone): its tokens no longer work.
            Ok(false) => return token_rejected(media, TokenError::Invalid),
            Err(err) => {
                if let crate::error::ServiceError::Internal(cause) = &err {
                    tracing::error!(error = ?cause, "cannot check the session's user");
                }
                // Answered like an execution error (200), as every other
                // request is while the database cannot be reached.
                return request_error(StatusCode::OK, media, &err.message(), err.code().as_str());
            }
        }
    }
    let mut request = request;
    let mut operation = request.operation_name.clone();
    // A document too large is refused from its text, before parsing, which
    // is the costly part (README: Security, attacks).
    let (text_counts, mut refused) = match crate::graphql::limits::precheck(&request.query) {
        Ok(counts) => (Some(counts), None),
        Err(error) => (None, Some(error)),
    };
    // Parsed once here (the schema reuses it): the document limits and the
    // operation's name for the metrics are read off it, so the schema needs
    // no extension, and fields resolve on async-graphql's fast path. A query
    // that does not parse is left to the schema, which says why.
    if let Some(text_counts) = &text_counts
        && let Ok(document) = request.parsed_query()
    {
        // Every document of the test suite holds the lexical pass to the
        // parser's count.
        debug_assert_eq!(
            (text_counts.fields, text_counts.directives),
            crate::graphql::limits::parsed_counts(document),
            "the lexical pass and the parsed document count alike: {}",
            request.query
        );
        refused = crate::graphql::limits::check(document);
        if operation.is_none() {
            operation = selected_operation(document, None)
                .and_then(|(name, _)| name)
                .map(str::to_string);
        }
    }
    let request = request.data(Session(actor)).data(Loaders::new(
        &shared.state.db,
        Duration::from_millis(shared.state.settings.loader_delay_ms),
    ));
    let started = Instant::now();
    let response = match refused {
        Some(error) => async_graphql::Response::from_errors(vec![error]),
        None => shared.schema.execute(request).await,
    };
    let codes: Vec<String> = response
        .errors
        .iter()
        .map(|e| {
            e.extensions
                .as_ref()
                .and_then(|ext| ext.get("code"))
                .and_then(|code| match code {
                    async_graphql::Value::String(code) => Some(code.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "GRAPHQL_VALIDATION_FAILED".to_string())
        })
        .collect();
    shared.metrics.observe(
        operation.as_deref(),
        started.elapsed(),
        codes.iter().map(String::as_str),
    );
    graphql_response(media, response)
}

/// Per GraphQL over HTTP: with application/graphql-response+json, a request
/// that never reached execution (it did not parse or validate) is a 400
/// without `data`; with application/json every answer is a 200.
fn graphql_response(media: MediaType, response: async_graphql::Response) -> HttpResponse {
    let mut response = response;
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    if request_error {
        // Parse and validation errors (including the depth, complexity and
        // directive limits) get a code too.
        for error in &mut response.errors {
            let has_code = error
                .extensions
                .as_ref()
                .is_some_and(|ext| ext.get("code").is_some());
            if !has_code {
                error
                    .extensions
                    .get_or_insert_with(Default::default)
                    .set("code", "GRAPHQL_VALIDATION_FAILED");
            }
        }
    }
    let mut body = Map::new();
    if (!request_error || media == MediaType::Json)
        && let Ok(data) = serde_json::to_value(&response.data)
    {
        body.insert("data".into(), data);
    }
    if !response.errors.is_empty()
        && let Ok(errors) = serde_json::to_value(&response.errors)
    {
        body.insert("errors".into(), errors);
    }
    if !response.extensions.is_empty()
        && let Ok(extensions) = serde_json::to_value(&response.extensions)
    {
        body.insert("extensions".into(), extensions);
    }
    let (status, content_type) = match media {
        MediaType::GraphqlResponseJson if request_error => {
            (StatusCode::BAD_REQUEST, GRAPHQL_RESPONSE_JSON)
        }
        MediaType::GraphqlResponseJson => (StatusCode::OK, GRAPHQL_RESPONSE_JSON),
        MediaType::Json => (StatusCode::OK, JSON),
    };
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(Value::Object(body).to_string())
}

/// graphql-transport-ws (and the older graphql-ws). The access token comes in
/// the connection_init payload: `{"Authorization": "Bearer …"}` or `{"token": "…"}`.
async fn graphql_ws(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> actix_web::Result<HttpResponse> {
    if let Some(refused) = limit_ip(&req, &shared) {
        return Ok(refused);
    }
    let state = Arc::new(shared.state.clone());
    GraphQLSubscription::new(shared.subscription_schema.clone())
        .keepalive_timeout(Duration::from_secs(60))
        .on_connection_init(move |init: Value| async move {
            let token = init
                .get("Authorization")
                .or_else(|| init.get("authorization"))
                .and_then(Value::as_str)
                .map(|v| v.trim_start_matches("Bearer ").to_string())
                .or_else(|| {
                    init.get("token")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
            let actor = match token {
                None => Actor::Anonymous,
                Some(token) => {
                    let refused = || async_graphql::Error::new("登录凭证无效，请重新登录");
                    let user_id = state.jwt.verify(&token).map_err(|_| refused())?;
                    // An erased (or deleted) user's tokens no longer work.
                    match crate::service::auth::session_user_is_live(&state.db, user_id).await {
                        Ok(true) => Actor::User(user_id),
                        _ => return Err(refused()),
                    }
                }
            };
            let mut data = async_graphql::Data::default();
            data.insert(Session(actor));
            data.insert(Loaders::new(
                &state.db,
                Duration::from_millis(state.settings.loader_delay_ms),
            ));
            Ok(data)
        })
        .start(&req, payload)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How long /readyz waits for the database before it answers 503.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

async fn readyz(shared: web::Data<Shared>) -> HttpResponse {
    match tokio::time::timeout(READY_TIMEOUT, shared.state.db.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "database does not answer");
            HttpResponse::ServiceUnavailable().json(json!({"status": "database unavailable"}))
        }
        Err(_) => {
            tracing::warn!(timeout = ?READY_TIMEOUT, "database does not answer in time");
            HttpResponse::ServiceUnavailable().json(json!({"status": "database unavailable"}))
        }
    }
}

async fn metrics(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(shared.metrics.render(&shared.state.db))
}
