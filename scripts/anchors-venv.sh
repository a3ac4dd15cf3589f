#!/usr/bin/env bash
# Creates the Python virtual environment the voice benchmark's anchors run
# in (Praat through praat-parselmouth, librosa's pYIN), with the versions
# pinned in scripts/anchors-requirements.txt. Idempotent: an environment
# whose requirements file has not changed is left as it is.
#
#   scripts/anchors-venv.sh [DIR]     (default: target/anchors-venv)
#
# Prints the environment's python on its last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$root/target/anchors-venv}"
requirements="$root/scripts/anchors-requirements.txt"
stamp="$venv/.requirements"
if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$requirements" "$stamp"; then
  echo "[anchors] installing $(wc -l < "$requirements") pinned packages into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$stamp"
fi
echo "$venv/bin/python"
