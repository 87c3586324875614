//! The one helper every state change uses to leave an audit entry, inside
//! the transaction that makes the change.

use entity::audit::audit_log;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub community_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub on_behalf_of: Option<Uuid>,
    pub entity_type: &'static str,
    pub entity_id: Uuid,
    pub action: &'static str,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl AuditEntry {
    pub fn new(entity_type: &'static str, entity_id: Uuid, action: &'static str) -> Self {
        AuditEntry {
            community_id: None,
            actor_id: None,
            on_behalf_of: None,
            entity_type,
            entity_id,
            action,
            before: None,
            after: None,
        }
    }

    pub fn community(mut self, community_id: Uuid) -> Self {
        self.community_id = Some(community_id);
        self
    }

    pub fn actor(mut self, actor_id: Option<Uuid>) -> Self {
        self.actor_id = actor_id;
        self
    }

    pub fn change(mut self, before: Option<Value>, after: Option<Value>) -> Self {
        self.before = before;
        self.after = after;
        self
    }
}

pub async fn record<C: ConnectionTrait>(db: &C, entry: AuditEntry) -> Result<(), DbErr> {
    audit_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        community_id: Set(entry.community_id),
        actor_id: Set(entry.actor_id),
        on_behalf_of: Set(entry.on_behalf_of),
        entity_type: Set(entry.entity_type.to_string()),
        entity_id: Set(entry.entity_id),
        action: Set(entry.action.to_string()),
        before: Set(entry.before),
        after: Set(entry.after),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}
