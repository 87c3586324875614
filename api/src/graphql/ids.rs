//! IDs are UUID v7, opaque to clients.

use async_graphql::ID;
use uuid::Uuid;

use crate::error::{Reason, ServiceError, api_error};

pub fn parse_id(id: &ID, field: &'static str) -> async_graphql::Result<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| {
        api_error(ServiceError::bad_input(
            Reason::IdMalformed,
            field,
            "编号格式不正确",
        ))
    })
}

pub fn parse_opt_id(id: &Option<ID>, field: &'static str) -> async_graphql::Result<Option<Uuid>> {
    id.as_ref().map(|id| parse_id(id, field)).transpose()
}

pub fn to_id(id: Uuid) -> ID {
    ID(id.to_string())
}
