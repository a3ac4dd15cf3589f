//! 16-bit PCM mono WAV, the converted format every later stage reads.

use std::io::Cursor;

use super::AudioError;

pub fn write_wav_mono(samples: &[f32], sample_rate: u32) -> Vec<u8> {
    let spec =
        hound::WavSpec { channels: 1, sample_rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut out = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    // Writing to memory cannot fail for I/O reasons; hound only errors on
    // invalid specs, which this fixed spec is not.
    if let Ok(mut writer) = hound::WavWriter::new(&mut out, spec) {
        for s in samples {
            let _ = writer.write_sample((s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16);
        }
        let _ = writer.finalize();
    }
    out.into_inner()
}

pub fn read_wav_mono(bytes: &[u8]) -> Result<(Vec<f32>, u32), AudioError> {
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| AudioError::Corrupt(e.to_string()))?;
    let spec = reader.spec();
    if spec.channels != 1 || spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
        return Err(AudioError::Unsupported(format!("expected 16-bit mono PCM WAV, got {spec:?}")));
    }
    let samples = reader
        .into_samples::<i16>()
        .map(|s| s.map(|v| f32::from(v) / f32::from(i16::MAX)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AudioError::Corrupt(e.to_string()))?;
    Ok((samples, spec.sample_rate))
}
