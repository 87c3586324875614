//! DataLoaders for nested fields, one registry made per request (a cache
//! shared across requests would leak records between callers).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::consultation::proposal;
use entity::credits::catalog_item;
use entity::lists::{need, organisation, pledge, project, resource, resource_window};
use entity::org::{household, region, user};
use sea_orm::sea_query::ValueType;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, ModelTrait, PrimaryKeyTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use crate::error::ServiceError;
use crate::service::page::id_column;

/// Loads rows of any entity keyed by one UUID primary key.
pub struct ById<E> {
    db: DatabaseConnection,
    entity: PhantomData<fn() -> E>,
}

impl<E> Loader<Uuid> for ById<E>
where
    E: EntityTrait,
    E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
    E::Model: Clone + Send + Sync,
{
    type Value = E::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, E::Model>, Self::Error> {
        let id = id_column::<E>().map_err(Arc::new)?;
        let rows = E::find()
            .filter(id.is_in(keys.iter().copied()))
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        rows.into_iter()
            .map(|row| match <Uuid as ValueType>::try_from(row.get(id)) {
                Ok(key) => Ok((key, row)),
                Err(err) => Err(Arc::new(DbErr::Type(err.to_string()))),
            })
            .collect()
    }
}

/// A one-to-many relation: the rows of `Child` that point at a parent id.
pub trait HasMany: 'static {
    type Child: EntityTrait;
    fn parent_column() -> <Self::Child as EntityTrait>::Column;
    fn parent_of(child: &<Self::Child as EntityTrait>::Model) -> Uuid;
    /// The order of each parent's children.
    fn order_column() -> <Self::Child as EntityTrait>::Column;
}

/// Loads the children of a batch of parents in one statement.
pub struct Children<R> {
    db: DatabaseConnection,
    relation: PhantomData<fn() -> R>,
}

impl<R> Loader<Uuid> for Children<R>
where
    R: HasMany,
    <R::Child as EntityTrait>::Model: Clone + Send + Sync,
{
    type Value = Vec<<R::Child as EntityTrait>::Model>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = R::Child::find()
            .filter(R::parent_column().is_in(keys.iter().copied()))
            .order_by_asc(R::order_column())
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        let mut grouped: HashMap<Uuid, Self::Value> = HashMap::new();
        for row in rows {
            grouped.entry(R::parent_of(&row)).or_default().push(row);
        }
        Ok(grouped)
    }
}

/// A project's pledges, oldest first.
pub struct PledgesOfProject;

impl HasMany for PledgesOfProject {
    type Child = pledge::Entity;
    fn parent_column() -> pledge::Column {
        pledge::Column::ProjectId
    }
    fn parent_of(child: &pledge::Model) -> Uuid {
        child.project_id
    }
    fn order_column() -> pledge::Column {
        pledge::Column::Id
    }
}

/// A resource's availability windows, earliest first.
pub struct WindowsOfResource;

impl HasMany for WindowsOfResource {
    type Child = resource_window::Entity;
    fn parent_column() -> resource_window::Column {
        resource_window::Column::ResourceId
    }
    fn parent_of(child: &resource_window::Model) -> Uuid {
        child.resource_id
    }
    fn order_column() -> resource_window::Column {
        resource_window::Column::StartsAt
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
    pub pledges_of_project: DataLoader<Children<PledgesOfProject>>,
    pub windows_of_resource: DataLoader<Children<WindowsOfResource>>,
}

fn children<R: HasMany>(db: &DatabaseConnection, delay: Duration) -> DataLoader<Children<R>>
where
    <R::Child as EntityTrait>::Model: Clone + Send + Sync,
{
    DataLoader::new(
        Children {
            db: db.clone(),
            relation: PhantomData,
        },
        tokio::spawn,
    )
    .delay(delay)
}

fn by_id<E>(db: &DatabaseConnection, delay: Duration) -> DataLoader<ById<E>>
where
    E: EntityTrait,
    E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
    E::Model: Clone + Send + Sync,
{
    DataLoader::new(
        ById {
            db: db.clone(),
            entity: PhantomData,
        },
        tokio::spawn,
    )
    .delay(delay)
}

impl Loaders {
    /// `delay`: how long each loader gathers keys before its batched query
    /// (LOADER_DELAY_MS). The batch runs when the timer fires, on another
    /// thread, so a page whose fields take longer than that to reach their
    /// loaders is fetched in more than one batch.
    pub fn new(db: &DatabaseConnection, delay: Duration) -> Self {
        Loaders {
            region: by_id(db, delay),
            household: by_id(db, delay),
            user: by_id(db, delay),
            resource: by_id(db, delay),
            need: by_id(db, delay),
            project: by_id(db, delay),
            organisation: by_id(db, delay),
            rating_summary: DataLoader::new(RatingSummaries { db: db.clone() }, tokio::spawn)
                .delay(delay),
            catalog_item: by_id(db, delay),
            proposal: by_id(db, delay),
            pledges_of_project: children(db, delay),
            windows_of_resource: children(db, delay),
        }
    }
}

pub fn load_error(err: Arc<DbErr>) -> async_graphql::Error {
    if crate::error::database_unreachable(&err) {
        tracing::warn!(error = %err, "loader: the database cannot be reached");
        return ServiceError::database_unavailable().into();
    }
    ServiceError::internal(anyhow::anyhow!("loader: {err}")).into()
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
