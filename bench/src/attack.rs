//! Ordinary traffic while an attack runs (issue 8): R1 closed-loop alone,
//! then R1 again while attackers send, at a fixed rate, the requests the
//! server must refuse quickly — depth 50, 1,000 aliases of an expensive
//! field, 10,000 directives, a 100-operation batch and a 10 MB body.

use std::sync::Arc;
use std::time::Duration;

use crate::load::{self, Gen, Outcome};

fn attack_bodies(large_body: bool) -> Vec<String> {
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
        serde_json::json!({ "query": deep }).to_string(),
        serde_json::json!({ "query": format!("{{ {aliases} }}") }).to_string(),
        serde_json::json!({ "query": format!("{{ __typename {directives} }}") }).to_string(),
        serde_json::Value::Array(batch).to_string(),
    ];
    if large_body {
        let big = "x".repeat(10 * 1024 * 1024);
        bodies
            .push(serde_json::json!({ "query": format!("{{ __typename }} # {big}") }).to_string());
    }
    bodies
}

/// R1 alone, R1 under attack, and what the attackers saw (`errors` counts
/// attack requests the server did not refuse, which must be none).
pub async fn ordinary_under_attack(
    client: &reqwest::Client,
    ordinary: Gen,
    base: &str,
    concurrency: usize,
    duration: Duration,
    attack_rate: u32,
    large_body: bool,
) -> anyhow::Result<(Outcome, Outcome, Outcome)> {
    let alone = load::closed_loop(client, ordinary.clone(), concurrency, duration).await;
    let bodies: Arc<Vec<String>> = Arc::new(attack_bodies(large_body));
    let url: Arc<str> = format!("{base}/graphql").into();
    let attacker = load::client(64)?;
    let attack = tokio::spawn({
        let bodies = bodies.clone();
        async move {
            let make: Gen = Arc::new(move |n| load::Req {
                url: url.clone(),
                token: None,
                body: bodies[n as usize % bodies.len()].clone(),
            });
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
    let under_attack = load::closed_loop(client, ordinary, concurrency, duration).await;
    let attacks = attack.await?;
    Ok((alone, under_attack, attacks))
}
