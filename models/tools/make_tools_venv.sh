#!/usr/bin/env bash
# Create Candor's tools environment (.venv-tools): mediapipe 0.10.21 with its bundled .tflite
# models, a TFLite interpreter (ai-edge-litert) and onnxruntime, on numpy<2.
#
# Usage: models/tools/make_tools_venv.sh [VENV_DIR]     (default: <repo>/.venv-tools)
# Environment: PYTHON or CANDOR_PYTHON (interpreter to build the venv from; default python3.11
# if present, else python3). Python 3.9-3.12: mediapipe 0.10.21 has wheels for those.
#
# Idempotent: a complete venv carries a marker with the hash of the requirement files and is
# re-checked with a real import; then nothing is installed. A partial venv is rebuilt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${1:-$repo/.venv-tools}"
marker="$venv/.candor-tools-complete"
req="$here/requirements.txt"
req_nodeps="$here/requirements-nodeps.txt"

python="${PYTHON:-${CANDOR_PYTHON:-}}"
if [[ -z "$python" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
fi

want="$(cat "$req" "$req_nodeps" | sha256sum | cut -d' ' -f1)"

check() {
    "$venv/bin/python" - <<'PY'
import numpy, mediapipe
from mediapipe import solutions  # legacy API, only in <= 0.10.21
from ai_edge_litert.interpreter import Interpreter
import onnxruntime
from pathlib import Path
root = Path(mediapipe.__file__).parent / "modules"
Interpreter(model_path=str(root / "face_detection" / "face_detection_short_range.tflite")).allocate_tensors()
assert numpy.__version__.startswith("1."), numpy.__version__
print(f"tools venv ok: mediapipe {mediapipe.__version__}, numpy {numpy.__version__}, "
      f"onnxruntime {onnxruntime.__version__}")
PY
}

if [[ -f "$marker" && "$(cat "$marker")" == "$want" ]] && check 2>/dev/null; then
    echo "make_tools_venv: $venv is complete, nothing to do"
    exit 0
fi

start=$SECONDS
if [[ -d "$venv" ]]; then
    if [[ -n "$(ls -A "$venv")" && ! -f "$venv/pyvenv.cfg" ]]; then
        echo "make_tools_venv: $venv exists and is not a venv; refusing to replace it" >&2
        exit 1
    fi
    echo "make_tools_venv: rebuilding incomplete or outdated $venv"
    rm -rf "$venv"
fi
echo "make_tools_venv: creating $venv with $("$python" --version 2>&1)"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$req_nodeps"
check
echo "$want" > "$marker"
echo "make_tools_venv: done in $((SECONDS - start)) s"
