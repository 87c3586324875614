//! Linli (邻里): the back end of a community co-governance platform.
//!
//! Layers, each depending only on those below it:
//! `http` → `graphql` (thin resolvers) → `service` (rules, transactions) →
//! `policy` / `audit` → `entity` (SeaORM).

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod http_graphiql;
pub mod metrics;
pub mod policy;
pub mod ratelimit;
pub mod seed;
pub mod service;
pub mod state;
pub mod telemetry;
