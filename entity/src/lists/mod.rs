//! The three lists (DESIGN §3): organisations, resources, needs, projects,
//! pledges and ratings.

pub mod need;
pub mod need_match;
pub mod organisation;
pub mod organisation_representative;
pub mod pledge;
pub mod project;
pub mod project_need;
pub mod project_rating;
pub mod resource;
pub mod resource_window;
