//! The per-IP and per-user rate limits on the request path
//! (RATE_LIMIT_IP_PER_SEC / _BURST, RATE_LIMIT_USER_PER_SEC / _BURST; 0
//! turns one off). Each operation is charged once, whichever way it came:
//! an HTTP request, or each `subscribe` message of a socket (a socket is no
//! way around the limits). The buckets are `crate::ratelimit`'s, whose idle
//! keys `crate::jobs` forgets.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpRequest;
use uuid::Uuid;

use crate::ratelimit::RateLimits;

use super::refusal::{LimitScope, Refusal};

/// The client's address as the socket sees it (a proxy in front counts as
/// one client).
pub fn client_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map(|addr| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Takes one operation from `ip`'s bucket, or RATE_LIMITED_IP.
pub fn charge_ip(limits: &RateLimits, ip: IpAddr) -> Result<(), Refusal> {
    limits
        .ip
        .check(&ip)
        .map_err(|wait| Refusal::rate_limited(LimitScope::Ip, wait))
}

/// Takes one operation from the user's bucket, or RATE_LIMITED_USER.
pub fn charge_user(limits: &RateLimits, user_id: Uuid) -> Result<(), Refusal> {
    limits
        .user
        .check(&user_id)
        .map_err(|wait| Refusal::rate_limited(LimitScope::User, wait))
}
