//! Typed settings: a YAML file, then `ORAKGARAK__SECTION__KEY` environment
//! overrides. Unknown keys are errors, durations are typed, secrets never print.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Deserializer};

use crate::domain::Stage;

pub const ENV_PREFIX: &str = "ORAKGARAK__";
/// Read when neither `--config` nor `ORAKGARAK_CONFIG` names a file.
pub const DEFAULT_CONFIG_PATH: &str = "config/orakgarak.yaml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Deployment name; one of the three Loki labels, so keep the set small.
    pub env: String,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub kafka: KafkaSettings,
    pub pipeline: PipelineSettings,
    pub analysis: AnalysisSettings,
    pub catalog: CatalogSettings,
    pub watchdog: WatchdogSettings,
    pub log: LogSettings,
    pub traces: TraceSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Public API (uploads, events).
    pub listen: String,
    /// `/metrics` lives on its own listener so it is never exposed with the API.
    pub metrics_listen: String,
    /// Base URL the `demo` command talks to.
    pub base_url: String,
    /// PEM file of certificate authorities that outgoing HTTPS (Loki, the
    /// model server, the JWKS) trusts besides the system's.
    pub ca_bundle: Option<std::path::PathBuf>,
    /// Origins besides `base_url`'s (where the web app is served) whose
    /// pages may call the API and PUT recordings to the bucket (CORS).
    /// Empty: the web app's own origin only.
    pub cors_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HS256 key for user bearer tokens (development); empty: HS256 tokens
    /// are refused.
    pub jwt_secret: Secret,
    /// The identity provider's JWKS (RS256 and ES256 keys by `kid`).
    pub jwks_url: Option<String>,
    /// Tokens must carry this `iss` (when set).
    pub issuer: Option<String>,
    /// Tokens must carry this `aud` (when set).
    pub audience: Option<String>,
    /// The web app's OpenID Connect client (a public client: authorization
    /// code with PKCE against `issuer`). Unset: the web app signs in only
    /// through the development token endpoint, if that exists.
    pub client_id: Option<String>,
    /// A token naming an unknown key fetches the JWKS again, at most this often.
    #[serde(deserialize_with = "duration")]
    pub jwks_refetch_interval: Duration,
    /// Cached keys are fetched again when older than this.
    #[serde(deserialize_with = "duration")]
    pub jwks_max_age: Duration,
    /// Bearer token the object store's webhook presents on `/v1/events/s3`.
    pub event_token: Secret,
    /// Clock skew tolerated on `exp`/`nbf`.
    #[serde(deserialize_with = "duration")]
    pub leeway: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
    /// A request waits at most this long for a pooled connection.
    #[serde(deserialize_with = "duration")]
    pub acquire_timeout: Duration,
    /// Server-side statement_timeout for every session.
    #[serde(deserialize_with = "duration")]
    pub statement_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    pub endpoint: String,
    /// The endpoint presigned URLs name, when browsers reach the store by
    /// another address than the services do (the local stack's CORS
    /// front); unset: `endpoint`.
    pub public_endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Lifetime of a presigned PUT URL; also when the watchdog may expire an upload.
    #[serde(deserialize_with = "duration")]
    pub presign_ttl: Duration,
    /// 100 MB, checked at declaration and again on the object-created event.
    pub max_upload_bytes: u64,
    /// Every S3 call is bounded.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    pub brokers: String,
    /// Topics are `<prefix>.<stage>[.bulk|.dlq]`; tests use a random prefix.
    pub topic_prefix: String,
    /// Consumer groups are `<group_prefix>.<stage>.<lane>` (another
    /// prefix is another independent reader).
    pub group_prefix: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// librdkafka properties every client gets (producer, consumers,
    /// admin): the connection's security, e.g. `security.protocol:
    /// sasl_ssl`, `ssl.ca.location`, `sasl.mechanism: SCRAM-SHA-512`,
    /// `sasl.username`, `sasl.password`. Values never print.
    pub client: BTreeMap<String, Secret>,
    /// Extra librdkafka producer properties (the dev stack sets
    /// `batch.num.messages: "1"` for tansu 0.6).
    #[serde(deserialize_with = "properties")]
    pub producer: BTreeMap<String, String>,
    /// Extra librdkafka consumer properties.
    #[serde(deserialize_with = "properties")]
    pub consumer: BTreeMap<String, String>,
    /// How long a produce may wait for the broker's acknowledgement.
    #[serde(deserialize_with = "duration")]
    pub delivery_timeout: Duration,
    /// How often stored offsets are committed: one commit per batch.
    #[serde(deserialize_with = "duration")]
    pub commit_interval: Duration,
    /// A stage consumer with nothing in flight while a partition of its
    /// topic holds messages whose group offset has not moved this long is
    /// starved: not ready, and counted.
    #[serde(deserialize_with = "duration")]
    pub starved_after: Duration,
    /// A consumer still starved this long after it said so leaves its
    /// group and joins again with a fresh client.
    #[serde(deserialize_with = "duration")]
    pub rejoin_after: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSettings {
    /// Stages a `worker` runs when none are given on the command line.
    pub stages: Vec<Stage>,
    /// One retry after each delay, then the dead-letter topic.
    #[serde(deserialize_with = "durations")]
    pub retry_backoff: Vec<Duration>,
    /// A message older than this is not retried again: no endless retries.
    #[serde(deserialize_with = "duration")]
    pub retry_window: Duration,
    /// How long the outbox relay sleeps when no notification wakes it.
    #[serde(deserialize_with = "duration")]
    pub outbox_poll: Duration,
    /// Dedup keys are kept this long: the topics' retention.
    #[serde(deserialize_with = "duration")]
    pub dedup_retention: Duration,
    /// Messages each stage consumer works on at once (one per upload at a
    /// time). Convert is CPU-bound: 4 keeps two cores busy while other
    /// runs wait on the object store. Analyze is capped again by
    /// `analysis.permits`; recommend is a catalogue lookup.
    pub concurrency: PerStage<usize>,
    /// The most one stage run may take; past it the run is a transient
    /// failure (retried, counted). Below librdkafka's 300 s poll interval,
    /// so a stuck run never costs the consumer its group membership.
    pub time_limits: PerStage<StageLimit>,
}

/// One value per stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerStage<T> {
    pub convert: T,
    pub analyze: T,
    pub recommend: T,
}

impl<T: Copy> PerStage<T> {
    pub fn get(&self, stage: Stage) -> T {
        match stage {
            Stage::Convert => self.convert,
            Stage::Analyze => self.analyze,
            Stage::Recommend => self.recommend,
        }
    }
}

/// A stage's time limit, written like every duration here (`90s`, `2m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct StageLimit(#[serde(deserialize_with = "duration")] pub Duration);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisSettings {
    /// At most this many analyses at once (the GPU in production).
    pub permits: usize,
    /// Converted audio: mono PCM at this rate. 16 kHz covers the voice's
    /// harmonics for pitch and keeps a 100 MB upload's WAV small.
    pub sample_rate: u32,
    /// Shorter recordings cannot give a range a singer would trust.
    #[serde(deserialize_with = "duration")]
    pub min_duration: Duration,
    /// Decoding stops past this much audio (a permanent error): a small
    /// file must not be able to decode into gigabytes of samples.
    #[serde(deserialize_with = "duration")]
    pub max_duration: Duration,
    /// Optional external model server that replaces the built-in analyzer.
    pub model_url: Option<String>,
    /// Hard limit on one model-server call.
    #[serde(deserialize_with = "duration")]
    pub model_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogSettings {
    pub path: PathBuf,
    /// How far a song may be transposed to fit a singer, in semitones.
    pub max_key_shift: i32,
    pub max_results: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchdogSettings {
    /// Cron with seconds: "0 */30 * * * *" = every 30 minutes.
    pub schedule: String,
    /// Automatic re-drives per upload before it is failed into the DLQ.
    pub max_redrives: i32,
    /// Uploads handled per state per run, so one run stays bounded.
    pub batch_limit: i64,
    /// How long after its URL expired a CREATED upload is reconciled.
    #[serde(deserialize_with = "duration")]
    pub expiry_grace: Duration,
    pub thresholds: StuckThresholds,
}

/// How long an upload may sit in each state before it counts as stuck.
/// Each is well above the slowest normal time in that state: queued states
/// wait on consumer lag, working states on the stage itself (analysis of a
/// long take on a busy GPU is the slowest).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StuckThresholds {
    #[serde(deserialize_with = "duration")]
    pub uploaded: Duration,
    #[serde(deserialize_with = "duration")]
    pub converting: Duration,
    #[serde(deserialize_with = "duration")]
    pub converted: Duration,
    #[serde(deserialize_with = "duration")]
    pub analyzing: Duration,
    #[serde(deserialize_with = "duration")]
    pub analyzed: Duration,
    #[serde(deserialize_with = "duration")]
    pub recommending: Duration,
    #[serde(deserialize_with = "duration")]
    pub retrying: Duration,
}

impl StuckThresholds {
    pub fn for_state(&self, state: crate::domain::UploadState) -> Duration {
        use crate::domain::UploadState::*;
        match state {
            Uploaded => self.uploaded,
            Converting => self.converting,
            Converted => self.converted,
            Analyzing => self.analyzing,
            Analyzed => self.analyzed,
            Recommending => self.recommending,
            Retrying => self.retrying,
            _ => Duration::MAX,
        }
    }

    /// Every threshold set to `d` (tests).
    pub fn all(d: Duration) -> Self {
        Self { uploaded: d, converting: d, converted: d, analyzing: d, analyzed: d, recommending: d, retrying: d }
    }
}

impl Default for WatchdogSettings {
    fn default() -> Self {
        Self {
            schedule: "0 */30 * * * *".into(),
            max_redrives: 3,
            batch_limit: 1_000,
            expiry_grace: Duration::from_secs(60),
            thresholds: StuckThresholds::default(),
        }
    }
}

impl Default for StuckThresholds {
    fn default() -> Self {
        let m = |minutes: u64| Duration::from_secs(minutes * 60);
        Self {
            uploaded: m(10),
            converting: m(15),
            converted: m(10),
            analyzing: m(30),
            analyzed: m(10),
            recommending: m(10),
            retrying: m(15),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `json` (production, Loki) or `pretty`.
    pub format: LogFormat,
    /// An EnvFilter directive, e.g. `info,orakgarak=debug`.
    pub level: String,
    /// Loki base URL (e.g. `http://loki:3100`); unset = stdout only.
    pub loki_url: Option<String>,
    /// Lines waiting for Loki, at most. Beyond it new lines are dropped and
    /// counted: memory stays bounded while Loki is down.
    pub loki_queue_lines: usize,
    /// Lines per push.
    pub loki_batch_lines: usize,
    /// A partial batch is pushed after this long.
    #[serde(deserialize_with = "duration")]
    pub loki_flush_interval: Duration,
    /// Limit on one push.
    #[serde(deserialize_with = "duration")]
    pub loki_timeout: Duration,
}

/// OpenTelemetry traces. Spans always exist (their ids are the logs'
/// traceId/spanId and travel in `traceparent` headers); they leave the
/// process only when `otlp_endpoint` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceSettings {
    /// OTLP/HTTP traces URL, protobuf, e.g. `http://tempo:4318/v1/traces`;
    /// unset: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// Headers sent with every export (e.g. `authorization` for a hosted
    /// collector); values never print.
    pub otlp_headers: BTreeMap<String, Secret>,
    /// Share of new traces that are exported (0 to 1). A trace continued
    /// from a `traceparent` keeps its parent's decision.
    pub sampling_ratio: f64,
    /// Spans are sent in batches at least this often.
    #[serde(deserialize_with = "duration")]
    pub export_interval: Duration,
    /// Limit on one export.
    #[serde(deserialize_with = "duration")]
    pub export_timeout: Duration,
    /// Finished spans waiting for export, at most; beyond it new spans are
    /// dropped, so memory stays bounded while the collector is down.
    pub queue_spans: usize,
}

impl Default for TraceSettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            otlp_headers: BTreeMap::new(),
            sampling_ratio: 1.0,
            export_interval: Duration::from_secs(5),
            export_timeout: Duration::from_secs(10),
            queue_spans: 2048,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            env: "dev".into(),
            http: HttpSettings::default(),
            auth: AuthSettings::default(),
            database: DatabaseSettings::default(),
            storage: StorageSettings::default(),
            kafka: KafkaSettings::default(),
            pipeline: PipelineSettings::default(),
            analysis: AnalysisSettings::default(),
            catalog: CatalogSettings::default(),
            watchdog: WatchdogSettings::default(),
            log: LogSettings::default(),
            traces: TraceSettings::default(),
        }
    }
}

impl HttpSettings {
    /// The origins allowed to call the API and PUT to the bucket from a
    /// page: the web app's own (`base_url`'s) and `cors_origins`.
    pub fn allowed_origins(&self) -> Vec<String> {
        let own = reqwest::Url::parse(&self.base_url).map(|url| url.origin().ascii_serialization()).ok();
        let mut origins: Vec<String> = own.into_iter().collect();
        for origin in &self.cors_origins {
            let origin = origin.trim_end_matches('/').to_owned();
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        origins
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            metrics_listen: "127.0.0.1:9464".into(),
            base_url: "http://127.0.0.1:8080".into(),
            ca_bundle: None,
            cors_origins: Vec::new(),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: Secret::new("dev-only-jwt-secret-change-me"),
            jwks_url: None,
            issuer: None,
            audience: None,
            client_id: None,
            jwks_refetch_interval: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(3600),
            event_token: Secret::new("dev-only-event-token-change-me"),
            leeway: Duration::from_secs(30),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://postgres@127.0.0.1:5432/orakgarak"),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:9000".into(),
            public_endpoint: None,
            region: "us-east-1".into(),
            bucket: "orakgarak".into(),
            access_key_id: "orakgarak".into(),
            secret_access_key: Secret::new("orakgarak-dev-secret"),
            presign_ttl: Duration::from_secs(15 * 60),
            max_upload_bytes: 100 * 1024 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic_prefix: "orakgarak".into(),
            group_prefix: "orakgarak".into(),
            partitions: 3,
            replication_factor: 1,
            client: BTreeMap::new(),
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
            delivery_timeout: Duration::from_secs(10),
            commit_interval: Duration::from_secs(1),
            starved_after: Duration::from_secs(20),
            rejoin_after: Duration::from_secs(10),
        }
    }
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            stages: Stage::ALL.to_vec(),
            retry_backoff: vec![Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)],
            retry_window: Duration::from_secs(10 * 60),
            outbox_poll: Duration::from_millis(500),
            dedup_retention: Duration::from_secs(7 * 24 * 3600),
            concurrency: PerStage { convert: 4, analyze: 4, recommend: 8 },
            time_limits: PerStage {
                convert: StageLimit(Duration::from_secs(120)),
                analyze: StageLimit(Duration::from_secs(180)),
                recommend: StageLimit(Duration::from_secs(30)),
            },
        }
    }
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            permits: 2,
            sample_rate: 16_000,
            min_duration: Duration::from_secs(1),
            max_duration: Duration::from_secs(10 * 60),
            model_url: None,
            model_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self { path: "catalog/songs.yaml".into(), max_key_shift: 6, max_results: 10 }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            // The scheduler narrates its internals at info.
            level: "info,tokio_cron_scheduler=warn".into(),
            loki_url: None,
            loki_queue_lines: 10_000,
            loki_batch_lines: 1_000,
            loki_flush_interval: Duration::from_secs(1),
            loki_timeout: Duration::from_secs(5),
        }
    }
}

impl Settings {
    /// Loads `path` (or the default file when it exists), then applies
    /// environment overrides from `vars`.
    pub fn load(path: Option<&Path>, vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let mut tree = match path {
            Some(path) => read_yaml(path)?,
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => read_yaml(Path::new(DEFAULT_CONFIG_PATH))?,
            None => serde_yaml::Value::Mapping(Default::default()),
        };
        for (key, value) in vars {
            if let Some(rest) = key.strip_prefix(ENV_PREFIX) {
                apply_override(&mut tree, rest, &value)
                    .with_context(|| format!("invalid environment override {key}"))?;
            }
        }
        serde_yaml::from_value(tree).context("invalid configuration")
    }

    /// `load` with the process environment and `ORAKGARAK_CONFIG`.
    pub fn from_env(path: Option<&Path>) -> anyhow::Result<Self> {
        let from_var = std::env::var_os("ORAKGARAK_CONFIG").map(PathBuf::from);
        Self::load(path.or(from_var.as_deref()), std::env::vars())
    }
}

fn read_yaml(path: &Path) -> anyhow::Result<serde_yaml::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    let value: serde_yaml::Value =
        serde_yaml::from_str(&text).with_context(|| format!("config file {} is not valid YAML", path.display()))?;
    Ok(match value {
        serde_yaml::Value::Null => serde_yaml::Value::Mapping(Default::default()),
        other => other,
    })
}

fn apply_override(tree: &mut serde_yaml::Value, path: &str, raw: &str) -> anyhow::Result<()> {
    let segments: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    let (leaf, parents) = segments.split_last().context("empty key")?;
    let mut node = tree;
    for segment in parents {
        let map = node.as_mapping_mut().context("override path crosses a non-mapping value")?;
        node = map
            .entry(serde_yaml::Value::String(segment.clone()))
            .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
    }
    let value: serde_yaml::Value =
        serde_yaml::from_str(raw).unwrap_or_else(|_| serde_yaml::Value::String(raw.to_owned()));
    node.as_mapping_mut()
        .context("override path crosses a non-mapping value")?
        .insert(serde_yaml::Value::String(leaf.clone()), value);
    Ok(())
}

/// A string that never appears in logs or `Debug` output.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Parses "250ms", "5s", "15m", "2h", "7d".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("invalid duration {text:?}: expected e.g. 500ms, 5s, 15m"))?;
    let secs = |mult: u64| Duration::from_secs(n.saturating_mul(mult));
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(secs(1)),
        "m" => Ok(secs(60)),
        "h" => Ok(secs(3600)),
        "d" => Ok(secs(86_400)),
        _ => Err(format!("invalid duration unit in {text:?}: use ms, s, m, h or d")),
    }
}

/// librdkafka properties: strings to librdkafka, but a YAML file or an
/// environment override (`ORAKGARAK__KAFKA__CONSUMER__SESSION.TIMEOUT.MS=6000`)
/// may spell a value as a number or a boolean.
fn properties<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, serde_yaml::Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(key, value)| match value {
            serde_yaml::Value::String(s) => Ok((key, s)),
            serde_yaml::Value::Number(n) => Ok((key, n.to_string())),
            serde_yaml::Value::Bool(b) => Ok((key, b.to_string())),
            other => {
                Err(serde::de::Error::custom(format!("{key}: expected a string, number or boolean, not {other:?}")))
            }
        })
        .collect()
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<String>::deserialize(d)?.iter().map(|text| parse_duration(text).map_err(serde::de::Error::custom)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let dir = std::env::temp_dir().join(format!("orakgarak-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("c.yaml");
        std::fs::write(&file, yaml)?;
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Settings::load(Some(&file), vars)
    }

    #[test]
    fn a_numeric_librdkafka_property_from_the_environment_is_taken_as_its_text() -> anyhow::Result<()> {
        let s = load(
            "kafka:\n  brokers: a:1\n  producer:\n    linger.ms: 1\n",
            &[
                ("ORAKGARAK__KAFKA__CONSUMER__SESSION.TIMEOUT.MS", "6000"),
                ("ORAKGARAK__KAFKA__CONSUMER__CHECK.CRCS", "true"),
            ],
        )?;
        assert_eq!(s.kafka.consumer.get("session.timeout.ms").map(String::as_str), Some("6000"));
        assert_eq!(s.kafka.consumer.get("check.crcs").map(String::as_str), Some("true"));
        assert_eq!(s.kafka.producer.get("linger.ms").map(String::as_str), Some("1"));
        assert!(load("kafka:\n  consumer:\n    a: [1]\n", &[]).is_err(), "a list is no property");
        Ok(())
    }

    #[test]
    fn file_then_environment_overrides() -> anyhow::Result<()> {
        let s = load(
            "kafka:\n  brokers: a:1\n  producer:\n    batch.num.messages: \"1\"\npipeline:\n  retry_backoff: [10ms, 20ms]\n",
            &[("ORAKGARAK__KAFKA__BROKERS", "b:2"), ("ORAKGARAK__STORAGE__PRESIGN_TTL", "2m"), ("OTHER", "x")],
        )?;
        assert_eq!(s.kafka.brokers, "b:2");
        assert_eq!(s.kafka.producer.get("batch.num.messages").map(String::as_str), Some("1"));
        assert_eq!(s.storage.presign_ttl, Duration::from_secs(120));
        assert_eq!(s.pipeline.retry_backoff, vec![Duration::from_millis(10), Duration::from_millis(20)]);
        assert_eq!(s.storage.max_upload_bytes, 100 * 1024 * 1024, "untouched keys keep defaults");
        Ok(())
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_rejected() {
        let err = load("kafka:\n  brokerz: a\n", &[]).expect_err("unknown key");
        assert!(format!("{err:#}").contains("brokerz"), "{err:#}");
        assert!(load("storage:\n  timeout: 10 parsecs\n", &[]).is_err());
        assert!(load("pipeline:\n  stages: [convert, dance]\n", &[]).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Settings::default();
        let printed = format!("{s:?}");
        assert!(!printed.contains("dev-only-jwt-secret"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }
}
