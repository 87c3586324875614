//! Volunteer time credits (DESIGN §6): settings, volunteers and teams,
//! activities and attendance, the points ledger, the catalogue.

pub mod activity;
pub mod activity_signup;
pub mod catalog_item;
pub mod credit_setting;
pub mod idempotency_key;
pub mod point_account;
pub mod posting;
pub mod redemption;
pub mod team_member;
pub mod volunteer_profile;
pub mod volunteer_team;
