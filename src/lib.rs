//! orakgarak: a voice-based karaoke song recommender, built as an
//! observability-first event pipeline.
//!
//! - [`config`] — typed settings from YAML plus `ORAKGARAK__*` overrides.
//! - [`telemetry`] — JSON logs with traceId, the metrics registry, internal events.
//! - [`domain`] — `UploadId`, `ByteSize`, `Note`, trace context, the 12-state machine.
//! - [`store`] — PostgreSQL: uploads and their history, the outbox, dedup keys.
//! - [`storage`] — the S3 object store: presigned PUTs, bounded get/put/head.
//! - [`api`] — axum HTTP API: uploads, upload status, object-created events.
//! - [`pipeline`] — the one Kafka consumer engine, the outbox relay, DLQ tools.
//! - [`stages`] — convert, analyze, recommend: handlers the engine calls.
//! - [`audio`] — decoding, resampling, WAV, pitch tracking, range and timbre.
//! - [`catalog`] — songs read from UltraStar and MIDI files, where they sit, and ranking them for a singer.
//! - [`slo`] — the service level objectives; `alerts/slo.yml` is rendered from them.
//! - [`dashboards`] — Grafana dashboards as code, thresholds taken from the alert rules.
//! - [`drills`] — fire drills: one real fault at a time, watched through Prometheus and Alertmanager.
//! - [`devstack`] — per-run isolation on the local stack, for tests and benchmarks.
//! - [`supervisor`] — restarts failed long-running tasks with backoff; what `/readyz` reports.
//! - [`status_server`] — `/metrics`, `/healthz` and `/readyz` on every process's metrics listener.
//! - [`watchdog`] — the cron scan that re-drives stuck uploads and reconciles lost events.
//! - [`app`] — wires the pieces into the roles a process runs.
//! - [`commands`] — the CLI subcommands `main.rs` dispatches to.
//!
//! Data flows one way: api → store; pipeline → stages → audio/catalog.
//! Nothing below `api` imports it.

pub mod api;
pub mod app;
pub mod audio;
pub mod catalog;
pub mod commands;
pub mod config;
pub mod dashboards;
pub mod devstack;
pub mod domain;
pub mod drills;
pub mod http_client;
pub mod pipeline;
pub mod slo;
pub mod stages;
pub mod status_server;
pub mod storage;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod watchdog;
