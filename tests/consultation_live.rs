//! The live tally subscription end to end over WebSocket (graphql-transport-ws):
//! within one server on both back ends, and across two servers sharing one
//! PostgreSQL database (LISTEN/NOTIFY).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use linli::{Backend, TestApp, World, backend_tests};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use linli::Socket;

const VOTE: &str = "mutation($b: ID!, $c: Choice!) { castVote(ballotId: $b, choice: $c) { id } }";

async fn open_ballot(app: &TestApp, world: &World, secret: bool) -> String {
    app.open_residents_ballot(world, secret).await.to_string()
}

async fn subscribe(app: &TestApp, token: &str, ballot: &str) -> Socket {
    let (mut socket, _) = app.connect_socket("graphql-transport-ws").await;
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    socket.send(Message::text(init.to_string())).await.unwrap();
    let ack = next_json(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack");
    let subscribe = json!({
        "id": "1",
        "type": "subscribe",
        "payload": {
            "query": "subscription($b: ID!) { ballotTally(ballotId: $b) { forCount againstCount abstainCount turnout } }",
            "variables": {"b": ballot},
        }
    });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    socket
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .expect("a frame");
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" || value["type"] == "pong" {
                    continue;
                }
                return value;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The next pushed tally.
async fn next_tally(socket: &mut Socket) -> Value {
    let message = next_json(socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert!(message["payload"]["errors"].is_null(), "{message}");
    message["payload"]["data"]["ballotTally"].clone()
}

async fn live_tally_over_websocket(app: TestApp) {
    let world = app.world().await;
    let ballot = open_ballot(&app, &world, false).await;
    let mut socket = subscribe(&app, &world.resident_a.token, &ballot).await;
    assert_eq!(
        next_tally(&mut socket).await,
        json!({"forCount": 0, "againstCount": 0, "abstainCount": 0, "turnout": 0})
    );
    app.gql(
        world.staff_a.token(),
        VOTE,
        json!({"b": ballot, "c": "FOR"}),
    )
    .await
    .data();
    assert_eq!(
        next_tally(&mut socket).await,
        json!({"forCount": 1, "againstCount": 0, "abstainCount": 0, "turnout": 1})
    );
    app.gql(
        world.resident_a.token(),
        VOTE,
        json!({"b": ballot, "c": "AGAINST"}),
    )
    .await
    .data();
    assert_eq!(
        next_tally(&mut socket).await,
        json!({"forCount": 1, "againstCount": 1, "abstainCount": 0, "turnout": 2})
    );
    // Another community cannot watch it.
    let mut foreign = subscribe(&app, &world.resident_b.token, &ballot).await;
    let refused = next_json(&mut foreign).await;
    assert!(
        refused["type"] == "error" || !refused["payload"]["errors"].is_null(),
        "{refused}"
    );
}

async fn secret_tally_shows_turnout_only(app: TestApp) {
    let world = app.world().await;
    let ballot = open_ballot(&app, &world, true).await;
    let mut socket = subscribe(&app, &world.staff_a.token, &ballot).await;
    assert_eq!(
        next_tally(&mut socket).await,
        json!({"forCount": null, "againstCount": null, "abstainCount": null, "turnout": 0})
    );
    app.gql(
        world.resident_a.token(),
        VOTE,
        json!({"b": ballot, "c": "FOR"}),
    )
    .await
    .data();
    assert_eq!(
        next_tally(&mut socket).await,
        json!({"forCount": null, "againstCount": null, "abstainCount": null, "turnout": 1})
    );
    // Closing pushes the final counts, then the stream completes.
    app.gql(
        world.staff_a.token(),
        "mutation($b: ID!) { closeBallot(ballotId: $b) { id } }",
        json!({"b": ballot}),
    )
    .await
    .data();
    assert_eq!(
        next_tally(&mut socket).await,
        json!({"forCount": 1, "againstCount": 0, "abstainCount": 0, "turnout": 1})
    );
    assert_eq!(next_json(&mut socket).await["type"], "complete");
}

/// Two servers on one PostgreSQL database: a vote on one reaches a
/// subscriber of the other through LISTEN/NOTIFY.
/// PostgreSQL only: replicas share tallies through LISTEN/NOTIFY, which
/// SQLite (one process) has no use for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_live_tallies() {
    let Some(app) = linli::spawn_app(Backend::Postgres).await else {
        linli::report_postgres_skipped("two_servers_share_live_tallies");
        return;
    };
    let world = app.world().await;
    let ballot = open_ballot(&app, &world, false).await;
    let url = app.state.settings.database_url();
    let other = linli::spawn_app_with(Backend::Postgres, move |settings| {
        settings.database_url = Some(url);
    })
    .await
    .expect("a second server");
    let mut socket = subscribe(&other, &world.resident_a.token, &ballot).await;
    assert_eq!(next_tally(&mut socket).await["turnout"], 0);
    // The other server's listener must LISTEN before the vote, or its
    // notification goes nowhere: wait until a session of this database
    // listens (the listener's last statement).
    linli::wait_until("the other server's tally listener", || async {
        let listening = app
            .count(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
            )
            .await;
        (listening >= 2).then_some(())
    })
    .await;
    app.gql(
        world.staff_a.token(),
        VOTE,
        json!({"b": ballot, "c": "ABSTAIN"}),
    )
    .await
    .data();
    assert_eq!(
        next_tally(&mut socket).await,
        json!({"forCount": 0, "againstCount": 0, "abstainCount": 1, "turnout": 1})
    );
}

/// GraphiQL opened with `?wsToken=` sends the token in connection_init;
/// anything but a token's characters is ignored.
async fn graphiql_carries_the_subscription_token(app: TestApp) {
    let page = |q: &'static str| {
        let url = format!("{}/graphql?{q}", app.base_url);
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let with_token = page("wsToken=abc.DEF-123_x").await;
    assert!(with_token.contains("Bearer abc.DEF-123_x"), "{with_token}");
    let injected = page("wsToken=a%27%3B%3C%2Fscript%3E").await;
    assert!(!injected.contains("Bearer a'"));
    assert!(!injected.contains("wsConnectionParams"));
}

backend_tests!(
    graphiql_carries_the_subscription_token,
    live_tally_over_websocket,
    secret_tally_shows_turnout_only,
);
