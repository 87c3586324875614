//! Input types of the three lists.

use async_graphql::{ID, InputObject};
use chrono::{DateTime, Utc};

/// When a resource can be used.
#[derive(InputObject)]
pub struct AvailabilityWindowInput {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Units of a resource pledged to a project (reserved while it runs).
#[derive(InputObject)]
pub struct PledgeInput {
    pub resource_id: ID,
    pub quantity: i32,
}

/// How many pledged units a completed project used; the rest are released.
#[derive(InputObject)]
pub struct PledgeUsageInput {
    pub resource_id: ID,
    pub used_quantity: i32,
}
