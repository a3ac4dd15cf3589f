//! The public HTTP API: uploads (presigned PUTs), upload status and
//! recommendations, the song catalogue, the object-created webhook, and
//! the singer's web app. Handlers write to PostgreSQL (and its outbox)
//! only; they never talk to Kafka.

mod auth;
mod error;
mod events;
mod middleware;
mod request_trace;
mod songs;
mod uploads;
mod web;

pub use auth::{mint_token, Claims, TokenVerifier};
pub use error::ApiError;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::config::Settings;
use crate::pipeline::Topics;
use crate::stages::Recommender;
use crate::storage::ObjectStore;
use crate::store::Store;
use crate::telemetry::Metrics;

#[derive(Clone)]
pub struct ApiState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub objects: ObjectStore,
    pub topics: Topics,
    pub metrics: Metrics,
    pub tokens: Arc<auth::TokenVerifier>,
    /// Ranks songs for an upload's recommendations with filters.
    pub recommender: Arc<Recommender>,
}

pub fn router(state: ApiState) -> Router {
    let mut router = Router::new()
        .route("/", get(web::index))
        .route("/assets/{name}", get(web::assets))
        .route("/v1/client-config", get(web::client_config))
        .route("/v1/uploads", post(uploads::create))
        .route("/v1/uploads/{id}", get(uploads::show))
        .route("/v1/uploads/{id}/complete", post(uploads::complete))
        .route("/v1/uploads/{id}/recommendations", get(songs::recommendations))
        .route("/v1/songs", get(songs::list))
        .route("/v1/events/s3", post(events::object_created))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready));
    if web::dev_sign_in(&state.settings) {
        router = router.route("/v1/dev/token", post(web::dev_token));
    }
    router
        // A route layer runs after routing, so the route template is known.
        .route_layer(axum::middleware::from_fn_with_state(state.metrics.clone(), middleware::observe))
        .layer(axum::middleware::from_fn_with_state(state.settings.http.allowed_origins().into(), web::cors))
        .with_state(state)
}

async fn ready(axum::extract::State(state): axum::extract::State<ApiState>) -> Result<&'static str, ApiError> {
    sqlx::query("SELECT 1").execute(state.store.pool()).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok("ready")
}
