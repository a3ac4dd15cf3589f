//! Stage 2: the singer's range and timbre from the converted WAV. The
//! analysis resource (a GPU in production) is guarded by a semaphore.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::storage_error;
use crate::audio::{self, AudioError, PitchFrame, PitchSettings, SungRange, Timbre};
use crate::domain::Stage;
use crate::pipeline::{ConvertedAudio, JsonOutput, StageContext, StageError, StageHandler};
use crate::storage::ObjectStore;
use crate::telemetry::events::{
    AnalysisPermitAcquired, AnalysisPermitReleased, AnalysisPermitsConfigured, ExternalCallTimedOut,
};
use crate::telemetry::labels::Dependency;
use crate::telemetry::{Emit, Lane, Metrics};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VoiceProfile {
    pub range: SungRange,
    /// "A3–E4", for people reading the API response.
    pub range_names: String,
    pub timbre: Timbre,
    /// `builtin` or the model server's name for itself.
    pub analyzer: String,
}

impl JsonOutput for VoiceProfile {
    const COLUMN: crate::store::JsonColumn = crate::store::JsonColumn::Analysis;
}

/// Runs the built-in analyzer over WAV bytes (CPU-bound: call it off the
/// async runtime).
pub fn analyze_wav(bytes: &[u8]) -> Result<VoiceProfile, AudioError> {
    let (samples, rate) = audio::read_wav_mono(bytes)?;
    analyze_samples(&samples, rate).1
}

/// The pitch track of mono samples and the voice profile it gives; the
/// track is returned even when it holds too little singing for a profile.
pub fn analyze_samples(samples: &[f32], rate: u32) -> (Vec<PitchFrame>, Result<VoiceProfile, AudioError>) {
    let settings = PitchSettings::default();
    let frames = audio::track_pitch(samples, rate, &settings);
    let profile =
        audio::sung_range(&frames, settings.hop_seconds).map_err(AudioError::NoVoice).map(|range| VoiceProfile {
            range_names: format!("{}–{}", range.lowest, range.highest),
            range,
            timbre: audio::timbre(samples, rate, &frames),
            analyzer: "builtin".into(),
        });
    (frames, profile)
}

/// At most `permits` analyses at once (the GPU guard). Bulk work (re-drives, replays)
/// may hold at most one of them, so a bulk burst leaves room for fresh
/// uploads.
#[derive(Clone)]
pub struct AnalysisPermits {
    all: Arc<Semaphore>,
    bulk: Arc<Semaphore>,
    metrics: Metrics,
}

pub struct AnalysisPermit {
    _main: OwnedSemaphorePermit,
    _bulk: Option<OwnedSemaphorePermit>,
    metrics: Metrics,
}

impl Drop for AnalysisPermit {
    fn drop(&mut self) {
        AnalysisPermitReleased.emit(&self.metrics);
    }
}

impl AnalysisPermits {
    pub fn new(permits: usize, metrics: Metrics) -> Self {
        AnalysisPermitsConfigured { permits }.emit(&metrics);
        Self { all: Arc::new(Semaphore::new(permits.max(1))), bulk: Arc::new(Semaphore::new(1)), metrics }
    }

    pub async fn acquire(&self, lane: Lane) -> AnalysisPermit {
        let started = Instant::now();
        // The semaphores are never closed, so acquire cannot fail.
        let bulk = match lane {
            Lane::Bulk => self.bulk.clone().acquire_owned().await.ok(),
            Lane::Realtime => None,
        };
        let main = loop {
            if let Ok(permit) = self.all.clone().acquire_owned().await {
                break permit;
            }
        };
        AnalysisPermitAcquired { waited: started.elapsed() }.emit(&self.metrics);
        AnalysisPermit { _main: main, _bulk: bulk, metrics: self.metrics.clone() }
    }
}

/// An external model server that replaces the built-in analyzer: it gets
/// the WAV as the request body and answers with a `VoiceProfile`.
#[derive(Clone)]
pub struct ModelServer {
    pub url: String,
    pub timeout: Duration,
    pub client: reqwest::Client,
}

pub struct Analyzer {
    pub objects: ObjectStore,
    pub permits: AnalysisPermits,
    pub model: Option<ModelServer>,
    pub metrics: Metrics,
}

impl Analyzer {
    async fn call_model(&self, model: &ModelServer, wav: Vec<u8>) -> Result<VoiceProfile, StageError> {
        let request = model.client.post(&model.url).header("content-type", "audio/wav").body(wav).send();
        let exchange = async {
            let response = request.await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        };
        let (status, body) = match tokio::time::timeout(model.timeout, exchange).await {
            Err(_) => {
                ExternalCallTimedOut { dependency: Dependency::ModelServer, limit: model.timeout }.emit(&self.metrics);
                return Err(StageError::transient(format!("model server did not answer within {:?}", model.timeout)));
            }
            Ok(Err(e)) => return Err(StageError::transient(format!("model server unreachable: {e}"))),
            Ok(Ok(answer)) => answer,
        };
        match status.as_u16() {
            200 => serde_json::from_slice(&body)
                .map_err(|e| StageError::permanent(format!("model server answered an invalid profile: {e}"))),
            422 => Err(StageError::permanent(format!(
                "model server refused the recording: {}",
                String::from_utf8_lossy(&body)
            ))),
            code => Err(StageError::transient(format!("model server answered HTTP {code}"))),
        }
    }
}

impl StageHandler for Analyzer {
    const STAGE: Stage = Stage::Analyze;
    type Input = ConvertedAudio;
    type Output = VoiceProfile;

    async fn handle(&self, input: ConvertedAudio, context: &StageContext<'_>) -> Result<VoiceProfile, StageError> {
        let wav = self.objects.get(&input.wav_key).await.map_err(storage_error)?;
        let _permit = self.permits.acquire(context.lane).await;
        match &self.model {
            Some(model) => self.call_model(model, wav.to_vec()).await,
            None => tokio::task::spawn_blocking(move || analyze_wav(&wav))
                .await
                .map_err(|e| StageError::from_join("analysis", e))?
                .map_err(StageError::permanent),
        }
    }
}
