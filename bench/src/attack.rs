//! Ordinary traffic while an attack runs (issue 8): R1 closed-loop alone,
//! alternating with R1 while attackers send, at a fixed rate, the requests
//! the server must refuse quickly — depth 50, 1,000 aliases of an expensive
//! field, 10,000 directives, a 100-operation batch and a 10 MB body; then
//! what each attack alone costs the server's CPU.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;

use crate::load::{self, Gen, Outcome};

/// The attacks, named: each is a request body the server must refuse.
fn attack_bodies(large_body: bool) -> Vec<(&'static str, Bytes)> {
    let deep = format!(
        "{{ {}__typename{} }}",
        "regions { children { ".repeat(25),
        " } }".repeat(25)
    );
    let aliases: String = (0..1000)
        .map(|i| format!("a{i}: regions {{ id name }} "))
        .collect();
    let directives = "@include(if: true) ".repeat(10_000);
    let batch: Vec<serde_json::Value> = (0..100)
        .map(|_| serde_json::json!({ "query": "{ regions { id } }" }))
        .collect();
    let mut bodies = vec![
        ("depth 50", serde_json::json!({ "query": deep }).to_string()),
        (
            "1,000 aliases",
            serde_json::json!({ "query": format!("{{ {aliases} }}") }).to_string(),
        ),
        (
            "10,000 directives",
            serde_json::json!({ "query": format!("{{ __typename {directives} }}") }).to_string(),
        ),
        (
            "100-operation batch",
            serde_json::Value::Array(batch).to_string(),
        ),
    ];
    if large_body {
        let big = "x".repeat(10 * 1024 * 1024);
        bodies.push((
            "10 MB body",
            serde_json::json!({ "query": format!("{{ __typename }} # {big}") }).to_string(),
        ));
    }
    bodies
        .into_iter()
        .map(|(name, body)| (name, Bytes::from(body)))
        .collect()
}

fn sending(url: Arc<str>, bodies: Vec<Bytes>) -> Gen {
    Arc::new(move |n| load::Req {
        url: url.clone(),
        token: None,
        body: bodies[n as usize % bodies.len()].clone(),
    })
}

/// What one attack costs the server: each kind sent alone (closed loop,
/// `concurrency` clients, for `duration`), with the server's CPU time per
/// refused request. `errors` counts requests that were not refused.
pub async fn server_cost_per_attack(
    base: &str,
    server_pid: u32,
    concurrency: usize,
    duration: Duration,
    large_body: bool,
) -> anyhow::Result<Vec<(&'static str, Window)>> {
    let url: Arc<str> = format!("{base}/graphql").into();
    let attacker = load::client(concurrency)?;
    let mut costs = Vec::new();
    for (name, body) in attack_bodies(large_body) {
        let make = sending(url.clone(), vec![body]);
        let cost = window(
            server_pid,
            load::closed_loop_expecting(
                &attacker,
                make,
                concurrency,
                duration,
                load::Expect::Refused,
            ),
        )
        .await;
        costs.push((name, cost));
    }
    Ok(costs)
}

/// One window of traffic: what it got, and the share of one CPU the
/// server used meanwhile (None when /proc cannot tell).
#[derive(Clone)]
pub struct Window {
    pub outcome: Outcome,
    pub server_cpu: Option<f64>,
}

impl Window {
    /// Server CPU time per request answered as expected, in microseconds.
    pub fn cpu_per_request_us(&self) -> Option<f64> {
        let served = (self.outcome.requests - self.outcome.errors).max(1) as f64;
        self.server_cpu
            .map(|share| share * self.outcome.elapsed.as_secs_f64() * 1e6 / served)
    }
}

/// One round: ordinary traffic under attack between two windows of it
/// alone; `attacks.errors` counts attack requests the server did not
/// refuse, which must be none.
pub struct Round {
    pub alone_before: Window,
    pub under_attack: Window,
    pub alone_after: Window,
    pub attacks: Outcome,
}

impl Round {
    /// Ordinary throughput alone: the mean of the windows either side.
    pub fn alone_rate(&self) -> f64 {
        (self.alone_before.outcome.rate() + self.alone_after.outcome.rate()) / 2.0
    }

    /// Ordinary throughput under attack as a share of it alone.
    pub fn kept(&self) -> f64 {
        self.under_attack.outcome.rate() / self.alone_rate().max(1e-9)
    }
}

async fn window<F: std::future::Future<Output = Outcome>>(server_pid: u32, run: F) -> Window {
    let before = load::cpu_time(server_pid);
    let outcome = run.await;
    let server_cpu = before
        .zip(load::cpu_time(server_pid))
        .map(|(before, after)| (after - before).as_secs_f64() / outcome.elapsed.as_secs_f64());
    Window {
        outcome,
        server_cpu,
    }
}

/// Ordinary traffic alone and under attack, alternated (alone, attack,
/// alone, attack, … alone) for `rounds` attack windows: each is compared
/// with the mean of the alone windows either side, so that a steady drift
/// of the machine (other tenants, caches warming) cancels out.
#[allow(clippy::too_many_arguments)]
pub async fn ordinary_under_attack(
    client: &reqwest::Client,
    ordinary: Gen,
    base: &str,
    server_pid: u32,
    concurrency: usize,
    duration: Duration,
    rounds: u32,
    attack_rate: u32,
    large_body: bool,
) -> anyhow::Result<Vec<Round>> {
    let bodies: Vec<Bytes> = attack_bodies(large_body)
        .into_iter()
        .map(|(_, body)| body)
        .collect();
    let url: Arc<str> = format!("{base}/graphql").into();
    let attacker = load::client(64)?;
    let mut results = Vec::new();
    let mut alone = window(
        server_pid,
        load::closed_loop(client, ordinary.clone(), concurrency, duration),
    )
    .await;
    for _ in 0..rounds.max(1) {
        let attack = tokio::spawn({
            let make = sending(url.clone(), bodies.clone());
            let attacker = attacker.clone();
            async move {
                load::open_loop(
                    &attacker,
                    make,
                    f64::from(attack_rate),
                    duration,
                    4096,
                    load::Expect::Refused,
                )
                .await
            }
        });
        let under_attack = window(
            server_pid,
            load::closed_loop(client, ordinary.clone(), concurrency, duration),
        )
        .await;
        let attacks = attack.await?;
        let alone_after = window(
            server_pid,
            load::closed_loop(client, ordinary.clone(), concurrency, duration),
        )
        .await;
        results.push(Round {
            alone_before: std::mem::replace(&mut alone, alone_after.clone()),
            under_attack,
            alone_after,
            attacks,
        });
    }
    Ok(results)
}

fn cpu_share(window: &Window) -> String {
    window
        .server_cpu
        .map_or("?".to_string(), |share| format!("{:.0}%", share * 100.0))
}

fn cpu_per_request(window: &Window) -> String {
    window
        .cpu_per_request_us()
        .map_or("?".to_string(), |us| format!("{us:.0}"))
}

fn print_first_error(what: &str, outcome: &Outcome) {
    if let Some(e) = &outcome.first_error {
        println!("{what}: {} errors, first: {e}", outcome.errors);
    }
}

/// The rounds as a table, and what R1 kept over all of them.
pub fn print_rounds(rounds: &[Round], attack_rate: u32, large_body: bool) {
    let window = |window: &Window| {
        format!(
            "{:.0} ({}, {} µs)",
            window.outcome.rate(),
            cpu_share(window),
            cpu_per_request(window)
        )
    };
    println!(
        "\nR1 alone and while {attack_rate} attack requests/s are sent{} (req/s, the server's CPU share, its CPU time per R1 request):",
        if large_body { "" } else { " (no 10 MB body)" }
    );
    println!(
        "| round | R1 alone before | R1 under attack | R1 alone after | kept | attacks sent | not refused |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (i, round) in rounds.iter().enumerate() {
        println!(
            "| {} | {} | {} | {} | {:.0}% | {} | {} |",
            i + 1,
            window(&round.alone_before),
            window(&round.under_attack),
            window(&round.alone_after),
            100.0 * round.kept(),
            round.attacks.requests,
            round.attacks.errors,
        );
    }
    if let Some(first) = rounds.first() {
        print_first_error("R1 alone", &first.alone_before.outcome);
    }
    for round in rounds {
        print_first_error("R1 alone", &round.alone_after.outcome);
        print_first_error("R1 under attack", &round.under_attack.outcome);
        print_first_error("attacks (not refused)", &round.attacks);
    }
    let under_attack: f64 = rounds
        .iter()
        .map(|round| round.under_attack.outcome.rate())
        .sum();
    let alone: f64 = rounds.iter().map(Round::alone_rate).sum();
    println!(
        "R1 kept {:.0}% of its throughput under attack over all rounds",
        100.0 * under_attack / alone.max(1e-9)
    );
}

/// Each attack's cost as a table, and what the mix costs at `attack_rate`
/// (each kind equally often, as `ordinary_under_attack` sends them).
pub fn print_costs(costs: &[(&'static str, Window)], attack_rate: u32) {
    println!("\nEach attack alone (4 clients, closed loop, 3 s):");
    println!("| attack | refused/s | server CPU | server CPU per refusal µs | not refused |");
    println!("|---|---:|---:|---:|---:|");
    for (name, cost) in costs {
        println!(
            "| {name} | {:.0} | {} | {} | {} |",
            cost.outcome.rate(),
            cpu_share(cost),
            cpu_per_request(cost),
            cost.outcome.errors,
        );
    }
    let mix_cpu_per_second: Option<f64> = costs
        .iter()
        .map(|(_, cost)| cost.cpu_per_request_us())
        .sum::<Option<f64>>()
        .map(|sum_us| sum_us / costs.len().max(1) as f64 * f64::from(attack_rate) / 1e6);
    if let Some(seconds) = mix_cpu_per_second {
        println!(
            "The mix at {attack_rate}/s costs the server {:.0} ms of CPU time per second ({:.1}% of one core)",
            seconds * 1e3,
            seconds * 100.0
        );
    }
    for (name, cost) in costs {
        print_first_error(&format!("attack {name} (not refused)"), &cost.outcome);
    }
}
