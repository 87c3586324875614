//! `cargo run --release -p bench -- --backend sqlite --needs 10000`
//!
//! Seeds a database, starts Linli (the real server, `api::cli::run`, as a
//! child process of this binary so that its memory is its own), the raw
//! actix-web + sqlx comparator and, on PostgreSQL with
//! `--with-postgraphile`, PostGraphile v5; drives the workloads closed-loop
//! (peak) then open-loop at half the peak, and prints one table.

mod attack;
mod postgraphile;
mod raw;
mod seed;
mod workloads;

pub mod load;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use sea_orm::{ConnectionTrait, Statement};
use tokio::process::{Child, Command};

use crate::load::{Outcome, RssSampler};
use crate::workloads::{Target, Workload};

pub const JWT_SECRET: &str = "linli-bench-secret-0123456789abcdef0123456789";
/// The personal-data key of the server the bench starts (64 hex digits); the
/// seed seals phones with it, so a reused database opens on the next run.
pub const DATA_ENCRYPTION_KEY: &str =
    "6c696e6c692d62656e63682d646174612d6b65792d3031323334353637383961";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Parser)]
#[command(name = "bench", about = "Linli benchmark (README: Benchmarks)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// Needs to seed (the other tables scale with it, see seed::Plan).
    #[arg(long, default_value_t = 10_000)]
    needs: usize,
    /// Members of the benchmarked community (voters, volunteers).
    #[arg(long, default_value_t = 6000)]
    voters: usize,
    /// Seconds per closed-loop and per open-loop run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Closed-loop workers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Workloads to run (R0 R1 R2 R3 W1 W2 M).
    #[arg(long, value_delimiter = ',', default_value = "R0,R1,R2,R3,W1,W2,M")]
    workloads: Vec<Workload>,
    /// Skip the open-loop runs.
    #[arg(long)]
    no_open_loop: bool,
    /// Skip the raw actix-web + sqlx comparator.
    #[arg(long)]
    no_raw: bool,
    /// Also run PostGraphile v5 (PostgreSQL only; `npm install` in bench/postgraphile).
    #[arg(long)]
    with_postgraphile: bool,
    /// Also run pgbench with W1's transaction (PostgreSQL only).
    #[arg(long)]
    with_pgbench: bool,
    /// The PostgreSQL server; the bench creates its own database there (replacing one of the same name, kept for --reuse).
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Where the SQLite files go.
    #[arg(long, default_value = "target/bench-data")]
    data_dir: PathBuf,
    /// Reuse the seeded database of an earlier run (same size) if there is one.
    #[arg(long)]
    reuse: bool,
    /// Also measure R1 on Linli alone and again while attackers send
    /// refused requests (deep, alias-flood, directive-flood, batch and
    /// oversized) at this many per second; 0 skips it.
    #[arg(long, default_value_t = 0)]
    attack_rate: u32,
    /// Rounds of R1 alone and R1 under attack, alternated (rounds of a
    /// few seconds swing by ±12% on a shared machine: keep several).
    #[arg(long, default_value_t = 6)]
    attack_rounds: u32,
    /// Leave the 10 MB body out of the attack (to tell its cost apart).
    #[arg(long)]
    attack_without_large_body: bool,
    /// Run Linli on these CPUs only (`taskset -c` list, e.g. `0`), so
    /// that the load generators, pinned elsewhere, do not take the
    /// server's CPU time (README: Benchmarks, attack).
    #[arg(long)]
    server_cpus: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// (internal) Run Linli: the arguments of `api serve`.
    ServeLinli {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// (internal) Run the raw comparator.
    ServeRaw {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        port: u16,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Sub::ServeLinli { args }) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let mut full = vec!["api".to_string()];
            full.extend(args);
            runtime.block_on(api::cli::run(api::cli::Cli::parse_from(full)))
        }
        Some(Sub::ServeRaw { database_url, port }) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(raw::serve(&database_url, port, 16))
        }
        None => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(run(cli))
        }
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A server the bench started; killed when dropped.
pub struct Server {
    pub name: &'static str,
    pub child: Child,
    pub base: String,
    pub ready_after: Duration,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }
}

/// Waits until GET `url` answers 200 (or the child exits).
pub async fn wait_ready(child: &mut Child, url: &str, limit: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let start = Instant::now();
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("{url}: the server exited ({status})");
        }
        if start.elapsed() > limit {
            anyhow::bail!("{url}: not ready after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn start_child_named(
    name: &'static str,
    mut command: Command,
    base: String,
    ready_path: &str,
) -> anyhow::Result<Server> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    let start = Instant::now();
    let mut child = command.spawn().with_context(|| format!("start {name}"))?;
    wait_ready(
        &mut child,
        &format!("{base}{ready_path}"),
        Duration::from_secs(120),
    )
    .await?;
    Ok(Server {
        name,
        child,
        base,
        ready_after: start.elapsed(),
    })
}

async fn start_linli(
    database_url: &str,
    data_dir: &std::path::Path,
    cpus: Option<&str>,
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let mut command = match cpus {
        Some(cpus) => {
            let mut taskset = Command::new("taskset");
            taskset.arg("-c").arg(cpus).arg(std::env::current_exe()?);
            taskset
        }
        None => Command::new(std::env::current_exe()?),
    };
    command
        .arg("serve-linli")
        .arg("--")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--database-url")
        .arg(database_url)
        .arg("--bind-addr")
        .arg(format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", JWT_SECRET)
        .env("DATA_ENCRYPTION_KEY", DATA_ENCRYPTION_KEY)
        // The default filter logs every request at INFO; the bench keeps
        // warnings only (README: Benchmarks).
        .env("RUST_LOG", "warn")
        // The bench measures the server's ceiling, which one staff token
        // and one client address would otherwise hit at the rate limits
        // (200/s per user): the limits are set out of reach, so the
        // limiter's own cost stays in the path.
        .env("RATE_LIMIT_IP_PER_SEC", "1000000")
        .env("RATE_LIMIT_IP_BURST", "1000000")
        .env("RATE_LIMIT_USER_PER_SEC", "1000000")
        .env("RATE_LIMIT_USER_BURST", "1000000");
    start_child_named(
        "linli",
        command,
        format!("http://127.0.0.1:{port}"),
        "/readyz",
    )
    .await
}

async fn start_raw(database_url: &str) -> anyhow::Result<Server> {
    let port = free_port()?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("serve-raw")
        .arg("--database-url")
        .arg(database_url)
        .arg("--port")
        .arg(port.to_string());
    start_child_named(
        "raw",
        command,
        format!("http://127.0.0.1:{port}"),
        "/readyz",
    )
    .await
}

/// Creates (dropping any earlier) the bench database; returns its URL and
/// whether it already held a seeded database (with `--reuse`).
async fn prepare_database(cli: &Cli) -> anyhow::Result<(String, bool)> {
    match cli.backend {
        Backend::Sqlite => {
            std::fs::create_dir_all(&cli.data_dir)?;
            let path = std::fs::canonicalize(&cli.data_dir)?
                .join(format!("bench-{}-{}.db", cli.needs, cli.voters));
            let exists = path.exists();
            if !(cli.reuse && exists) {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Ok((
                format!("sqlite://{}?mode=rwc", path.display()),
                cli.reuse && exists,
            ))
        }
        Backend::Postgres => {
            let name = format!("linli_bench_{}_{}", cli.needs, cli.voters);
            let admin = api::db::connect_url(&cli.postgres_url, 1).await?;
            let exists = admin
                .query_one_raw(Statement::from_string(
                    admin.get_database_backend(),
                    format!("SELECT 1 AS one FROM pg_database WHERE datname = '{name}'"),
                ))
                .await?
                .is_some();
            if !(cli.reuse && exists) {
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
            }
            let (base, _) = cli
                .postgres_url
                .rsplit_once('/')
                .context("the PostgreSQL URL names no database")?;
            Ok((format!("{base}/{name}"), cli.reuse && exists))
        }
    }
}

/// One line of the table.
pub struct Row {
    pub target: String,
    pub workload: String,
    pub mode: String,
    pub outcome: Outcome,
    pub rss_kb: u64,
}

async fn measure(
    server: &Server,
    client: &reqwest::Client,
    make: load::Gen,
    mode: Mode,
    duration: Duration,
) -> (Outcome, u64) {
    let sampler = RssSampler::start(server.pid());
    let outcome = match mode {
        Mode::Closed(n) => load::closed_loop(client, make, n, duration).await,
        Mode::Open(rate) => {
            load::open_loop(client, make, rate, duration, 4096, load::Expect::Served).await
        }
    };
    (outcome, sampler.peak_kb())
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Closed(usize),
    Open(f64),
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (database_url, reused) = prepare_database(&cli).await?;
    let plan = seed::Plan::for_needs(cli.needs, cli.voters);
    let db = api::db::connect_url(&database_url, 4).await?;
    api::db::migrate(&db).await?;
    let seeded = if reused {
        println!("reusing the seeded database {}", redact(&database_url));
        workloads::load_seeded(&db).await?
    } else {
        let started = Instant::now();
        let (seeded, rows) = seed::seed(&db, &plan).await?;
        println!(
            "seeded {rows} rows ({} needs, {} communities) in {:.1} s",
            plan.needs,
            plan.communities,
            started.elapsed().as_secs_f64()
        );
        seeded
    };
    if cli.backend == Backend::Postgres {
        db.execute_unprepared("ANALYZE").await?;
    }
    db.close().await?;

    let data_dir = std::env::temp_dir().join(format!("linli-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data_dir)?;
    let linli = start_linli(&database_url, &data_dir, cli.server_cpus.as_deref()).await?;
    println!(
        "Linli ready {:.0} ms after start on an existing {} database",
        linli.ready_after.as_secs_f64() * 1000.0,
        match cli.backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    );
    let mut servers = vec![(Target::Linli, linli)];
    if !cli.no_raw {
        servers.push((Target::Raw, start_raw(&database_url).await?));
    }
    if cli.with_postgraphile {
        match cli.backend {
            Backend::Postgres => match postgraphile::start(&database_url).await {
                Ok(server) => servers.push((Target::PostGraphile, server)),
                Err(e) => println!("PostGraphile not run: {e:#}"),
            },
            Backend::Sqlite => println!("PostGraphile runs on PostgreSQL only: not run"),
        }
    }

    let fixtures = workloads::Fixtures::new(&seeded)?;
    let client = load::client(cli.concurrency)?;
    let duration = Duration::from_secs(cli.duration);
    let mut rows: Vec<Row> = Vec::new();
    for workload in &cli.workloads {
        for (target, server) in &servers {
            let Some(make) = fixtures.make(*target, *workload, &server.base) else {
                continue;
            };
            if workload.is_read() {
                // Warm-up: connections, caches, prepared statements.
                let _ = load::closed_loop(
                    &client,
                    make.clone(),
                    cli.concurrency,
                    Duration::from_secs(1),
                )
                .await;
            }
            let (outcome, rss) = measure(
                server,
                &client,
                make.clone(),
                Mode::Closed(cli.concurrency),
                duration,
            )
            .await;
            let peak = outcome.rate();
            report_first_error(server.name, *workload, &outcome);
            rows.push(Row {
                target: server.name.into(),
                workload: workload.to_string(),
                mode: format!("closed c={}", cli.concurrency),
                outcome,
                rss_kb: rss,
            });
            if !cli.no_open_loop && peak > 2.0 {
                let rate = peak / 2.0;
                let (outcome, rss) =
                    measure(server, &client, make, Mode::Open(rate), duration).await;
                report_first_error(server.name, *workload, &outcome);
                rows.push(Row {
                    target: server.name.into(),
                    workload: workload.to_string(),
                    mode: format!("open {:.0}/s", rate),
                    outcome,
                    rss_kb: rss,
                });
            }
        }
    }
    if cli.attack_rate > 0 {
        let (_, linli) = &servers[0];
        if let Some(make) = fixtures.make(Target::Linli, Workload::R1, &linli.base) {
            let rounds = attack::ordinary_under_attack(
                &client,
                make,
                &linli.base,
                linli.pid(),
                cli.concurrency,
                duration,
                cli.attack_rounds,
                cli.attack_rate,
                !cli.attack_without_large_body,
            )
            .await?;
            attack::print_rounds(&rounds, cli.attack_rate, !cli.attack_without_large_body);
            let costs = attack::server_cost_per_attack(
                &linli.base,
                linli.pid(),
                4,
                Duration::from_secs(3),
                !cli.attack_without_large_body,
            )
            .await?;
            attack::print_costs(&costs, cli.attack_rate);
        }
    }
    let mut pgbench_line = None;
    if cli.with_pgbench {
        match cli.backend {
            Backend::Postgres => {
                match postgraphile::pgbench_w1(
                    &database_url,
                    &seeded,
                    cli.concurrency,
                    cli.duration,
                )
                .await
                {
                    Ok(tps) => pgbench_line = Some(tps),
                    Err(e) => println!("pgbench not run: {e:#}"),
                }
            }
            Backend::Sqlite => println!("pgbench runs on PostgreSQL only: not run"),
        }
    }

    println!();
    print_table(&mut rows);
    if let Some(tps) = pgbench_line {
        println!(
            "pgbench, W1's transaction, {} clients: {tps:.0} tx/s",
            cli.concurrency
        );
    }
    for (_, server) in &servers {
        if let Some(hwm) = load::rss_kb(server.pid(), "VmHWM") {
            println!(
                "{} peak RSS over the whole run (VmHWM): {:.1} MB",
                server.name,
                hwm as f64 / 1024.0
            );
        }
    }
    for (_, mut server) in servers {
        let _ = server.child.kill().await;
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(())
}

fn report_first_error(name: &str, workload: Workload, outcome: &Outcome) {
    if let Some(e) = &outcome.first_error {
        println!("{name} {workload}: {} errors, first: {e}", outcome.errors);
    }
}

fn print_table(rows: &mut [Row]) {
    println!(
        "| target | workload | mode | req/s | p50 ms | p99 ms | errors | server peak RSS MB |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    for row in rows {
        let rate = row.outcome.rate();
        let p50 = row.outcome.percentile_ms(50.0);
        let p99 = row.outcome.percentile_ms(99.0);
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.1} |",
            row.target,
            row.workload,
            row.mode,
            rate,
            p50,
            p99,
            row.outcome.errors,
            row.rss_kb as f64 / 1024.0
        );
    }
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, rest)) if url.starts_with("postgres") => format!("postgres://…@{rest}"),
        _ => url.to_string(),
    }
}
