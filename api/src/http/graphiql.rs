//! GraphiQL at GET /graphql (without a `query` parameter).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::http::GraphiQLSource;
use serde_json::json;

use super::Shared;
use super::graphql::JSON;

pub(super) fn graphiql(req: &HttpRequest, shared: &Shared) -> HttpResponse {
    if !shared.state.settings.graphiql_enabled() {
        return HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, JSON))
            .body(json!({"errors": [{"message": "缺少 query 参数"}]}).to_string());
    }
    let host = req.connection_info().host().to_string();
    let subscription_endpoint = format!("ws://{host}/graphql/ws");
    let mut source = GraphiQLSource::build()
        .endpoint("/graphql")
        .subscription_endpoint(&subscription_endpoint)
        .title("邻里 Linli GraphiQL");
    // GraphiQL's WebSocket client cannot send the headers tab: with
    // `/graphql?wsToken=<accessToken>` its subscriptions (the live ballot
    // tally) send the token in connection_init. Only a JWT's characters pass.
    let ws_authorization = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().into_iter().find(|(k, _)| k == "wsToken"))
        .map(|(_, token)| token)
        .filter(|token| {
            !token.is_empty()
                && token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        })
        .map(|token| format!("Bearer {token}"));
    if let Some(authorization) = ws_authorization.as_deref() {
        source = source.ws_connection_param("Authorization", authorization);
    }
    let source = source.finish();
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(source)
}
