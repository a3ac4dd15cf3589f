#!/usr/bin/env bash
# Installs what the voice benchmark's second evaluation source needs:
# FluidSynth and three General MIDI soundfonts whose choir and "oohs"
# programs are recordings of human voices (Debian packages). Idempotent.
#
#   scripts/sampled-voices.sh
#
# Prints one soundfont path per line, in the benchmark's order: the first
# is the one the analyser may be tuned on, the others are held out.
set -euo pipefail
packages=(fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "[sampled-voices] installing Debian packages: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for font in /usr/share/sounds/sf2/FluidR3_GM.sf2 /usr/share/sounds/sf2/TimGM6mb.sf2 \
  /usr/share/sounds/sf3/MuseScore_General.sf3; do
  [[ -f "$font" ]] || { echo "[sampled-voices] missing $font after install" >&2; exit 1; }
  echo "$font"
done
