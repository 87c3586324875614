//! The load generator: closed loop (N workers, each sends its next request
//! when the previous answer arrived) and open loop (requests scheduled at a
//! fixed rate whatever the server does; latency counted from the scheduled
//! time, so a stalled server is not hidden by fewer requests being sent).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use tokio::sync::Semaphore;

/// One request to send: where, and the JSON body (shared bytes, so a
/// generator that resends one body, such as the 10 MB attack, does not
/// copy it for each request).
#[derive(Debug, Clone)]
pub struct Req {
    pub url: Arc<str>,
    pub token: Option<Arc<str>>,
    pub body: Bytes,
}

/// Builds the n-th request of a workload (n counts across all workers).
pub type Gen = Arc<dyn Fn(u64) -> Req + Send + Sync>;

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latencies of the successful requests, in microseconds.
    pub latencies_us: Vec<u64>,
    /// The first error seen, to show why a workload fails.
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        (self.requests - self.errors) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        percentile(&mut self.latencies_us, p) as f64 / 1000.0
    }

    fn merge(&mut self, other: Outcome) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latencies_us.extend(other.latencies_us);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// The nearest-rank percentile (p in 0..=100) of `values`; 0 when empty.
pub fn percentile(values: &mut [u64], p: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

pub fn client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency.max(1) * 2)
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()?)
}

/// Sends one request; Ok when the status is 200 and the answer carries no
/// GraphQL errors.
async fn send(client: &reqwest::Client, req: Req) -> Result<(), String> {
    let mut builder = client
        .post(&*req.url)
        .header("content-type", "application/json")
        .body(req.body);
    if let Some(token) = &req.token {
        builder = builder.bearer_auth(token);
    }
    let response = builder.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() || body.windows(9).any(|w| w == b"\"errors\":") {
        let text = String::from_utf8_lossy(&body);
        return Err(format!(
            "{status}: {}",
            text.chars().take(300).collect::<String>()
        ));
    }
    Ok(())
}

pub async fn closed_loop(
    client: &reqwest::Client,
    make: Gen,
    concurrency: usize,
    duration: Duration,
) -> Outcome {
    closed_loop_expecting(client, make, concurrency, duration, Expect::Served).await
}

/// The closed loop, with `expect` deciding what counts as an error.
pub async fn closed_loop_expecting(
    client: &reqwest::Client,
    make: Gen,
    concurrency: usize,
    duration: Duration,
    expect: Expect,
) -> Outcome {
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let client = client.clone();
        let make = make.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            while Instant::now() < deadline {
                let req = make(counter.fetch_add(1, Ordering::Relaxed));
                let t0 = Instant::now();
                let result = expect.judge(send(&client, req).await);
                out.requests += 1;
                match result {
                    Ok(()) => out.latencies_us.push(t0.elapsed().as_micros() as u64),
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert(e);
                    }
                }
            }
            out
        }));
    }
    let mut total = Outcome::default();
    for task in tasks {
        if let Ok(out) = task.await {
            total.merge(out);
        }
    }
    total.elapsed = start.elapsed();
    total
}

/// What a request of a run should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A 200 with no GraphQL errors.
    Served,
    /// Refused: a 4xx, or a 200 carrying errors (an attack request).
    /// Served, a 5xx or no answer counts as an error.
    Refused,
}

impl Expect {
    fn judge(self, sent: Result<(), String>) -> Result<(), String> {
        match (self, sent) {
            (Expect::Served, sent) => sent,
            (Expect::Refused, Ok(())) => Err("an attack request was served".into()),
            (Expect::Refused, Err(e)) if e.starts_with('4') || e.starts_with("200") => Ok(()),
            (Expect::Refused, Err(e)) => Err(e),
        }
    }
}

/// Requests at `rate` per second for `duration`; at most `max_in_flight`
/// outstanding (a request that finds them all busy counts as an error).
pub async fn open_loop(
    client: &reqwest::Client,
    make: Gen,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    expect: Expect,
) -> Outcome {
    let start = Instant::now();
    let total_requests = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let mut tasks = Vec::with_capacity(total_requests as usize);
    let mut refused = Outcome::default();
    for n in 0..total_requests {
        let scheduled = start + interval.mul_f64(n as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refused.requests += 1;
            refused.errors += 1;
            refused
                .first_error
                .get_or_insert("too many requests in flight".into());
            continue;
        };
        let client = client.clone();
        let req = make(n);
        tasks.push(tokio::spawn(async move {
            let result = expect.judge(send(&client, req).await);
            drop(permit);
            (result, scheduled.elapsed())
        }));
    }
    let mut total = refused;
    for task in tasks {
        total.requests += 1;
        match task.await {
            Ok((Ok(()), latency)) => total.latencies_us.push(latency.as_micros() as u64),
            Ok((Err(e), _)) => {
                total.errors += 1;
                total.first_error.get_or_insert(e);
            }
            Err(e) => {
                total.errors += 1;
                total.first_error.get_or_insert(e.to_string());
            }
        }
    }
    total.elapsed = start.elapsed().max(duration);
    total
}

/// Resident set size of a process in kB: `VmRSS` now, or `VmHWM` (peak).
pub fn rss_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kb(&status, field)
}

/// CPU time `pid` has used so far (user + system), from /proc/<pid>/stat.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&stat)
}

/// utime + stime of a /proc/<pid>/stat line, in USER_HZ ticks (100 per
/// second on Linux). The command name in parentheses may hold spaces, so
/// fields are counted after its closing parenthesis.
pub fn parse_stat_cpu(stat: &str) -> Option<Duration> {
    const TICKS_PER_SECOND: u64 = 100;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state is field 3 of the line; utime and stime are 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SECOND,
    ))
}

pub fn parse_status_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Samples VmRSS of `pid` every 50 ms until dropped; `peak()` is the largest seen.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(rss_kb(pid, "VmRSS").unwrap_or(0)));
        let seen = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(kb) = rss_kb(pid, "VmRSS") {
                    seen.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        RssSampler { peak, task }
    }

    pub fn peak_kb(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        // A name with spaces and parentheses; utime 250 and stime 50 ticks.
        let stat = "4242 (serve (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0";
        assert_eq!(parse_stat_cpu(stat), Some(Duration::from_secs(3)));
        assert!(cpu_time(std::process::id()).is_some());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut v, 50.0), 50);
        assert_eq!(percentile(&mut v, 99.0), 99);
        assert_eq!(percentile(&mut v, 100.0), 100);
        assert_eq!(percentile(&mut v, 0.0), 1);
        let mut one = vec![7];
        assert_eq!(percentile(&mut one, 99.0), 7);
        assert_eq!(percentile(&mut [], 50.0), 0);
        let mut few = vec![10, 20, 30];
        assert_eq!(percentile(&mut few, 50.0), 20);
        assert_eq!(percentile(&mut few, 99.0), 30);
    }

    #[test]
    fn attack_requests_count_as_errors_unless_refused() {
        let judge = |sent: Result<(), &str>| Expect::Refused.judge(sent.map_err(String::from));
        assert!(judge(Err("400 Bad Request: {}")).is_ok());
        assert!(judge(Err("413 Payload Too Large: ")).is_ok());
        assert!(judge(Err("200 OK: {\"errors\":[]}")).is_ok());
        assert!(judge(Ok(())).is_err());
        assert!(judge(Err("500 Internal Server Error: ")).is_err());
        assert!(judge(Err("error sending request")).is_err());
        assert!(Expect::Served.judge(Ok(())).is_ok());
    }

    #[test]
    fn reads_kilobytes_from_proc_status() {
        let status = "Name:\tapi\nVmHWM:\t  123456 kB\nVmRSS:\t   65432 kB\n";
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(123_456));
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(65_432));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
        assert!(rss_kb(std::process::id(), "VmRSS").unwrap() > 0);
    }
}
