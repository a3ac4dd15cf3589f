//! Builds the shared pieces once and starts the roles a process runs:
//! API, stage workers, outbox relay, metrics listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiState};
use crate::config::Settings;
use crate::domain::Stage;
use crate::pipeline::{self, ConsumerSpec, Engine, KafkaClients, Membership, Relay, StageHandler, Topics};
use crate::stages::{
    AnalysisPermits, Analyzer, CatalogSnapshots, ConvertSettings, Converter, ModelServer, Recommender,
};
use crate::storage::ObjectStore;
use crate::store::Store;
use crate::supervisor::{Health, Supervisor};
use crate::telemetry::events::UploadsCounted;
use crate::telemetry::labels::Task;
use crate::telemetry::{Emit, Lane, Metrics};

/// What one stage hands the next is one type, checked here by the compiler.
const fn chained<A: StageHandler, B: StageHandler<Input = A::Output>>() {}
const _: () = chained::<Converter, Analyzer>();
const _: () = chained::<Analyzer, Recommender>();

#[derive(Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub objects: ObjectStore,
    pub metrics: Metrics,
    pub topics: Topics,
    pub kafka: KafkaClients,
    /// Outgoing HTTP(S): the model server, the JWKS.
    pub http: reqwest::Client,
}

/// What one process runs.
#[derive(Debug, Clone)]
pub struct Roles {
    pub api: bool,
    pub stages: Vec<Stage>,
    /// Traffic classes the stage consumers serve (a pool can be
    /// realtime-only or bulk-only).
    pub lanes: Vec<Lane>,
    /// Run the watchdog on its schedule.
    pub watchdog: bool,
}

impl Roles {
    /// Every role, both lanes: `orakgarak all`.
    pub fn all() -> Self {
        Self { api: true, stages: Stage::ALL.to_vec(), lanes: vec![Lane::Realtime, Lane::Bulk], watchdog: true }
    }
}

/// A started process: where it listens and how to stop it.
pub struct Running {
    pub api_addr: Option<SocketAddr>,
    pub metrics_addr: SocketAddr,
    pub shutdown: CancellationToken,
    /// The supervised tasks and whether each runs (`/readyz`).
    pub health: Health,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Cancels every role and waits for them to finish their current message.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        for task in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(error = %format!("{error:#}"), "A role stopped with an error."),
                Err(error) => tracing::warn!(error = %error, "A role panicked."),
            }
        }
        Ok(())
    }

    /// Stops every role at once, as a crash would: in-flight work is not
    /// finished and no offsets are committed.
    pub fn abort(self) {
        for task in &self.tasks {
            task.abort();
        }
    }

    /// Waits until SIGINT/SIGTERM, then stops.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("Shutdown requested; finishing in-flight work.");
        self.stop().await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

impl App {
    /// The pieces, with a metrics registry of their own.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_metrics(settings, Metrics::new()).await
    }

    /// The pieces, counting into `metrics` (the registry the process's log
    /// pipeline already counts into).
    pub async fn build_with_metrics(settings: Settings, metrics: Metrics) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database).await.context("cannot connect to PostgreSQL")?;
        let objects = ObjectStore::new(&settings.storage, metrics.clone());
        let topics = Topics::new(&settings.kafka.topic_prefix);
        let kafka = KafkaClients::new(&settings.kafka);
        let http = crate::http_client::client(settings.http.ca_bundle.as_deref())?;
        Ok(Self { settings: Arc::new(settings), store, objects, metrics, topics, kafka, http })
    }

    /// Schema, bundled songs, topics and bucket: everything `migrate` sets up.
    pub async fn prepare(&self) -> anyhow::Result<()> {
        self.store.migrate().await.context("database migration failed")?;
        let bundled = crate::catalog::load_bundled(&self.settings.catalog.path)?;
        crate::store::catalog::seed(self.store.pool(), &bundled).await.context("cannot seed the bundled songs")?;
        pipeline::ensure_topics(&self.settings.kafka, &self.topics.all()).await?;
        self.objects.ensure_bucket().await.context("cannot create the bucket")?;
        let origins = self.settings.http.allowed_origins();
        if !self.objects.allow_origins(&origins).await.context("cannot set the bucket's CORS rule")? {
            tracing::info!(
                origins = ?origins,
                "The object store keeps no CORS rules; browsers need a CORS front before it (the local stack has one)."
            );
        }
        Ok(())
    }

    pub async fn start(&self, roles: &Roles) -> anyhow::Result<Running> {
        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let supervisor = Supervisor::new(self.metrics.clone(), shutdown.clone());

        let metrics_listener = TcpListener::bind(&self.settings.http.metrics_listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.settings.http.metrics_listen))?;
        let metrics_addr = metrics_listener.local_addr()?;
        let (metrics, probe) = (self.metrics.clone(), supervisor.health.clone());
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            tokio::select! { r = crate::status_server::serve(metrics_listener, metrics, probe) => r, _ = stop.cancelled() => Ok(()) }
        }));

        let mut api_addr = None;
        if roles.api {
            let listener = TcpListener::bind(&self.settings.http.listen)
                .await
                .with_context(|| format!("cannot listen on {}", self.settings.http.listen))?;
            api_addr = Some(listener.local_addr()?);
            let router = api::router(ApiState {
                settings: self.settings.clone(),
                store: self.store.clone(),
                objects: self.objects.clone(),
                topics: self.topics.clone(),
                metrics: self.metrics.clone(),
                tokens: Arc::new(api::TokenVerifier::new(&self.settings.auth, self.http.clone())?),
                recommender: Arc::new(self.recommender()),
            });
            let stop = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await?;
                Ok(())
            }));
            tracing::info!(addr = %api_addr.map(|a| a.to_string()).unwrap_or_default(), "API listening.");
        }

        let relay = Arc::new(Relay {
            store: self.store.clone(),
            producer: self.kafka.producer()?,
            topics: self.topics.clone(),
            metrics: self.metrics.clone(),
            poll: self.settings.pipeline.outbox_poll,
            delivery_timeout: self.settings.kafka.delivery_timeout,
        });
        let stop = shutdown.clone();
        tasks.push(supervisor.spawn(Task::Relay, move || pipeline::run_relay(relay.clone(), stop.clone())));
        if roles.watchdog {
            // A database-wide count: one role computes it, not every process.
            let (app, stop) = (self.clone(), shutdown.clone());
            tasks.push(supervisor.spawn(Task::StateGauge, move || refresh_state_gauge(app.clone(), stop.clone())));
            let (watchdog, stop) = (Arc::new(self.watchdog()), shutdown.clone());
            tasks.push(
                supervisor
                    .spawn(Task::Watchdog, move || crate::watchdog::run_scheduled(watchdog.clone(), stop.clone())),
            );
        }

        let analysis = &self.settings.analysis;
        let membership = Membership::default();
        for stage in &roles.stages {
            match stage {
                Stage::Convert => {
                    let handler =
                        Converter { objects: self.objects.clone(), settings: ConvertSettings::from(analysis) };
                    self.spawn_stage(handler, &roles.lanes, &membership, &supervisor, &shutdown, &mut tasks);
                }
                Stage::Analyze => {
                    let model = analysis.model_url.as_ref().map(|url| ModelServer {
                        url: url.clone(),
                        timeout: analysis.model_timeout,
                        client: self.http.clone(),
                    });
                    let handler = Analyzer {
                        objects: self.objects.clone(),
                        permits: AnalysisPermits::new(analysis.permits, self.metrics.clone()),
                        model,
                        metrics: self.metrics.clone(),
                    };
                    self.spawn_stage(handler, &roles.lanes, &membership, &supervisor, &shutdown, &mut tasks);
                }
                Stage::Recommend => {
                    let handler = self.recommender();
                    self.spawn_stage(handler, &roles.lanes, &membership, &supervisor, &shutdown, &mut tasks);
                }
            }
        }
        Ok(Running { api_addr, metrics_addr, shutdown, health: supervisor.health, tasks })
    }

    /// Ranks the catalogue in PostgreSQL, re-read when it changes.
    pub fn recommender(&self) -> Recommender {
        Recommender::new(CatalogSnapshots::from_database(self.store.pool().clone()), &self.settings.catalog)
    }

    pub fn watchdog(&self) -> crate::watchdog::Watchdog {
        crate::watchdog::Watchdog {
            store: self.store.clone(),
            objects: self.objects.clone(),
            topics: self.topics.clone(),
            metrics: self.metrics.clone(),
            settings: self.settings.watchdog.clone(),
            max_upload_bytes: self.settings.storage.max_upload_bytes,
            dedup_retention: self.settings.pipeline.dedup_retention,
        }
    }

    /// The engine that runs `handler`'s stage with this app's settings: the
    /// one way an `Engine` is assembled.
    pub fn engine<H: StageHandler>(&self, handler: impl Into<Arc<H>>) -> Engine<H> {
        let pipeline = &self.settings.pipeline;
        Engine {
            handler: handler.into(),
            store: self.store.clone(),
            topics: self.topics.clone(),
            metrics: self.metrics.clone(),
            pipeline: pipeline.clone(),
            time_limit: pipeline.time_limits.get(H::STAGE).0,
            consumer_name: pipeline::consumer_name(&self.settings.kafka.group_prefix, H::STAGE),
        }
    }

    /// One supervised consumer per lane, each with the stage's concurrency.
    fn spawn_stage<H: StageHandler>(
        &self,
        handler: H,
        lanes: &[Lane],
        membership: &Membership,
        supervisor: &Supervisor,
        shutdown: &CancellationToken,
        tasks: &mut Vec<JoinHandle<anyhow::Result<()>>>,
    ) {
        let engine = Arc::new(self.engine::<H>(handler));
        let concurrency = self.settings.pipeline.concurrency.get(H::STAGE);
        // Bulk work (re-drives, replays) has its own topic and consumer.
        for lane in [Lane::Realtime, Lane::Bulk].into_iter().filter(|l| lanes.contains(l)) {
            let spec =
                ConsumerSpec::new(self.kafka.clone(), lane, concurrency, supervisor.health.clone(), membership.clone());
            let (engine, stop) = (engine.clone(), shutdown.clone());
            tasks.push(supervisor.spawn(Task::Consumer(H::STAGE, lane), move || {
                pipeline::run_consumer(engine.clone(), spec.clone(), stop.clone())
            }));
        }
    }
}

/// Keeps `orakgarak_uploads_in_state` current from the database.
async fn refresh_state_gauge(app: App, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        if let Ok(counts) = app.store.count_by_state().await {
            UploadsCounted { counts: &counts }.emit(&app.metrics);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
    }
}
