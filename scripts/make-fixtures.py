#!/usr/bin/env python3
"""Synthesises the test and demo recordings and encodes them with ffmpeg.

The recordings are a voice-like tone (harmonics with a formant-ish rolloff,
5.5 Hz vibrato, breath noise, attack/release) singing known notes, so tests
can check the analyser's answer. Outputs are committed; rerun this only to
change them (needs Debian's ffmpeg).
"""
import math, random, struct, subprocess, wave, os, sys

RATE = 44100
NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

def midi(name):
    base = NAMES[name[0]]
    rest = name[1:]
    if rest.startswith("#"):
        base, rest = base + 1, rest[1:]
    return (int(rest) + 1) * 12 + base

def sing(notes, note_seconds=0.45, gap=0.06, seed=7):
    rnd = random.Random(seed)
    out = [0.0] * int(RATE * 0.3)
    for name in notes:
        f0 = 440.0 * 2 ** ((midi(name) - 69) / 12)
        n = int(RATE * note_seconds)
        phase = 0.0
        for i in range(n):
            t = i / RATE
            cents = 30 * math.sin(2 * math.pi * 5.5 * t) if t > 0.12 else 0
            f = f0 * 2 ** (cents / 1200)
            phase += 2 * math.pi * f / RATE
            env = min(1.0, t / 0.04, (note_seconds - t) / 0.05)
            s = sum(math.sin(h * phase) / (h ** 1.2) for h in range(1, 9))
            out.append(0.25 * env * s + 0.004 * rnd.uniform(-1, 1))
        out.extend(0.004 * rnd.uniform(-1, 1) for _ in range(int(RATE * gap)))
    out.extend([0.0] * int(RATE * 0.3))
    return out

def write_stereo(path, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        frames = bytearray()
        for s in samples:
            v = int(max(-1.0, min(1.0, s)) * 32767)
            frames += struct.pack("<hh", v, int(v * 0.8))
        w.writeframes(bytes(frames))

def encode(src, dst, *args):
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", src, *args, dst], check=True)

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
fx = os.path.join(root, "tests", "fixtures")
# A major scale up and down: comfortable range A3–E4.
scale = "A3 B3 C#4 D4 E4 D4 C#4 B3 A3 C#4 E4 C#4 A3".split()
wav = os.path.join(fx, "sung-a3-e4.wav")
write_stereo(wav, sing(scale))
encode(wav, os.path.join(fx, "sung-a3-e4.mp3"), "-c:a", "libmp3lame", "-b:a", "96k")
encode(wav, os.path.join(fx, "sung-a3-e4.m4a"), "-c:a", "aac", "-b:a", "96k")
encode(wav, os.path.join(fx, "sung-a3-e4.ogg"), "-c:a", "libvorbis", "-q:a", "3")
encode(wav, os.path.join(fx, "sung-a3-e4.flac"), "-c:a", "flac")
encode(wav, os.path.join(fx, "sung-a3-e4.opus"), "-c:a", "libopus", "-b:a", "64k")
encode(wav, os.path.join(fx, "sung-a3-e4.webm"), "-c:a", "libopus", "-b:a", "64k")
# The WAV stays 44.1 kHz stereo so conversion must downmix and resample.
# Browser MediaRecorder output is live webm (unknown sizes, no cues) and
# ends wherever recording stopped, often inside a cluster.
live = os.path.join(fx, "live.webm")
encode(wav, live, "-c:a", "libopus", "-b:a", "64k", "-f", "webm", "-live", "1", "-cluster_time_limit", "1000")
webm = open(live, "rb").read()
os.remove(live)
open(os.path.join(fx, "streamed-truncated.webm"), "wb").write(webm[: len(webm) - 977])
random.seed(3)
open(os.path.join(fx, "corrupt.mp3"), "wb").write(bytes(random.getrandbits(8) for _ in range(20000)))
# Demo: a tune from C4 to C5.
demo = "C4 D4 E4 G4 A4 G4 E4 D4 C4 E4 G4 C5 A4 G4 E4 D4 C4".split()
tmp = os.path.join(root, "demo", "demo.wav")
write_stereo(tmp, sing(demo, seed=11))
encode(tmp, os.path.join(root, "demo", "demo-singer.ogg"), "-c:a", "libvorbis", "-q:a", "3")
os.remove(tmp)
print("fixtures written")
