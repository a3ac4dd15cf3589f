//! The one consumer engine and its plumbing: topics, message envelope,
//! Kafka clients, the outbox relay, scheduled retries, the dead-letter
//! topic, and the one place an upload's state changes (`transition`).
//! Stages are plain handlers the engine calls (`crate::stages`).

mod consumer;
pub mod dlq;
mod engine;
mod intake;
mod kafka;
mod message;
mod offsets;
mod relay;
mod stage;
mod starvation;
mod topics;
mod transition;

pub use consumer::{run_consumer, ConsumerSpec, Membership};
pub use engine::{consumer_name, Engine};
pub use intake::{object_arrived, Arrival};
pub use kafka::{ensure_topics, KafkaClients};
pub use message::{DeadLetter, Origin, StageMessage, Trigger, HEADER_TRACEPARENT};
pub use relay::{run_relay, Relay};
pub use stage::{
    ConvertedAudio, JsonOutput, Recording, StageContext, StageError, StageHandler, StageInput, StageOutput,
};
pub use topics::Topics;
pub use transition::{advance, fail_to_dlq, Changed, DeadLetterUpload, DeadLettered};
