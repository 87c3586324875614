//! SeaORM entities of Linli, one module per domain (the same names as the
//! service and GraphQL modules in `api`). Every community-owned table carries
//! `community_id`, the tenant key.

pub mod audit;
pub mod auth;
pub mod consultation;
pub mod covenant;
pub mod credits;
pub mod lists;
pub mod org;
