//! DataLoaders for nested fields, one registry made per request (a cache
//! shared across requests would leak records between callers).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::consultation::proposal;
use entity::credits::catalog_item;
use entity::lists::{need, organisation, project, resource};
use entity::org::{household, region, user};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::ServiceError;

/// An entity whose rows are loaded by their UUID primary key.
pub trait KeyedEntity: EntityTrait {
    fn id_column() -> Self::Column;
    fn id_of(model: &Self::Model) -> Uuid;
}

pub struct ById<E> {
    db: DatabaseConnection,
    entity: PhantomData<fn() -> E>,
}

impl<E> Loader<Uuid> for ById<E>
where
    E: KeyedEntity,
    E::Model: Clone + Send + Sync,
{
    type Value = E::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, E::Model>, Self::Error> {
        let rows = E::find()
            .filter(E::id_column().is_in(keys.iter().copied()))
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        Ok(rows.into_iter().map(|row| (E::id_of(&row), row)).collect())
    }
}

pub struct Loaders {
    pub region: DataLoader<ById<region::Entity>>,
    pub household: DataLoader<ById<household::Entity>>,
    pub user: DataLoader<ById<user::Entity>>,
    pub catalog_item: DataLoader<ById<catalog_item::Entity>>,
    pub resource: DataLoader<ById<resource::Entity>>,
    pub need: DataLoader<ById<need::Entity>>,
    pub project: DataLoader<ById<project::Entity>>,
    pub organisation: DataLoader<ById<organisation::Entity>>,
    pub rating_summary: DataLoader<RatingSummaries>,
    pub proposal: DataLoader<ById<proposal::Entity>>,
}

fn by_id<E: KeyedEntity>(db: &DatabaseConnection) -> DataLoader<ById<E>>
where
    E::Model: Clone + Send + Sync,
{
    DataLoader::new(
        ById {
            db: db.clone(),
            entity: PhantomData,
        },
        tokio::spawn,
    )
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        Loaders {
            region: by_id(db),
            household: by_id(db),
            user: by_id(db),
            resource: by_id(db),
            need: by_id(db),
            project: by_id(db),
            organisation: by_id(db),
            rating_summary: DataLoader::new(RatingSummaries { db: db.clone() }, tokio::spawn),
            catalog_item: by_id(db),
            proposal: by_id(db),
        }
    }
}

pub fn load_error(err: Arc<DbErr>) -> async_graphql::Error {
    ServiceError::internal(anyhow::anyhow!("loader: {err}")).into()
}

impl KeyedEntity for region::Entity {
    fn id_column() -> Self::Column {
        region::Column::Id
    }
    fn id_of(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl KeyedEntity for household::Entity {
    fn id_column() -> Self::Column {
        household::Column::Id
    }
    fn id_of(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl KeyedEntity for user::Entity {
    fn id_column() -> Self::Column {
        user::Column::Id
    }
    fn id_of(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl KeyedEntity for catalog_item::Entity {
    fn id_column() -> Self::Column {
        catalog_item::Column::Id
    }
    fn id_of(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl KeyedEntity for proposal::Entity {
    fn id_column() -> Self::Column {
        proposal::Column::Id
    }
    fn id_of(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl KeyedEntity for resource::Entity {
    fn id_column() -> Self::Column {
        resource::Column::Id
    }
    fn id_of(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl KeyedEntity for need::Entity {
    fn id_column() -> Self::Column {
        need::Column::Id
    }
    fn id_of(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl KeyedEntity for project::Entity {
    fn id_column() -> Self::Column {
        project::Column::Id
    }
    fn id_of(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl KeyedEntity for organisation::Entity {
    fn id_column() -> Self::Column {
        organisation::Column::Id
    }
    fn id_of(model: &Self::Model) -> Uuid {
        model.id
    }
}

/// The rating count and average of projects, one grouped query per batch.
pub struct RatingSummaries {
    db: DatabaseConnection,
}

impl Loader<Uuid> for RatingSummaries {
    type Value = crate::service::lists::projects::RatingSummary;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        crate::service::lists::projects::rating_summaries(&self.db, keys)
            .await
            .map_err(Arc::new)
    }
}
