//! Credentials: access tokens (JWT), password hashes, and WeChat's code2session.

pub mod jwt;
pub mod live;
pub mod password;
pub mod wechat;
