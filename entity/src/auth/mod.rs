//! Sessions: rotating refresh tokens.

pub mod refresh_token;
