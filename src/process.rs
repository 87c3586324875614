//! The server as a real OS process, for the tests that kill it (SIGKILL) or
//! take its database away: the `linli-api` binary of the root package
//! (`api serve`), started on a given database and a free port, its log in a
//! file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TEST_JWT_SECRET;

pub struct ServerProcess {
    child: Child,
    pub base_url: String,
    pub log_path: PathBuf,
}

/// A port nobody listens on now (the OS picks it; freed at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl ServerProcess {
    /// Starts `binary serve` on `database_url`, with the tests' JWT secret
    /// (tokens minted by a [`crate::TestApp`] work), a data folder of its own
    /// and `extra_env`; its output goes to `log_name` in `work_dir`.
    pub fn start(
        binary: &Path,
        database_url: &str,
        work_dir: &Path,
        log_name: &str,
        extra_env: &[(&str, &str)],
    ) -> ServerProcess {
        let port = free_port();
        let data_dir = work_dir.join("data");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let log_path = work_dir.join(log_name);
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut command = Command::new(binary);
        command
            .arg("serve")
            // No .env of the developer's, no settings from the environment.
            .current_dir(work_dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("DATA_DIR", &data_dir)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("JWT_SECRET", TEST_JWT_SECRET)
            // The key the in-process test servers seal personal data with.
            .env("DATA_ENCRYPTION_KEY", crate::TEST_DATA_KEY)
            .env("WORKERS", "2")
            .env("DB_MAX_CONNECTIONS", "8")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let child = command.spawn().expect("start the server process");
        ServerProcess {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log_path,
        }
    }

    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.base_url)
    }

    /// Waits until `path` answers 200 (at most `within`); panics with the
    /// log when it does not, or when the process ends.
    pub async fn wait_for(&mut self, path: &str, within: Duration) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited ({status}):\n{}", self.log());
            }
            if let Ok(response) = client.get(format!("{}{path}", self.base_url)).send().await
                && response.status().is_success()
            {
                return;
            }
            if started.elapsed() > within {
                panic!(
                    "the server did not answer 200 on {path} within {within:?}:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no shutdown, no flushing, requests in flight cut off.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the process wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
