//! What every handler shares: the application core and the HTTP adapter's own settings.

use std::ops::{Deref, DerefMut};

use twin_core::Core;
use twin_core::sync::SyncOptions;
use twin_store::Store;

/// Server-wide state, built once by the binary and shared by every worker: the
/// [`twin_core::Core`] the handlers call, plus what only the HTTP adapter needs. It derefs to
/// the core, so a handler reads `state.store` or `state.meter` directly.
pub struct AppState {
    /// The use cases and what they share.
    pub core: Core,
    /// Admin tokens; empty disables the admin API.
    pub admin_tokens: Vec<String>,
    /// The public base URL and the trusted proxies.
    pub web: crate::web::WebConfig,
}

impl AppState {
    /// A serving state on `store` with the core's defaults. Starts the core's background
    /// tasks, so it must be called inside a tokio runtime.
    pub fn new(store: Store) -> Self {
        Self::with_sync(store, SyncOptions::default())
    }

    /// [`AppState::new`] with explicit change-feed settings.
    pub fn with_sync(store: Store, sync: SyncOptions) -> Self {
        AppState {
            core: Core::with_sync(store, sync),
            admin_tokens: Vec::new(),
            web: crate::web::WebConfig::default(),
        }
    }
}

impl Deref for AppState {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

impl DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Core {
        &mut self.core
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}
