//! What a resolver takes from the request: the shared state, the caller and
//! the per-request loaders.

use async_graphql::Context;

use crate::graphql::loaders::Loaders;
use crate::policy::Actor;
use crate::realtime::TallyHub;
use crate::state::AppState;

/// The authenticated caller of one request, put in the request data by the
/// HTTP handler (or the WebSocket connection init).
#[derive(Debug, Clone, Copy)]
pub struct Session(pub Actor);

pub trait ContextExt {
    fn state(&self) -> &AppState;
    fn actor(&self) -> Actor;
    fn loaders(&self) -> &Loaders;
    fn tally_hub(&self) -> &TallyHub;
}

impl ContextExt for Context<'_> {
    fn state(&self) -> &AppState {
        // The schema is always built with the state (graphql::build_schema).
        #[allow(clippy::expect_used)]
        self.data::<AppState>().expect("AppState is schema data")
    }

    fn actor(&self) -> Actor {
        self.data_opt::<Session>()
            .map(|session| session.0)
            .unwrap_or(Actor::Anonymous)
    }

    fn loaders(&self) -> &Loaders {
        // Every operation gets its loaders on the request path (http::gate).
        #[allow(clippy::expect_used)]
        self.data::<Loaders>().expect("Loaders are request data")
    }

    fn tally_hub(&self) -> &TallyHub {
        // The schema is always built with the hub (graphql::build_schema).
        #[allow(clippy::expect_used)]
        self.data::<TallyHub>().expect("TallyHub is schema data")
    }
}
