//! Linli (邻里): the back end of a community co-governance platform.
//!
//! Layers, each depending only on those below it:
//! `http` → `jobs` → `graphql` (thin resolvers) → `realtime` (live tallies)
//! → `service` (rules, transactions) → `policy` / `audit` → `entity`
//! (SeaORM), with `state`, `auth`, `db`, `error` and the like at the bottom.
//! A service that must reach a higher layer does so through an interface of
//! its own (`service::consultation::tally_feed::TallyPublisher`, which the
//! realtime hub implements). The unit test in `layers.rs` reads the
//! `crate::` paths of every file and fails on a circle between modules or
//! an import against the layers.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod jobs;
#[cfg(test)]
mod layers;
pub mod metrics;
pub mod policy;
pub mod ratelimit;
pub mod realtime;
pub mod seed;
pub mod service;
pub mod state;
pub mod telemetry;
