//! Linli's end-to-end tests, one binary (linked once) with a module per
//! area. Each test gets its own server on port 0 and its own database (see
//! `linli::TestApp`); `backend_tests!` runs a test on SQLite and on
//! PostgreSQL (`TEST_DATABASE_URL`), as `<module>::sqlite::<test>` and
//! `<module>::postgres::<test>`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod credits_support;
mod lists_support;

mod auth;
mod authorization;
mod cli;
mod consultation;
mod consultation_ballots;
mod consultation_live;
mod covenant;
mod crash_survival;
mod credits;
mod credits_activities;
mod database_outage;
mod errors;
mod graphiql_offline;
mod http_protocol;
mod lists;
mod lists_indices;
mod lists_projects;
mod n_plus_one;
mod org;
mod privacy;
mod schema_sdl;
mod security_fuzz;
mod security_isolation;
mod security_limits;
