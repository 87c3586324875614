//! The three lists: resources, needs, projects, the project library,
//! organisations, matching, ratings and the four indices.

mod inputs;
mod mutation;
mod query;
mod types;

pub use mutation::{ListsMutation, ProjectsMutation};
pub use query::{ListsQuery, ProjectsQuery};
pub use types::*;
