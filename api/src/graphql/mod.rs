//! The GraphQL schema: one module per domain, merged here. Resolvers parse
//! input, call a service and map the result; nothing else.

pub mod consultation;
pub mod context;
pub mod covenant;
pub mod credits;
pub mod ids;
pub mod limits;
pub mod lists;
pub mod loaders;
pub mod org;
pub mod page;
pub mod privacy;

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};

use crate::realtime::TallyHub;
use crate::state::AppState;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    org::OrgQuery,
    ListsQueries,
    consultation::ConsultationQuery,
    covenant::CovenantQuery,
    credits::CreditsQuery,
    privacy::PrivacyQuery,
);

#[derive(MergedObject, Default)]
pub struct ListsQueries(lists::ListsQuery, lists::ProjectsQuery);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    org::AuthMutation,
    org::OrgMutation,
    ListsMutations,
    consultation::ConsultationMutation,
    covenant::CovenantMutation,
    credits::CreditsMutation,
    privacy::PrivacyMutation,
);

#[derive(MergedObject, Default)]
pub struct ListsMutations(lists::ListsMutation, lists::ProjectsMutation);

#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(consultation::ConsultationSubscription);

pub type LinliSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Depth and complexity limits: generous enough for GraphiQL's introspection
/// query (depth 13), tight enough to refuse abusive nesting.
pub const MAX_DEPTH: usize = 16;
pub const MAX_COMPLEXITY: usize = 5_000;
pub const MAX_RECURSIVE_DEPTH: usize = 32;
pub const MAX_DIRECTIVES: usize = 50;

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .limit_recursive_depth(MAX_RECURSIVE_DEPTH)
    .limit_directives(MAX_DIRECTIVES)
}

/// The schema, over HTTP and WebSocket alike. It has no extension: with
/// one, async-graphql sends every field through the extension chain (a
/// boxed future per field and extension); the request path checks the
/// document limits (`limits::admit`) on the document it parsed, which the
/// schema reuses.
pub fn build_schema(state: AppState, tally_hub: TallyHub) -> LinliSchema {
    let introspection = state.settings.introspection_enabled();
    let builder = builder().data(state).data(tally_hub);
    if introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// The SDL that `export-schema` prints and `schema.graphql` keeps.
pub fn sdl() -> String {
    builder().finish().sdl()
}
