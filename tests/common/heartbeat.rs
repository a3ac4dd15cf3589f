//! A stand-in dead man's switch (healthchecks.io's ping API): `POST` or
//! `GET /ping/{uuid}` records a ping and answers `200 OK`; an unknown uuid
//! is `404 not found`, as there. The switch "pages" when no ping arrived
//! within its grace period, which is what a test waits for.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

#[derive(Clone)]
pub struct StandInSwitch {
    uuid: String,
    pub url: String,
    pings: Arc<Mutex<Vec<Instant>>>,
    started: Instant,
}

impl StandInSwitch {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let uuid = uuid::Uuid::new_v4().to_string();
        let url = format!("http://{}/ping/{uuid}", listener.local_addr().expect("addr"));
        let switch = Self { uuid, url, pings: Default::default(), started: Instant::now() };
        let app = Router::new().route("/ping/{uuid}", get(ping).post(ping)).with_state(switch.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        switch
    }

    pub fn pings(&self) -> Vec<Instant> {
        self.pings.lock().expect("lock").clone()
    }

    /// Whether the switch would page now: no ping within `grace`.
    pub fn overdue(&self, grace: Duration) -> bool {
        let last = self.pings().last().copied().unwrap_or(self.started);
        last.elapsed() > grace
    }
}

async fn ping(State(switch): State<StandInSwitch>, Path(uuid): Path<String>) -> (StatusCode, &'static str) {
    if uuid != switch.uuid {
        return (StatusCode::NOT_FOUND, "not found");
    }
    switch.pings.lock().expect("lock").push(Instant::now());
    (StatusCode::OK, "OK")
}
