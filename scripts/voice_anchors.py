"""Pitch tracks of the anchors the voice benchmark compares against.

    python voice_anchors.py FILE.wav...

For every file, prints one JSON line: the file, then for Praat's
autocorrelation tracker (praat-parselmouth) and librosa's pYIN the frame
times, f0 per frame (0 = unvoiced) and the seconds the tracker took on the
decoded samples (file reading excluded, one thread). Both search 65–1100 Hz
every 10 ms, the range and hop orakgarak's tracker uses; everything else is
each tool's default. Run by `cargo bench --bench voice` in the environment
scripts/anchors-venv.sh makes.
"""
import json
import os
import sys
import time

# One core, as the benchmark measures ours.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import parselmouth  # noqa: E402

FMIN, FMAX, HOP = 65.0, 1100.0, 0.010
PYIN_RATE = 22050


def praat(path):
    sound = parselmouth.Sound(path)
    started = time.perf_counter()
    pitch = sound.to_pitch_ac(time_step=HOP, pitch_floor=FMIN, pitch_ceiling=FMAX)
    seconds = time.perf_counter() - started
    f0 = pitch.selected_array["frequency"]
    return {"times": list(map(float, pitch.xs())), "f0": list(map(float, f0)), "seconds": seconds}


def pyin(path):
    y, sr = librosa.load(path, sr=PYIN_RATE, mono=True)
    hop = int(round(HOP * sr))
    started = time.perf_counter()
    f0, voiced, _ = librosa.pyin(y, fmin=FMIN, fmax=FMAX, sr=sr, hop_length=hop)
    seconds = time.perf_counter() - started
    f0 = np.where(voiced, np.nan_to_num(f0), 0.0)
    times = librosa.times_like(f0, sr=sr, hop_length=hop)
    return {"times": list(map(float, times)), "f0": list(map(float, f0)), "seconds": seconds}


def main(paths):
    # The first pYIN call compiles its Viterbi (numba): not part of any take's time.
    librosa.pyin(np.zeros(PYIN_RATE, dtype=np.float32), fmin=FMIN, fmax=FMAX, sr=PYIN_RATE)
    for path in paths:
        line = {"file": path, "praat": praat(path), "pyin": pyin(path)}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
