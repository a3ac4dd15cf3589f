//! The one consumer engine and its plumbing: topics, message envelope,
//! Kafka clients, the outbox relay, retries/backoff, the dead-letter topic.
//! Stages are plain handlers the engine calls (`crate::stages`).

pub mod dlq;
mod engine;
mod intake;
mod kafka;
mod message;
mod relay;
mod topics;

pub use engine::{run_consumer, Engine, StageError, StageHandler, StageOutput};
pub use intake::{object_arrived, Arrival};
pub use kafka::{ensure_topics, KafkaClients};
pub use message::{dead_letter, Origin, StageMessage, Trigger, HEADER_TRACEPARENT};
pub use relay::{run_relay, Relay};
pub use topics::Topics;
