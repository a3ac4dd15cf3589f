//! Stage 1: any supported recording → mono 16-bit PCM WAV at one rate.

use std::time::Duration;

use super::storage_error;
use crate::audio::{self, AudioError};
use crate::domain::Stage;
use crate::pipeline::{StageError, StageHandler, StageOutput};
use crate::storage::ObjectStore;
use crate::store::Upload;
use crate::telemetry::Lane;

/// Below this peak a recording is silence or a muted microphone.
const SILENCE_DBFS: f64 = -50.0;

pub struct Converter {
    pub objects: ObjectStore,
    pub sample_rate: u32,
    pub min_duration: Duration,
}

/// Decodes, checks and resamples a recording; returns the WAV bytes.
pub fn convert_recording(
    bytes: Vec<u8>,
    extension: Option<&str>,
    sample_rate: u32,
    min_duration: Duration,
) -> Result<Vec<u8>, AudioError> {
    let decoded = audio::decode_to_mono(bytes, extension)?;
    if decoded.truncated || decoded.skipped_packets > 0 {
        tracing::info!(
            truncated = decoded.truncated,
            skipped_packets = decoded.skipped_packets,
            "Recording decoded up to a cut-off end or past damaged packets."
        );
    }
    let seconds = decoded.samples.len() as f64 / f64::from(decoded.sample_rate);
    if seconds < min_duration.as_secs_f64() {
        return Err(AudioError::TooShort { seconds, min_seconds: min_duration.as_secs_f64() });
    }
    let peak_dbfs = audio::peak_dbfs(&decoded.samples);
    if peak_dbfs < SILENCE_DBFS {
        return Err(AudioError::Silent { peak_dbfs });
    }
    let mono = audio::resample(&decoded.samples, decoded.sample_rate, sample_rate);
    Ok(audio::write_wav_mono(&mono, sample_rate))
}

/// The container hint: the file's extension, else one from its content type.
fn extension_of(upload: &Upload) -> Option<String> {
    let from_name = upload.filename.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase());
    from_name.or_else(|| crate::domain::media::extension_for_type(&upload.content_type).map(str::to_owned))
}

impl StageHandler for Converter {
    fn stage(&self) -> Stage {
        Stage::Convert
    }

    async fn handle(&self, upload: &Upload, _lane: Lane) -> Result<StageOutput, StageError> {
        let bytes = self.objects.get(&upload.object_key).await.map_err(storage_error)?;
        let extension = extension_of(upload);
        let (rate, min) = (self.sample_rate, self.min_duration);
        // The blocking thread logs inside the upload's span (traceId).
        let span = tracing::Span::current();
        let wav = tokio::task::spawn_blocking(move || {
            span.in_scope(|| convert_recording(bytes.to_vec(), extension.as_deref(), rate, min))
        })
        .await
        .map_err(|e| StageError::transient(format!("conversion task failed: {e}")))?
        .map_err(StageError::permanent)?;
        let key = format!("wav/{}.wav", upload.id);
        self.objects.put(&key, wav, "audio/wav").await.map_err(storage_error)?;
        Ok(StageOutput { wav_key: Some(key), ..StageOutput::default() })
    }
}
