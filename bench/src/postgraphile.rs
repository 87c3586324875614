//! The PostgreSQL comparators: PostGraphile v5 (node, from
//! bench/postgraphile after `npm ci` there) answering R1–R3 with equivalent
//! queries, and pgbench running W1's transaction (the statements castVote
//! issues) as the write ceiling.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context;
use sea_orm::ConnectionTrait;
use tokio::process::Command;

use crate::seed::Seeded;
use crate::{Server, free_port, start_child_named};

/// PostGraphile's amber preset: the primary key `id` is `rowId` (the Relay
/// node id takes `id`), relations are named after their foreign keys.
pub const R1: &str = "query R1($id: UUID!) { needByRowId(rowId: $id) { \
    id: rowId title category urgency status createdAt } }";
pub const R2: &str = "query R2($c: UUID!) { allNeeds(condition: {communityId: $c}, first: 20, \
    orderBy: PRIMARY_KEY_ASC) { edges { node { id: rowId title category urgency status createdAt \
    requester: userByRequesterId { id: rowId displayName } \
    project: projectByProjectId { id: rowId title status } } } pageInfo { endCursor hasNextPage } } }";
pub const R3: &str = "query R3($c: UUID!) { allProjects(condition: {communityId: $c}, first: 20, \
    orderBy: PRIMARY_KEY_ASC) { edges { node { id: rowId title status \
    pledges: pledgesByProjectId { nodes { id: rowId quantity status \
    resource: resourceByResourceId { id: rowId title category \
    provider: userByProviderId { id: rowId displayName } } } } } } } }";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("postgraphile")
}

/// PostGraphile 5 needs Node 22 or later (`engines` of postgraphile, grafast
/// and @dataplan/pg; on Node 20 `Promise.withResolvers` is missing and every
/// table query fails), so it runs on the Node that `npm ci` installs in
/// bench/postgraphile (npm package `node`), not on the system's.
/// graphile.config.mjs there turns on GraphQL over GET, which the readiness
/// check (`GET /graphql?query={__typename}`) needs; without it grafserv
/// answers 405.
pub async fn start(database_url: &str) -> anyhow::Result<Server> {
    let node = dir().join("node_modules/.bin/node");
    let cli = dir().join("node_modules/.bin/postgraphile");
    for file in [&node, &cli] {
        if !file.exists() {
            anyhow::bail!(
                "{} is missing: run `npm ci` in {}",
                file.display(),
                dir().display()
            );
        }
    }
    let port = free_port()?;
    let mut command = Command::new(node);
    command
        .current_dir(dir())
        .arg(cli)
        .arg("-C")
        .arg("graphile.config.mjs")
        .arg("-c")
        .arg(database_url)
        .arg("-s")
        .arg("public")
        .arg("-P")
        .arg("postgraphile/presets/amber")
        .arg("-p")
        .arg(port.to_string())
        .arg("-n")
        .arg("127.0.0.1")
        .env("NODE_ENV", "production")
        .env("GRAPHILE_ENV", "production")
        .stderr(Stdio::null());
    let server = start_child_named(
        "postgraphile",
        command,
        format!("http://127.0.0.1:{port}"),
        "/graphql?query=%7B__typename%7D",
    )
    .await?;
    println!(
        "PostGraphile ready {:.0} ms after start",
        server.ready_after.as_secs_f64() * 1000.0
    );
    Ok(server)
}

/// W1's transaction as castVote runs it on PostgreSQL (the statements of
/// `service::consultation::ballot::cast_vote`, with the caller's standing
/// looked up first), on a random (ballot, elector) pair of the first
/// community. Returns transactions per second.
const W1_SQL: &str = r#"\set n random(1, :pairs)
SELECT b.* FROM ballot b JOIN bench_w1_pair p ON p.ballot_id = b.id WHERE p.n = :n;
SELECT m.* FROM membership m JOIN bench_w1_pair p ON p.community_id = m.community_id AND p.user_id = m.user_id WHERE p.n = :n;
BEGIN;
SELECT b.* FROM ballot b JOIN bench_w1_pair p ON p.ballot_id = b.id WHERE p.n = :n FOR SHARE OF b;
SELECT e.* FROM ballot_elector e JOIN bench_w1_pair p ON p.ballot_id = e.ballot_id AND p.user_id = e.user_id WHERE p.n = :n;
SELECT x.* FROM ballot_proxy x JOIN bench_w1_pair p ON p.ballot_id = x.ballot_id AND p.user_id = x.principal_id WHERE p.n = :n AND x.status <> 'REVOKED';
SELECT v.* FROM ballot_vote v JOIN bench_w1_pair p ON p.ballot_id = v.ballot_id AND p.user_id = v.unit_id WHERE p.n = :n;
INSERT INTO ballot_vote (ballot_id, unit_id, community_id, voter_id, choice, method, recorded_by, cast_at, updated_at)
  SELECT ballot_id, user_id, community_id, user_id, 'FOR', 'ONLINE', NULL, now(), now() FROM bench_w1_pair WHERE n = :n
  ON CONFLICT (ballot_id, unit_id) DO UPDATE SET voter_id = EXCLUDED.voter_id, choice = EXCLUDED.choice,
  recorded_by = EXCLUDED.recorded_by, updated_at = EXCLUDED.updated_at WHERE ballot_vote.method = 'ONLINE';
INSERT INTO audit_log (id, community_id, actor_id, on_behalf_of, entity_type, entity_id, action, before, after, created_at)
  SELECT gen_random_uuid(), community_id, user_id, NULL, 'ballot', ballot_id, 'vote', NULL,
  '{"choice": "FOR", "method": "ONLINE"}', now() FROM bench_w1_pair WHERE n = :n;
SELECT pg_notify('linli_ballot_tally', ballot_id::text) FROM bench_w1_pair WHERE n = :n;
COMMIT;
SELECT b.* FROM ballot b JOIN bench_w1_pair p ON p.ballot_id = b.id WHERE p.n = :n;
"#;

pub async fn pgbench_w1(
    database_url: &str,
    seeded: &Seeded,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<f64> {
    let db = api::db::connect_url(database_url, 1).await?;
    db.execute_unprepared(
        "DROP TABLE IF EXISTS bench_w1_pair; \
         CREATE TABLE bench_w1_pair (n serial PRIMARY KEY, ballot_id uuid NOT NULL, \
         user_id uuid NOT NULL, community_id uuid NOT NULL)",
    )
    .await?;
    let community = seeded.community_id;
    let staff = seeded.staff_id;
    db.execute_unprepared(&format!(
        "INSERT INTO bench_w1_pair (ballot_id, user_id, community_id) \
         SELECT ballot_id, user_id, community_id FROM ballot_elector \
         WHERE community_id = '{community}' AND user_id <> '{staff}' ORDER BY ballot_id, user_id; \
         ANALYZE bench_w1_pair"
    ))
    .await?;
    let pairs = seeded.residents.len() * seeded.ballot_ids.len();
    let script = std::env::temp_dir().join(format!("linli-w1-{}.sql", std::process::id()));
    std::fs::write(&script, W1_SQL)?;
    let threads = clients.min(2);
    let output = Command::new("pgbench")
        .arg("-n")
        .arg("-M")
        .arg("prepared")
        .arg("-c")
        .arg(clients.to_string())
        .arg("-j")
        .arg(threads.to_string())
        .arg("-T")
        .arg(seconds.to_string())
        .arg("-D")
        .arg(format!("pairs={pairs}"))
        .arg("-f")
        .arg(&script)
        .arg(database_url)
        .output()
        .await
        .context("run pgbench")?;
    let _ = std::fs::remove_file(&script);
    db.execute_unprepared("DROP TABLE IF EXISTS bench_w1_pair")
        .await?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        anyhow::bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_tps(&text).with_context(|| format!("no tps in pgbench output: {text}"))
}

/// The `tps = …` figure of pgbench's report.
pub fn parse_tps(report: &str) -> Option<f64> {
    report.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("tps = ")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn reads_tps_from_a_pgbench_report() {
        let report = "number of failed transactions: 0 (0.000%)\n\
                      latency average = 10.662 ms\n\
                      initial connection time = 6.381 ms\n\
                      tps = 3001.223781 (without initial connection time)\n";
        assert_eq!(parse_tps(report), Some(3001.223781));
        assert_eq!(parse_tps("nothing"), None);
    }
}
