#!/usr/bin/env bash
# The whole recipe of the shipped models, with the exact settings of models/teacher and models/default
# (docs/model-card.md): tokenizers + text encoders, VAE, latents, FLUX teacher, naive ternary baseline, image-free
# ternary distillation, conversion with `ternflux quantize`, Python-scorer tables. CPU only, 2 threads.
#
#   bash ops/model/make_model.sh [WORK] [OUT]     # defaults: /tmp/model-work, models
#
# Needs: python3 with torch, diffusers, transformers, tokenizers, sentencepiece, protobuf, safetensors, scipy,
# Pillow (pip); a release `ternflux` (built here if missing). Stages whose output exists in WORK are skipped,
# so a killed run resumes; every stage is seeded and stops at its step count (the minute budgets are only a
# safety net), so a rerun is the same computation. Each stage's wall time is in WORK/log_*.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${1:-/tmp/model-work}"
out="${2:-models}"
mkdir -p "$work"
# OpenMP threads spin between the many small ops instead of sleeping in futex calls: on a quiet 2-core machine
# that took a teacher step from 587 to 395 ms. (On a machine shared with other work, PASSIVE is the better choice.)
export OMP_WAIT_POLICY=ACTIVE
start=$(date +%s)
python3 ops/model/train_all.py --work "$work" --threads 2 \
    --vae-steps 3000 --vae-batch 16 --vae-minutes 20 \
    --vae-full-steps 1500 --vae-full-batch 8 --vae-full-minutes 18 \
    --scenes 24576 \
    --width 96 --double 2 --single 4 \
    --teacher-steps 12000 --teacher-stop-at 10000 --teacher-batch 64 --teacher-lr 1e-3 --teacher-ema 0.999 --teacher-minutes 100 \
    --eval-every 2000 \
    --cfg-steps 3000 --cfg-batch 64 --cfg-lr 3e-4 --cfg-dropout 0.1 --cfg-minutes 40 --cfg-eval-every 1000 2>&1 | grep --line-buffered -v '^\[transformers\]' | tee -a "$work/log_train.txt"
if [[ ! -x .build/release/ternflux ]]; then
    swift build -c release --product ternflux
fi
python3 ops/model/finish.py --work "$work" --out "$out" --threads 2 --ternflux .build/release/ternflux \
    --calibration-prompts 1024 --distill-steps 4000 --distill-batch 64 --distill-lr 1e-3 --distill-minutes 50 --distill-full-precision \
    --eval-per-category 20 2>&1 | grep --line-buffered -v '^\[transformers\]' | tee -a "$work/log_finish.txt"
echo "recipe done in $(( ($(date +%s) - start) / 60 )) min (models in $out)"
