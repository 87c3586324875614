//! The audit trail of every state change.

pub mod audit_log;
