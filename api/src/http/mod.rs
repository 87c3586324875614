//! The HTTP server: GraphQL over HTTP at /graphql (POST, and GET for
//! queries), GraphiQL, GraphQL over WebSocket at /graphql/ws, health,
//! readiness and metrics.
//!
//! - [`graphql`]: the POST and GET handlers, media negotiation, the shape
//!   of the answer.
//! - [`socket`]: the WebSocket (graphql-transport-ws and graphql-ws).
//! - [`gate`]: the one request path every operation takes, over HTTP or a
//!   socket: rate limits, authentication, liveness, document limits.
//! - [`auth`]: the one `authenticate` (header or `connection_init`
//!   payload → current user) and the liveness check.
//! - [`limits`]: the per-IP and per-user rate limits, charged per operation.
//! - [`refusal`]: what a refused operation is answered (code and reason).
//! - [`graphiql`]: the GraphiQL page.

pub mod auth;
pub mod gate;
pub mod graphiql;
pub mod graphql;
pub mod limits;
pub mod refusal;
pub mod socket;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;
use tracing_actix_web::TracingLogger;

use crate::graphql::{LinliSchema, build_schema};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimits;
use crate::realtime::TallyHub;
use crate::state::AppState;

pub use graphql::graphql_request_from_json;

/// What every handler shares: built once, outside `HttpServer::new`.
pub struct Shared {
    /// Every operation, over HTTP and WebSocket (the request path checks
    /// the document limits before the schema runs it).
    schema: LinliSchema,
    state: AppState,
    metrics: Metrics,
    /// The per-IP and per-user buckets (their idle keys are forgotten by
    /// `crate::jobs`).
    limits: Arc<RateLimits>,
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
}

impl Application {
    /// Binds the listener, builds the schema, pools and loaders once, and
    /// starts the periodic tasks (`crate::jobs`).
    pub fn build(state: AppState) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(state.settings.bind_addr)?;
        let port = listener.local_addr()?.port();
        let tally_hub = TallyHub::new();
        let limits = Arc::new(RateLimits::from_settings(&state.settings));
        // The periodic tasks keep the uncounted handle of the pool.
        crate::jobs::spawn(&state.db, &tally_hub, &limits);
        // Requests get their own handle of the pool, whose statements are
        // counted.
        let request_metrics = Metrics::new()?;
        request_metrics.register(state.passwords.verifications())?;
        let mut state = state;
        request_metrics.count_statements(&mut state.db);
        let shared = web::Data::new(Shared {
            schema: build_schema(state.clone(), tally_hub),
            metrics: request_metrics,
            limits,
            state: state.clone(),
        });
        let body_limit = state.settings.max_body_bytes;
        let graphiql = state.settings.graphiql_enabled();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .route("/graphql", web::post().to(graphql::graphql_post))
                .route("/graphql", web::get().to(graphql::graphql_get))
                .route("/graphql/ws", web::get().to(socket::graphql_ws))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(metrics))
                .configure(|config| {
                    if graphiql {
                        graphiql::routes(config);
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
