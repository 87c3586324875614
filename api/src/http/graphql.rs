//! GraphQL over HTTP at /graphql: POST for every operation, GET for
//! queries; media negotiation (`Accept`) and the shape of the answer.
//! Both handlers take the one request path (`super::gate`) before they
//! execute anything.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::Positioned;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
};
use serde_json::{Map, Value};
use std::time::Instant;

use crate::error::{ErrorCode, Reason};
use crate::policy::Actor;

use super::Shared;
use super::auth::Credential;
use super::gate;
use super::graphiql::graphiql;
use super::limits::client_ip;
use super::refusal::Refusal;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";
pub(super) const JSON: &str = "application/json; charset=utf-8";

/// How the client wants the answer (GraphQL over HTTP, “Accept”).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MediaType {
    GraphqlResponseJson,
    Json,
}

impl MediaType {
    pub fn content_type(self) -> &'static str {
        match self {
            MediaType::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
            MediaType::Json => JSON,
        }
    }
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

/// The caller of an HTTP request, let in by the gate: the actor and the
/// media type to answer in, or the answer already made.
async fn enter(req: &HttpRequest, shared: &Shared) -> Result<(Actor, MediaType), HttpResponse> {
    let media = negotiate(req.headers());
    let credential = Credential::from_headers(req.headers());
    let actor = gate::enter(shared, client_ip(req), &credential)
        .await
        .map_err(|refusal| refusal.response(media.unwrap_or(MediaType::Json)))?;
    let media = media.ok_or_else(|| HttpResponse::NotAcceptable().finish())?;
    Ok((actor, media))
}

pub(super) async fn graphql_post(
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let (actor, media) = match enter(&req, &shared).await {
        Ok(entered) => entered,
        Err(response) => return response,
    };
    let body = match body {
        Ok(body) => body,
        Err(err) if err.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Refusal::body_too_large(shared.state.settings.max_body_bytes).response(media);
        }
        Err(_) => return Refusal::malformed("无法读取请求体").response(media),
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.split(';').next().map(str::trim) != Some("application/json") {
        return Refusal::unsupported_media_type().response(media);
    }
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        return Refusal::malformed("请求体不是合法的 JSON").response(media);
    };
    let mut request = match graphql_request_from_json(parsed) {
        Ok(request) => request,
        Err(message) => return Refusal::malformed(message).response(media),
    };
    if let Err(refused) = gate::admit_document(&mut request) {
        return answer(&shared, media, None, Err(refused)).await;
    }
    answer(&shared, media, Some(actor), Ok(request)).await
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

pub(super) async fn graphql_get(
    req: HttpRequest,
    params: web::Query<Vec<(String, String)>>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let (mut query, mut operation_name, mut variables) = (None, None, None);
    for (key, value) in params.into_inner() {
        match key.as_str() {
            "query" => query = Some(value),
            "operationName" => operation_name = Some(value),
            "variables" => variables = Some(value),
            _ => {}
        }
    }
    let Some(query) = query else {
        return graphiql(&req, &shared);
    };
    let (actor, media) = match enter(&req, &shared).await {
        Ok(entered) => entered,
        Err(response) => return response,
    };
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = variables {
        match serde_json::from_str::<Value>(&variables) {
            Ok(variables @ Value::Object(_)) => {
                request = request.variables(async_graphql::Variables::from_json(variables));
            }
            _ => return Refusal::malformed("variables 须为 JSON 对象").response(media),
        }
    }
    // The same text limits as POST, before the document is parsed.
    if let Err(refused) = gate::admit_document(&mut request) {
        return answer(&shared, media, None, Err(refused)).await;
    }
    // GET may only read: a mutation over GET is refused before it runs.
    let operation_name = request.operation_name.clone();
    if let Ok(document) = request.parsed_query()
        && selected_operation(document, operation_name.as_deref())
            .is_some_and(|(_, operation)| operation.node.ty == OperationType::Mutation)
    {
        return Refusal::mutation_over_get().response(media);
    }
    answer(&shared, media, Some(actor), Ok(request)).await
}

/// Runs an admitted request (or answers its document's refusal), counts it
/// in the metrics, and shapes the answer.
async fn answer(
    shared: &Shared,
    media: MediaType,
    actor: Option<Actor>,
    request: Result<async_graphql::Request, async_graphql::ServerError>,
) -> HttpResponse {
    let started = Instant::now();
    let (operation, response) = match request {
        Ok(mut request) => {
            let mut operation = request.operation_name.clone();
            if operation.is_none()
                && let Ok(document) = request.parsed_query()
            {
                operation = selected_operation(document, None)
                    .and_then(|(name, _)| name)
                    .map(str::to_string);
            }
            let request = gate::with_caller(shared, actor.unwrap_or(Actor::Anonymous), request);
            (operation, shared.schema.execute(request).await)
        }
        Err(refused) => (None, async_graphql::Response::from_errors(vec![refused])),
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
                .unwrap_or_else(|| ErrorCode::ValidationFailed.as_str().to_string())
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
                let extensions = error.extensions.get_or_insert_with(Default::default);
                extensions.set("code", ErrorCode::ValidationFailed.as_str());
                extensions.set("reason", Reason::QueryInvalid.as_str());
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
    let status = match media {
        MediaType::GraphqlResponseJson if request_error => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, media.content_type()))
        .body(Value::Object(body).to_string())
}
