//! librdkafka clients built from settings, and topic creation.

use std::time::Duration;

use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::FutureProducer;

use crate::config::KafkaSettings;

/// The consumers' default session timeout, in milliseconds.
const SESSION_MS: u64 = 10_000;

#[derive(Clone)]
pub struct KafkaClients {
    settings: KafkaSettings,
}

impl KafkaClients {
    pub fn new(settings: &KafkaSettings) -> Self {
        Self { settings: settings.clone() }
    }

    pub fn settings(&self) -> &KafkaSettings {
        &self.settings
    }

    fn base(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.settings.brokers)
            .set("socket.timeout.ms", "10000")
            .set("broker.address.family", "v4");
        for (key, value) in &self.settings.client {
            config.set(key, value.expose());
        }
        config
    }

    pub fn producer(&self) -> anyhow::Result<FutureProducer> {
        let mut config = self.base();
        config
            // No idempotent producer: idempotence needs transactions-era broker features tansu
            // lacks; duplicates are removed by consumers instead.
            .set("enable.idempotence", "false")
            .set("acks", "all")
            .set("message.timeout.ms", self.settings.delivery_timeout.as_millis().to_string())
            .set("partitioner", "murmur2_random");
        for (key, value) in &self.settings.producer {
            config.set(key, value);
        }
        config.create().context("cannot create Kafka producer")
    }

    /// The consumers' session timeout: how long the broker keeps a member
    /// that stopped heartbeating.
    pub fn session_timeout(&self) -> Duration {
        let ms = self.settings.consumer.get("session.timeout.ms").and_then(|v| v.parse().ok()).unwrap_or(SESSION_MS);
        Duration::from_millis(ms)
    }

    /// A consumer that never commits on its own what it has not finished:
    /// offsets are *stored* by the engine after the work is durable and
    /// committed in batches every `commit_interval`.
    pub fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut config = self.base();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", self.settings.commit_interval.as_millis().to_string())
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", SESSION_MS.to_string())
            .set("statistics.interval.ms", "5000");
        for (key, value) in &self.settings.consumer {
            config.set(key, value);
        }
        config
    }
}

/// Creates `topics` with the configured partition count; existing topics are fine.
pub async fn ensure_topics(settings: &KafkaSettings, topics: &[String]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        KafkaClients::new(settings).base().create().context("cannot create Kafka admin client")?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, settings.partitions, TopicReplication::Fixed(settings.replication_factor)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = tokio::time::timeout(Duration::from_secs(20), admin.create_topics(&new, &options))
        .await
        .context("Kafka did not answer CreateTopics within 20 s")?
        .context("CreateTopics failed")?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("cannot create topic {topic}: {code}"),
        }
    }
    Ok(())
}
