//! Starting the HTTP server.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{HttpServer, web};

use crate::router;
use crate::state::AppState;

/// Options of the HTTP server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Worker threads (default: one per core).
    pub workers: Option<usize>,
}

/// Builds the server on an already-bound listener (port 0 in tests). The returned
/// [`Server`] must be awaited (or spawned) to run; its handle stops it gracefully.
pub fn serve(
    listener: TcpListener,
    state: AppState,
    options: ServerOptions,
) -> std::io::Result<Server> {
    let mut state = state;
    if state.web.public_url.is_none() {
        // Not configured: the address the server listens on, as a local client reaches it.
        let addr = listener.local_addr()?;
        state.web.public_url = crate::web::PublicUrl::parse(&format!("http://{addr}")).ok();
    }
    let state = web::Data::new(state);
    let openapi = router::openapi_for(&state.plans.slugs());
    let allowed = web::Data::new(crate::middleware::AllowedMethods::from_openapi(&openapi));
    let openapi = web::Data::new(router::OpenApiJson::new(&openapi));
    let mut server =
        HttpServer::new(move || router::app(state.clone(), openapi.clone(), allowed.clone()))
            .listen(listener)?
            .shutdown_timeout(10);
    if let Some(workers) = options.workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}
