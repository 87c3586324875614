//! Machine-readable errors (issue 14): database constraints recognised by
//! their names on both back ends, the table of known constraints checked
//! against the migrated schema, and an unreachable database answered
//! `UNAVAILABLE` with `retryAfter`. The reasons of ordinary refusals are
//! asserted where each refusal is tested (`expect_reason`), and every
//! `expect_error` of the suite checks that a reason is there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use api::error::{CONSTRAINTS, ErrorCode, Reason, ServiceError, constraint_violation};
use chrono::Utc;
use linli::{Backend, TestApp, backend_tests};
use sea_orm::{ConnectionTrait, DbErr, Statement, Value};
use serde_json::json;
use uuid::Uuid;

async fn execute(app: &TestApp, sql: &str, values: Vec<Value>) -> Result<(), DbErr> {
    let backend = app.db.get_database_backend();
    app.db
        .execute_raw(api::db::statement(backend, sql, values))
        .await
        .map(|_| ())
}

/// A duplicate made behind the service's back (as two requests racing past
/// its check would) is told by the index's name: `NAME_TAKEN`, not INTERNAL.
async fn a_unique_violation_is_known_by_its_constraint(app: TestApp) {
    let world = app.world().await;
    let now = Utc::now();
    let insert = "INSERT INTO region (id, name, kind, parent_id, street_id, district_id, created_at) \
                  VALUES (?, ?, 'COMMUNITY', ?, ?, ?, ?)";
    let region = |name: &str| {
        vec![
            Uuid::now_v7().into(),
            name.into(),
            world.street_a.into(),
            world.street_a.into(),
            world.district.into(),
            now.into(),
        ]
    };
    execute(&app, insert, region("重名社区")).await.unwrap();
    let err = execute(&app, insert, region("重名社区")).await.unwrap_err();
    let known = constraint_violation(&err).expect("a known constraint");
    assert_eq!(known.name, "ux_region_parent_name");
    let refused = ServiceError::from(err);
    assert_eq!(refused.code(), ErrorCode::Conflict);
    assert_eq!(refused.reason(), Reason::NameTaken);
    assert_eq!(refused.message(), "同一上级下已有同名区域");
}

/// A balance below zero breaks point_account's CHECK: `INSUFFICIENT_POINTS`,
/// known by the CHECK's name on PostgreSQL and by its expression on SQLite
/// (which names no unnamed CHECK), never by matching message text.
async fn a_check_violation_is_known_by_its_constraint(app: TestApp) {
    let world = app.world().await;
    let err = execute(
        &app,
        "INSERT INTO point_account (id, community_id, kind, owner_id, balance, minutes_served, created_at) \
         VALUES (?, ?, 'DONATION_POOL', NULL, -1, 0, ?)",
        vec![
            Uuid::now_v7().into(),
            world.community_a.into(),
            Utc::now().into(),
        ],
    )
    .await
    .unwrap_err();
    let known = constraint_violation(&err).expect("a known constraint");
    assert_eq!(known.reason, Reason::InsufficientPoints);
    let refused = ServiceError::from(err);
    assert_eq!(refused.code(), ErrorCode::InvalidState);
    assert_eq!(refused.message(), "积分余额不足");
}

/// Every constraint of `api::error::CONSTRAINTS` exists in the migrated
/// schema under the name (PostgreSQL) or with the columns or expression
/// (SQLite) the table gives: a renamed index cannot silently turn a
/// conflict back into INTERNAL.
async fn the_known_constraints_are_in_the_schema(app: TestApp) {
    for constraint in CONSTRAINTS {
        let found = match app.backend {
            Backend::Postgres => {
                app.count(&format!(
                    "SELECT (SELECT COUNT(*) FROM pg_constraint WHERE conname = '{0}') \
                          + (SELECT COUNT(*) FROM pg_indexes WHERE indexname = '{0}')",
                    constraint.name
                ))
                .await
            }
            Backend::Sqlite => match constraint.name.strip_suffix("_check") {
                // An unnamed table CHECK, which SQLite names by its text's
                // first (quoted) identifier.
                Some(table) => {
                    app.count(&format!(
                        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}' \
                         AND instr(sql, 'CHECK (\"{}\"') > 0",
                        constraint.sqlite
                    ))
                    .await
                }
                None => {
                    let table = constraint.sqlite.split('.').next().unwrap();
                    sqlite_unique_key(&app, table, constraint.sqlite).await
                }
            },
        };
        assert!(
            found > 0,
            "{} ({}) is not in the schema",
            constraint.name,
            constraint.sqlite
        );
    }
}

/// 1 when `table` has a unique index (or primary key) on exactly the
/// columns `key` lists as SQLite reports them (`t.a, t.b`).
async fn sqlite_unique_key(app: &TestApp, table: &str, key: &str) -> i64 {
    let wanted: Vec<String> = key
        .split(", ")
        .map(|c| c.trim_start_matches(&format!("{table}.")).to_string())
        .collect();
    let backend = app.db.get_database_backend();
    let indexes = app
        .db
        .query_all_raw(Statement::from_string(
            backend,
            format!("SELECT name FROM pragma_index_list('{table}') WHERE \"unique\" = 1"),
        ))
        .await
        .unwrap();
    for index in indexes {
        let name: String = index.try_get_by_index(0).unwrap();
        let columns: Vec<String> = app
            .db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT name FROM pragma_index_info('{name}') ORDER BY seqno"),
            ))
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.try_get_by_index(0).unwrap())
            .collect();
        if columns == wanted {
            return 1;
        }
    }
    0
}

/// The database gone (here: the server's pool closed under it) is no bug:
/// `UNAVAILABLE`, `DATABASE_UNAVAILABLE`, and when to try again.
async fn an_unreachable_database_is_unavailable_with_retry_after(app: TestApp) {
    let regions = "{ regions(first: 5) { edges { node { id } } } }";
    app.gql(None, regions, json!({})).await.data();
    app.state.db.close_by_ref().await.unwrap();
    let r = app.gql(None, regions, json!({})).await;
    assert_eq!(r.status, 200);
    let error = r.expect_reason("UNAVAILABLE", "DATABASE_UNAVAILABLE");
    assert_eq!(error["extensions"]["retryAfter"], 5);
    assert_eq!(error["message"], "数据库暂时无法访问，请稍后再试");
}

backend_tests!(
    a_unique_violation_is_known_by_its_constraint,
    a_check_violation_is_known_by_its_constraint,
    the_known_constraints_are_in_the_schema,
    an_unreachable_database_is_unavailable_with_retry_after,
);
