//! The service layer's one error type, and its one mapping to GraphQL errors.
//!
//! `ServiceError` deliberately does not implement `Display`: async-graphql
//! converts any `Display` type into an error without a code, and keeping it
//! off means `?` in a resolver always goes through the mapping below.

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, RuntimeErr};

/// What a client reads while the database cannot be reached (PostgreSQL
/// down or restarting, or every pooled connection busy past the acquire
/// timeout): `INTERNAL`, saying so, and that trying again later helps.
pub const DATABASE_UNAVAILABLE: &str = "数据库暂时无法访问，请稍后再试";

/// A stable machine code (`extensions.code`) of every error a client can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    InvalidState,
    RateLimited,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

#[derive(Debug)]
pub enum ServiceError {
    /// No valid session, or the credentials were wrong.
    Unauthenticated(&'static str),
    Forbidden,
    /// What was not found, in Chinese (“社区”, “成员申请”).
    NotFound(&'static str),
    /// A field of the input is wrong: its GraphQL name and what is wrong, in Chinese.
    BadInput {
        field: &'static str,
        message: String,
    },
    Conflict(String),
    /// The record is not in a state that allows the operation.
    InvalidState(String),
    RateLimited {
        message: String,
        retry_after_secs: i64,
    },
    /// A service Linli depends on (WeChat) is down or busy: INTERNAL, with a
    /// message that says so.
    Unavailable(&'static str),
    /// Something outside the client's control; the cause is logged, not shown.
    Internal(anyhow::Error),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::BadInput {
            field,
            message: message.into(),
        }
    }

    pub fn invalid_state(message: impl Into<String>) -> Self {
        ServiceError::InvalidState(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ServiceError::Conflict(message.into())
    }

    /// Something the client cannot fix; a database that cannot be reached
    /// becomes [`ServiceError::Unavailable`] with its own message.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let cause = cause.into();
        if cause
            .downcast_ref::<DbErr>()
            .is_some_and(database_unreachable)
        {
            tracing::warn!(error = %cause, "the database cannot be reached");
            return ServiceError::Unavailable(DATABASE_UNAVAILABLE);
        }
        ServiceError::Internal(cause)
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ServiceError::Forbidden => ErrorCode::Forbidden,
            ServiceError::NotFound(_) => ErrorCode::NotFound,
            ServiceError::BadInput { .. } => ErrorCode::BadUserInput,
            ServiceError::Conflict(_) => ErrorCode::Conflict,
            ServiceError::InvalidState(_) => ErrorCode::InvalidState,
            ServiceError::RateLimited { .. } => ErrorCode::RateLimited,
            ServiceError::Unavailable(_) | ServiceError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The message a resident reads.
    pub fn message(&self) -> String {
        match self {
            ServiceError::Unauthenticated(why) => (*why).to_string(),
            ServiceError::Forbidden => "您没有权限进行此操作".to_string(),
            ServiceError::NotFound(what) => format!("{what}不存在或您无权查看"),
            ServiceError::BadInput { message, .. } => message.clone(),
            ServiceError::Conflict(message) => message.clone(),
            ServiceError::InvalidState(message) => message.clone(),
            ServiceError::RateLimited { message, .. } => message.clone(),
            ServiceError::Unavailable(message) => (*message).to_string(),
            ServiceError::Internal(_) => "服务器内部错误，请稍后再试".to_string(),
        }
    }
}

impl From<DbErr> for ServiceError {
    fn from(err: DbErr) -> Self {
        ServiceError::internal(err)
    }
}

/// Whether a database error means the database could not be reached (no
/// connection within the acquire timeout, a connection lost, PostgreSQL
/// shutting down or starting up, SQLite busy past its timeout) rather than
/// a fault of the statement.
pub fn database_unreachable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::Internal(_)) => true,
        DbErr::Conn(RuntimeErr::SqlxError(cause))
        | DbErr::Exec(RuntimeErr::SqlxError(cause))
        | DbErr::Query(RuntimeErr::SqlxError(cause)) => sqlx_unreachable(cause),
        _ => false,
    }
}

fn sqlx_unreachable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_)
        | Error::Tls(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: class 08 (connection exception); 57P01 admin
            // shutdown, 57P02 crash shutdown, 57P03 cannot connect now.
            // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED (past the busy timeout).
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "5" | "6")
        }),
        _ => false,
    }
}

impl From<ServiceError> for async_graphql::Error {
    fn from(err: ServiceError) -> Self {
        if let ServiceError::Internal(cause) = &err {
            // The whole chain goes to the log; the client gets the short message.
            tracing::error!(error = ?cause, "internal error");
        }
        let code = err.code();
        let message = err.message();
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            match &err {
                ServiceError::BadInput { field, .. } => ext.set("field", *field),
                ServiceError::RateLimited {
                    retry_after_secs, ..
                } => ext.set("retryAfter", *retry_after_secs),
                _ => {}
            }
        })
    }
}

/// A GraphQL error raised by the API layer itself (a malformed ID or cursor),
/// with the same shape as the service errors.
pub fn api_error(err: ServiceError) -> async_graphql::Error {
    err.into()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};

    use super::{DATABASE_UNAVAILABLE, ErrorCode, ServiceError, database_unreachable};

    fn io(kind: std::io::ErrorKind) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(sea_orm::sqlx::Error::Io(
            std::io::Error::from(kind),
        ))))
    }

    #[test]
    fn an_unreachable_database_is_told_apart_from_a_bad_statement() {
        assert!(database_unreachable(&DbErr::ConnectionAcquire(
            ConnAcquireErr::Timeout
        )));
        assert!(database_unreachable(&io(
            std::io::ErrorKind::ConnectionReset
        )));
        assert!(database_unreachable(&DbErr::Exec(RuntimeErr::SqlxError(
            Arc::new(sea_orm::sqlx::Error::PoolTimedOut)
        ))));
        assert!(!database_unreachable(&DbErr::RecordNotFound("x".into())));
        assert!(!database_unreachable(&DbErr::Query(RuntimeErr::SqlxError(
            Arc::new(sea_orm::sqlx::Error::RowNotFound)
        ))));
    }

    #[test]
    fn it_answers_internal_with_a_message_that_says_so() {
        let err = ServiceError::from(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout));
        assert_eq!(err.code(), ErrorCode::Internal);
        assert_eq!(err.message(), DATABASE_UNAVAILABLE);
        let err = ServiceError::internal(io(std::io::ErrorKind::BrokenPipe));
        assert_eq!(err.message(), DATABASE_UNAVAILABLE);
        let err = ServiceError::from(DbErr::Custom("bug".into()));
        assert_eq!(err.message(), "服务器内部错误，请稍后再试");
    }
}
