//! GraphQL over WebSocket at /graphql/ws: graphql-transport-ws, and the
//! older graphql-ws (subscriptions-transport-ws). async-graphql's
//! [`WebSocket`] speaks the protocol; this module carries its frames over
//! actix-ws and puts the one request path in front of it.
//!
//! Sockets carry queries and mutations as well as subscriptions
//! (graphql-transport-ws clients send every operation over the socket when
//! told to), and each operation — each `subscribe` (`start`) message — passes
//! `super::gate` exactly like an HTTP request: the per-IP and per-user
//! limits are charged per operation (a refused one is answered with its
//! RATE_LIMITED error and completed, without running), then the liveness
//! check and the document limits.
//!
//! Who the socket is comes from the `connection_init` payload
//! (`{"Authorization": "Bearer …"}` or `{"token": "…"}`), read by the same
//! `super::auth::authenticate` as the HTTP header. It is checked again
//! before every operation and every [`RECHECK_EVERY`] in between; the socket
//! is closed with 4401 when its token expires (or is refused at
//! `connection_init`) and 4403 when its user erased their account — within
//! the liveness cache's window (`crate::auth::live::RECHECK_AFTER`) on
//! another replica, within [`RECHECK_EVERY`] on this one.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use async_graphql::{Data, Executor, Response};
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use tokio::sync::mpsc;

use super::Shared;
use super::auth::Credential;
use super::gate;
use super::graphql::MediaType;
use super::limits::{self, client_ip};
use super::refusal::Refusal;

/// How often an open socket's token and user are checked between operations.
pub const RECHECK_EVERY: Duration = Duration::from_secs(1);
/// How often the server pings the client, and how long it waits for any
/// frame from it before it drops the connection.
const HEARTBEAT: Duration = Duration::from_secs(5);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// A socket whose client sends no message this long is closed
/// (async-graphql's keepalive timeout).
const KEEPALIVE: Duration = Duration::from_secs(60);

pub(super) async fn graphql_ws(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> actix_web::Result<HttpResponse> {
    let ip = client_ip(&req);
    // Opening a socket is a request too.
    if let Err(refusal) = limits::charge_ip(&shared.limits, ip) {
        gate::refused(&shared, &refusal.code());
        return Ok(refusal.response(MediaType::Json));
    }
    let Some(protocol) = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|protocols| {
            protocols
                .split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        })
    else {
        return Ok(
            Refusal::malformed("须使用 graphql-transport-ws 或 graphql-ws 子协议")
                .response(MediaType::Json),
        );
    };
    let (mut response, session, messages) = actix_ws::handle(&req, payload)?;
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol.sec_websocket_protocol()),
    );
    let max_message = shared.state.settings.max_body_bytes;
    let messages = messages
        .max_frame_size(max_message)
        .aggregate_continuations()
        .max_continuation_size(max_message);
    actix_web::rt::spawn(serve(shared, ip, protocol, session, messages));
    Ok(response)
}

/// One socket's caller, once `connection_init` is accepted, and the way an
/// operation asks for the socket to be closed.
struct Connection {
    credential: OnceLock<Credential>,
    close: mpsc::UnboundedSender<Refusal>,
}

impl Connection {
    fn close(&self, refusal: Refusal) {
        // The receiver is gone only when the socket already is.
        let _ = self.close.send(refusal);
    }
}

fn close_reason(refusal: &Refusal) -> Option<CloseReason> {
    let code = refusal.close_code()?;
    let message = serde_json::to_value(refusal.error())
        .ok()
        .and_then(|error| error["extensions"]["reason"].as_str().map(str::to_string));
    Some(CloseReason {
        code: CloseCode::from(code),
        description: message,
    })
}

async fn serve(
    shared: web::Data<Shared>,
    ip: IpAddr,
    protocol: WebSocketProtocols,
    mut session: actix_ws::Session,
    mut messages: actix_ws::AggregatedMessageStream,
) {
    let (close_tx, mut close_rx) = mpsc::unbounded_channel();
    let connection = Arc::new(Connection {
        credential: OnceLock::new(),
        close: close_tx,
    });
    let (to_graphql, from_client) = mpsc::unbounded_channel::<Vec<u8>>();
    let from_client = stream::unfold(from_client, |mut receiver| async move {
        receiver.recv().await.map(|message| (message, receiver))
    });
    let executor = GatedExecutor {
        shared: shared.clone(),
        ip,
        connection: connection.clone(),
    };
    let init = {
        let (shared, connection) = (shared.clone(), connection.clone());
        move |payload: serde_json::Value| async move {
            let credential = Credential::from_init_payload(&payload);
            match gate::still_valid(&shared, &credential).await {
                Ok(_) => {
                    let _ = connection.credential.set(credential);
                    Ok(Data::default())
                }
                Err(refusal) if refusal.close_code().is_some() => {
                    // Closed with the refusal's code by the loop below; the
                    // handshake is never acknowledged.
                    connection.close(refusal);
                    std::future::pending::<async_graphql::Result<Data>>().await
                }
                Err(refusal) => Err(async_graphql::Error::new(refusal.error().message)),
            }
        }
    };
    let graphql = WebSocket::new(executor, from_client, protocol)
        .on_connection_init(init)
        .keepalive_timeout(KEEPALIVE);
    let mut graphql = std::pin::pin!(graphql);
    // The first tick of each a period from now (not at once).
    let start = tokio::time::Instant::now();
    let mut recheck = tokio::time::interval_at(start + RECHECK_EVERY, RECHECK_EVERY);
    let mut heartbeat = tokio::time::interval_at(start + HEARTBEAT, HEARTBEAT);
    let mut last_heard = Instant::now();
    let reason = loop {
        tokio::select! {
            message = messages.recv() => match message {
                Some(Ok(AggregatedMessage::Text(text))) => {
                    last_heard = Instant::now();
                    if to_graphql.send(text.as_bytes().to_vec()).is_err() {
                        break None;
                    }
                }
                Some(Ok(AggregatedMessage::Binary(bytes))) => {
                    last_heard = Instant::now();
                    if to_graphql.send(bytes.to_vec()).is_err() {
                        break None;
                    }
                }
                Some(Ok(AggregatedMessage::Ping(bytes))) => {
                    last_heard = Instant::now();
                    if session.pong(&bytes).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(AggregatedMessage::Pong(_))) => last_heard = Instant::now(),
                Some(Ok(AggregatedMessage::Close(reason))) => break reason,
                Some(Err(_)) => break Some(CloseReason::from(CloseCode::Protocol)),
                None => break None,
            },
            out = graphql.next() => match out {
                Some(WsMessage::Text(text)) => {
                    if session.text(text).await.is_err() {
                        break None;
                    }
                }
                Some(WsMessage::Close(code, message)) => {
                    break Some(CloseReason {
                        code: CloseCode::from(code),
                        description: Some(message),
                    });
                }
                None => break Some(CloseReason::from(CloseCode::Normal)),
            },
            Some(refusal) = close_rx.recv() => break close_reason(&refusal),
            _ = recheck.tick() => {
                if let Some(credential) = connection.credential.get()
                    && let Err(refusal) = gate::still_valid(&shared, credential).await
                    && refusal.close_code().is_some()
                {
                    break close_reason(&refusal);
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > CLIENT_TIMEOUT || session.ping(b"").await.is_err() {
                    break None;
                }
            }
        }
    };
    let _ = session.close(reason).await;
}

/// The schema behind the gate: each operation of the socket is let in (or
/// refused) as an HTTP request is, then run.
#[derive(Clone)]
struct GatedExecutor {
    shared: web::Data<Shared>,
    ip: IpAddr,
    connection: Arc<Connection>,
}

impl GatedExecutor {
    async fn admit(
        self,
        mut request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        // async-graphql runs no operation before connection_init is accepted.
        let credential = self
            .connection
            .credential
            .get()
            .cloned()
            .unwrap_or(Credential::Anonymous);
        let actor = match gate::enter(&self.shared, self.ip, &credential).await {
            Ok(actor) => actor,
            Err(refusal) if refusal.close_code().is_some() => {
                // The socket closes with the refusal's code; the operation
                // gets no answer of its own.
                self.connection.close(refusal);
                return stream::pending().boxed();
            }
            Err(refusal) => return one(Response::from_errors(vec![refusal.error()])),
        };
        if let Err(refused) = gate::admit_document(&mut request) {
            gate::refused(
                &self.shared,
                crate::error::ErrorCode::ValidationFailed.as_str(),
            );
            return one(Response::from_errors(vec![refused]));
        }
        let request = gate::with_caller(&self.shared, actor, request);
        Executor::execute_stream(&self.shared.schema, request, session_data)
    }
}

fn one(response: Response) -> BoxStream<'static, Response> {
    stream::once(async move { response }).boxed()
}

impl Executor for GatedExecutor {
    fn execute(&self, request: async_graphql::Request) -> impl Future<Output = Response> + Send {
        let this = self.clone();
        async move {
            this.admit(request, None)
                .await
                .next()
                .await
                .unwrap_or_default()
        }
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        stream::once(self.clone().admit(request, session_data))
            .flatten()
            .boxed()
    }
}
