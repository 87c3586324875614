//! Database outage (issue 8, item 8): the server runs as a real OS process
//! on a private PostgreSQL cluster started for this test (initdb + pg_ctl
//! in a temporary folder, on a free port; as the `postgres` OS user when the
//! test runs as root). Under a steady load of reads and writes the cluster
//! is stopped with `pg_ctl stop -m immediate`, then started again:
//!
//! - during the outage `/readyz` answers 503 within 3 s, every GraphQL
//!   request answers within the acquire timeout (5 s) and a margin, with
//!   `UNAVAILABLE` (reason `DATABASE_UNAVAILABLE`, with `retryAfter`) and a
//!   message that says the database is unavailable (never
//!   a 5xx, never a hang, never a leaked driver message), and the process
//!   stays up;
//! - once PostgreSQL is back, the same server (not restarted) is ready and
//!   answers again by itself;
//! - nothing in its log says it panicked.
//!
//! The shared PostgreSQL service is never touched. Without PostgreSQL's
//! server binaries the test says it is skipped and passes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use linli::process::{ServerProcess, free_port};
use serde_json::{Value, json};

const SERVER: &str = env!("CARGO_BIN_EXE_linli-api");
/// `api::error::DATABASE_UNAVAILABLE`.
const UNAVAILABLE: &str = "数据库暂时无法访问，请稍后再试";
const ADMIN_PHONE: &str = "13800000009";
const ADMIN_PASSWORD: &str = "linli-outage-2026";
/// The default acquire timeout (5 s) and a margin for a loaded machine.
const ANSWER_WITHIN: Duration = Duration::from_secs(9);

/// A PostgreSQL cluster of this test alone.
struct PrivateCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Run pg_ctl as the `postgres` OS user (initdb refuses root).
    as_postgres: bool,
}

/// The newest `/usr/lib/postgresql/<version>/bin` with initdb and pg_ctl
/// (or `LINLI_PG_BIN`).
fn postgres_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LINLI_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PrivateCluster {
    /// Creates and starts the cluster; None (with the reason) when this
    /// machine cannot.
    fn start() -> Result<PrivateCluster, String> {
        let bin = postgres_bin().ok_or("no PostgreSQL server binaries in /usr/lib/postgresql")?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("linli-outage-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        if as_postgres {
            let chown = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .output()
                .map_err(|e| format!("chown: {e}"))?;
            if !chown.status.success() {
                return Err(format!(
                    "cannot give the cluster's folder to the postgres user: {}",
                    String::from_utf8_lossy(&chown.stderr)
                ));
            }
        }
        let cluster = PrivateCluster {
            dir,
            bin,
            port: free_port(),
            as_postgres,
        };
        let data = cluster.data_dir();
        let init = cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        if !init.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&init.stderr)
            ));
        }
        cluster.pg_start()?;
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<Output, String> {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("{tool}: {e}"))
    }

    fn pg_start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40",
            self.port,
            self.dir.path().display()
        );
        let data = self.data_dir();
        let log = self.dir.path().join("postgres.log");
        let started = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        if started.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl start failed: {}{}",
                String::from_utf8_lossy(&started.stdout),
                std::fs::read_to_string(log).unwrap_or_default()
            ))
        }
    }

    /// Like a crash of the database server: no checkpoint, every backend
    /// killed, clients cut off.
    fn pg_stop_immediate(&self) -> Result<(), String> {
        let data = self.data_dir();
        let stopped = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )?;
        if stopped.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&stopped.stderr)
            ))
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self.pg_stop_immediate();
    }
}

/// One answer of the load.
#[derive(Debug)]
struct Observed {
    operation: &'static str,
    /// The phase when the request was sent.
    phase: u8,
    /// The phase when its answer came.
    answered_in: u8,
    elapsed: Duration,
    /// HTTP status, or None when no answer came.
    status: Option<u16>,
    body: Value,
}

const BEFORE: u8 = 0;
const DOWN: u8 = 1;
const BACK: u8 = 2;

async fn graphql(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> (Option<u16>, Value) {
    let mut request = client
        .post(url)
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (Some(status), response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (None, Value::Null),
    }
}

fn ok(status: Option<u16>, body: &Value) -> bool {
    status == Some(200) && body.get("errors").is_none() && !body["data"].is_null()
}

const REGIONS: &str = "{ regions(first: 5) { edges { node { id name } } } }";
const LOGIN: &str =
    "mutation($p: String!, $w: String!) { passwordLogin(phone: $p, password: $w) { accessToken } }";
const CREATE_REGION: &str =
    "mutation($n: String!) { createRegion(name: $n, kind: DISTRICT) { id } }";

async fn login(client: &reqwest::Client, url: &str) -> (Option<u16>, Value) {
    graphql(
        client,
        url,
        None,
        LOGIN,
        json!({"p": ADMIN_PHONE, "w": ADMIN_PASSWORD}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_rides_out_a_database_outage() {
    let cluster = match PrivateCluster::start() {
        Ok(cluster) => cluster,
        Err(why) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: the_server_rides_out_a_database_outage needs a private PostgreSQL cluster: {why}"
            );
            return;
        }
    };
    let work = tempfile::tempdir().unwrap();
    // The platform administrator, made by the binary's own subcommand (which
    // migrates the new database first).
    let admin = Command::new(SERVER)
        .args([
            "create-admin",
            "--phone",
            ADMIN_PHONE,
            "--password",
            ADMIN_PASSWORD,
        ])
        .env_clear()
        .env("DATABASE_URL", cluster.url())
        .env("DATA_DIR", work.path().join("data"))
        .env("DATA_ENCRYPTION_KEY", linli::TEST_DATA_KEY)
        .env("RUST_LOG", "warn")
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );

    let mut server = ServerProcess::start(
        Path::new(SERVER),
        &cluster.url(),
        work.path(),
        "server.log",
        &[],
    );
    server.wait_for("/readyz", Duration::from_secs(60)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = server.graphql_url();
    let (status, body) = login(&client, &url).await;
    assert!(ok(status, &body), "{body}");
    let token = body["data"]["passwordLogin"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();

    // A steady load: a public read, a login (reads and writes), and a
    // write as the administrator, each in its own loop.
    let phase = Arc::new(AtomicU8::new(BEFORE));
    let done = Arc::new(AtomicU8::new(0));
    let observed = Arc::new(Mutex::new(Vec::<Observed>::new()));
    let mut loops = Vec::new();
    for operation in ["regions", "passwordLogin", "createRegion"] {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        let (phase, done, observed) = (phase.clone(), done.clone(), observed.clone());
        loops.push(tokio::spawn(async move {
            let mut n = 0;
            while done.load(Ordering::SeqCst) == 0 {
                let sent_in = phase.load(Ordering::SeqCst);
                let started = Instant::now();
                let (status, body) = match operation {
                    "regions" => graphql(&client, &url, None, REGIONS, json!({})).await,
                    "passwordLogin" => login(&client, &url).await,
                    _ => {
                        graphql(
                            &client,
                            &url,
                            Some(&token),
                            CREATE_REGION,
                            json!({"n": format!("停电测试区{n}")}),
                        )
                        .await
                    }
                };
                observed.lock().unwrap().push(Observed {
                    operation,
                    phase: sent_in,
                    answered_in: phase.load(Ordering::SeqCst),
                    elapsed: started.elapsed(),
                    status,
                    body,
                });
                n += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    // The load runs and is answered before the outage.
    linli::wait_until("answers to the load before the outage", || async {
        (observed.lock().unwrap().len() >= 20).then_some(())
    })
    .await;

    // The outage.
    cluster.pg_stop_immediate().unwrap();
    phase.store(DOWN, Ordering::SeqCst);
    let health = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let outage_started = Instant::now();
    let mut readyz_checks = 0;
    while outage_started.elapsed() < Duration::from_secs(8) {
        let started = Instant::now();
        let ready = health
            .get(format!("{}/readyz", server.base_url))
            .send()
            .await
            .expect("/readyz answers during the outage");
        assert_eq!(
            ready.status().as_u16(),
            503,
            "/readyz fails while the database is down"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "/readyz answered in {:?}",
            started.elapsed()
        );
        let alive = health
            .get(format!("{}/healthz", server.base_url))
            .send()
            .await
            .expect("/healthz answers during the outage");
        assert_eq!(alive.status().as_u16(), 200);
        assert!(server.is_running(), "the process stays up");
        readyz_checks += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(readyz_checks >= 3);

    // PostgreSQL comes back; the same process recovers by itself.
    phase.store(BACK, Ordering::SeqCst);
    cluster.pg_start().unwrap();
    let back = Instant::now();
    server.wait_for("/readyz", Duration::from_secs(30)).await;
    let ready_after = back.elapsed();
    let mut recovered = false;
    while back.elapsed() < Duration::from_secs(30) {
        let (status, body) = graphql(&client, &url, None, REGIONS, json!({})).await;
        if ok(status, &body) {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "GraphQL answers again without a restart");
    // From now on every operation succeeds.
    let (status, body) = login(&client, &url).await;
    assert!(ok(status, &body), "login after the outage: {body}");
    let (status, body) = graphql(
        &client,
        &url,
        Some(&token),
        CREATE_REGION,
        json!({"n": "恢复后新建区"}),
    )
    .await;
    assert!(ok(status, &body), "a write after the outage: {body}");
    done.store(1, Ordering::SeqCst);
    for l in loops {
        l.await.unwrap();
    }
    assert!(server.is_running(), "the same process served throughout");

    let observed = std::mem::take(&mut *observed.lock().unwrap());
    let mut refused_in_outage = 0;
    for o in &observed {
        assert!(
            o.status.is_some(),
            "{} got no answer after {:?} (phase {})",
            o.operation,
            o.elapsed,
            o.phase
        );
        assert!(
            o.elapsed < ANSWER_WITHIN,
            "{} answered after {:?} (phase {}): {}",
            o.operation,
            o.elapsed,
            o.phase,
            o.body
        );
        if ok(o.status, &o.body) {
            // A request waiting for a connection when PostgreSQL came back
            // is served: that is recovery, not a success during the outage.
            assert!(
                o.phase != DOWN || o.answered_in == BACK,
                "{} succeeded with the database down",
                o.operation
            );
            continue;
        }
        // The one error a client sees: UNAVAILABLE, saying the database is
        // unavailable and when to try again, as an ordinary GraphQL answer.
        assert_eq!(o.status, Some(200), "{}: {}", o.operation, o.body);
        assert_eq!(
            o.body["errors"][0]["extensions"]["code"],
            json!("UNAVAILABLE"),
            "{}: {}",
            o.operation,
            o.body
        );
        // Every answer carries the reason and when to try again, the HTTP
        // layer's session check (before GraphQL runs) included.
        assert_eq!(
            o.body["errors"][0]["extensions"]["reason"],
            json!("DATABASE_UNAVAILABLE"),
            "{}: {}",
            o.operation,
            o.body
        );
        assert!(
            o.body["errors"][0]["extensions"]["retryAfter"]
                .as_i64()
                .is_some_and(|secs| secs > 0),
            "{}: {}",
            o.operation,
            o.body
        );
        assert_eq!(
            o.body["errors"][0]["message"],
            json!(UNAVAILABLE),
            "{}: {}",
            o.operation,
            o.body
        );
        if o.phase == DOWN {
            refused_in_outage += 1;
        }
    }
    for operation in ["regions", "passwordLogin", "createRegion"] {
        assert!(
            observed
                .iter()
                .any(|o| o.operation == operation && o.phase == DOWN && !ok(o.status, &o.body)),
            "{operation} was refused during the outage"
        );
        assert!(
            observed
                .iter()
                .any(|o| o.operation == operation && o.phase == BEFORE && ok(o.status, &o.body)),
            "{operation} succeeded before the outage"
        );
    }
    let log = server.log();
    assert!(!log.contains("panicked"), "no panic in the log:\n{log}");
    eprintln!(
        "outage: {refused_in_outage} requests refused clearly, ready {ready_after:?} after PostgreSQL was back, {} answers in all",
        observed.len()
    );
}
