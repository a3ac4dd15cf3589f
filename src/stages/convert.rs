//! Stage 1: any supported recording → mono 16-bit PCM WAV at one rate.

use std::time::Duration;

use super::storage_error;
use crate::audio::{self, AudioError};
use crate::domain::Stage;
use crate::pipeline::{ConvertedAudio, Recording, StageContext, StageError, StageHandler};
use crate::storage::ObjectStore;

/// Below this peak a recording is silence or a muted microphone.
const SILENCE_DBFS: f64 = -50.0;

/// What a converted recording must satisfy, and its output rate.
#[derive(Debug, Clone, Copy)]
pub struct ConvertSettings {
    pub sample_rate: u32,
    pub min_duration: Duration,
    pub max_duration: Duration,
}

impl From<&crate::config::AnalysisSettings> for ConvertSettings {
    fn from(analysis: &crate::config::AnalysisSettings) -> Self {
        Self {
            sample_rate: analysis.sample_rate,
            min_duration: analysis.min_duration,
            max_duration: analysis.max_duration,
        }
    }
}

pub struct Converter {
    pub objects: ObjectStore,
    pub settings: ConvertSettings,
}

/// Decodes, checks and resamples a recording; returns the WAV bytes.
pub fn convert_recording(
    bytes: Vec<u8>,
    extension: Option<&str>,
    settings: &ConvertSettings,
) -> Result<Vec<u8>, AudioError> {
    let decoded = audio::decode_to_mono(bytes, extension, settings.max_duration)?;
    if decoded.truncated || decoded.skipped_packets > 0 {
        tracing::info!(
            truncated = decoded.truncated,
            skipped_packets = decoded.skipped_packets,
            "Recording decoded up to a cut-off end or past damaged packets."
        );
    }
    let seconds = decoded.samples.len() as f64 / f64::from(decoded.sample_rate);
    if seconds < settings.min_duration.as_secs_f64() {
        return Err(AudioError::TooShort { seconds, min_seconds: settings.min_duration.as_secs_f64() });
    }
    let peak_dbfs = audio::peak_dbfs(&decoded.samples);
    if peak_dbfs < SILENCE_DBFS {
        return Err(AudioError::Silent { peak_dbfs });
    }
    let mono = audio::resample(&decoded.samples, decoded.sample_rate, settings.sample_rate);
    Ok(audio::write_wav_mono(&mono, settings.sample_rate))
}

impl StageHandler for Converter {
    const STAGE: Stage = Stage::Convert;
    type Input = Recording;
    type Output = ConvertedAudio;

    async fn handle(&self, input: Recording, context: &StageContext<'_>) -> Result<ConvertedAudio, StageError> {
        let bytes = self.objects.get(&input.object_key).await.map_err(storage_error)?;
        let settings = self.settings;
        // The blocking thread logs inside the upload's span (traceId).
        let span = tracing::Span::current();
        let wav = tokio::task::spawn_blocking(move || {
            span.in_scope(|| convert_recording(bytes.to_vec(), input.extension.as_deref(), &settings))
        })
        .await
        .map_err(|e| StageError::from_join("conversion", e))?
        .map_err(StageError::permanent)?;
        let wav_key = crate::storage::wav_key(context.upload.id);
        self.objects.put(&wav_key, wav, "audio/wav").await.map_err(storage_error)?;
        Ok(ConvertedAudio { wav_key })
    }
}
