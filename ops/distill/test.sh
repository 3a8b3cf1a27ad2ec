#!/usr/bin/env bash
# Torch tests of the distiller (ops/distill/tests). Needs python3 (the one on PATH) with
#   pip install torch diffusers transformers safetensors tqdm
# ~2-4 min on 2 CPU cores; not part of ops/test.sh (CI stays torch-free, docs/distillation.md "Tests").
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 ops/distill/tests/test_calibration.py
python3 ops/distill/tests/test_distill.py
