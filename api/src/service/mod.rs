//! Domain services: rules, state machines and transactions, one module per
//! domain. Services ask `policy` before they touch a community's records.

pub mod auth;
pub mod consultation;
pub mod covenant;
pub mod credits;
pub mod lists;
pub mod org;
pub mod page;
pub mod privacy;
pub mod validate;
