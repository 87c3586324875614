//! Prometheus metrics: requests and latency by GraphQL operation, errors by
//! code, and the database pool. Each app has its own registry (no globals),
//! so tests can run several servers in one process.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use sea_orm::{DatabaseConnection, DbBackend};

/// Operation names are chosen by clients: past this many distinct names the
/// rest are counted as "other", so a client cannot blow up the label set.
const MAX_OPERATION_LABELS: usize = 200;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    errors: IntCounterVec,
    pool_size: IntGauge,
    pool_idle: IntGauge,
    db_statements: IntCounter,
    db_statement_errors: IntCounter,
    seen_operations: Mutex<HashSet<String>>,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("linli".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("graphql_requests_total", "GraphQL requests by operation"),
            &["operation"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "graphql_request_duration_seconds",
                "GraphQL request latency by operation",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["operation"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new("graphql_errors_total", "GraphQL errors by extensions.code"),
            &["code"],
        )?;
        let pool_size = IntGauge::new("db_pool_connections", "Open database connections")?;
        let pool_idle = IntGauge::new("db_pool_idle_connections", "Idle database connections")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(pool_size.clone()))?;
        let db_statements = IntCounter::new(
            "db_statements_total",
            "SQL statements run while answering requests",
        )?;
        let db_statement_errors = IntCounter::new(
            "db_statement_errors_total",
            "SQL statements that failed while answering requests",
        )?;
        registry.register(Box::new(pool_idle.clone()))?;
        registry.register(Box::new(db_statements.clone()))?;
        registry.register(Box::new(db_statement_errors.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            errors,
            pool_size,
            pool_idle,
            db_statements,
            db_statement_errors,
            seen_operations: Mutex::new(HashSet::new()),
        })
    }

    /// Adds a counter kept elsewhere (the password checks of the app state).
    pub fn register(&self, counter: IntCounterVec) -> anyhow::Result<()> {
        self.registry.register(Box::new(counter))?;
        Ok(())
    }

    /// Counts every statement run through this handle of the pool (other
    /// clones, such as the background tasks', are not counted): the N+1
    /// tests read the counter before and after one request.
    pub fn count_statements(&self, db: &mut DatabaseConnection) {
        let statements = self.db_statements.clone();
        let errors = self.db_statement_errors.clone();
        db.set_metric_callback(move |info| {
            statements.inc();
            if info.failed {
                errors.inc();
            }
        });
    }

    pub fn observe<'a>(
        &self,
        operation: Option<&str>,
        elapsed: Duration,
        error_codes: impl Iterator<Item = &'a str>,
    ) {
        let label = self.operation_label(operation);
        self.requests.with_label_values(&[label.as_str()]).inc();
        self.latency
            .with_label_values(&[label.as_str()])
            .observe(elapsed.as_secs_f64());
        for code in error_codes {
            self.errors.with_label_values(&[code]).inc();
        }
    }

    fn operation_label(&self, operation: Option<&str>) -> String {
        let Some(name) = operation else {
            return "anonymous".into();
        };
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return "invalid".into();
        }
        let Ok(mut seen) = self.seen_operations.lock() else {
            return "other".into();
        };
        if seen.contains(name) || seen.len() < MAX_OPERATION_LABELS {
            seen.insert(name.to_string());
            name.to_string()
        } else {
            "other".into()
        }
    }

    pub fn render(&self, db: &DatabaseConnection) -> String {
        let (size, idle) = match db.get_database_backend() {
            DbBackend::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => (0, 0),
        };
        self.pool_size.set(i64::from(size));
        self.pool_idle.set(idle as i64);
        let mut buffer = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %err, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
