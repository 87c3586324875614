//! Places and people: the region tree, households, users, memberships and
//! region officers (DESIGN §2).

pub mod household;
pub mod membership;
pub mod personal_data_key;
pub mod region;
pub mod region_officer;
pub mod user;
