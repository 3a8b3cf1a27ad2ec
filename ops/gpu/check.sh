#!/usr/bin/env bash
# The GPU check, prepared runs for a machine with an NVIDIA GPU and no Swift (the device tool's machine). First,
# here: bash ops/gpu/prepare.sh (the release bundle and the diffusers wheel). Then two device runs, because the
# working tree plus both carried items would pass the tool's 64 MiB:
#   run "bash ops/gpu/check.sh kernels torch pipeline"   carry [".build-gpu/bundle.tar.xz"]   (about 5 minutes)
#   run "bash ops/gpu/check.sh diffusers"                 carry [".whl"]                       (about 2 minutes)
# (no stage named: all four). Each stage has its own time limit and writes its own file under $OUT (default
# ./gpu-check; at most 8 files come back), so what ran comes back even when a later stage fails:
#   kernels.jsonl   every ops/gpu/*_check.c harness: both W2A8 GEMM kernels (tiled, simple) against the CPU int8 GEMM bit for bit (and against
#                   the reference of their arithmetic on the small shapes); GEMM device time at M = 4608,
#                   K,N ∈ {3072, 12288, 15360}
#   torch.jsonl     cuBLAS bf16 (PyTorch) at the same shapes
#   pipeline.jsonl  ternflux itself (the bundle): generate on models/default, CPU int8 against --device cuda, PNGs
#                   compared byte for byte (both in images.tar); one FLUX.1-dev-dimension step at 512², CPU
#                   against cuda, latents compared; the step at 1024² on cuda; bench generate on both; density
#   diffusers.json  diffusers' FluxTransformer2DModel bf16, same dimensions, one step at 1024², peak memory
#   summary.txt (which stages passed), machine.txt (nvidia-smi), log.txt (every command's stderr)
# Exit status 0 only when every comparison that ran matched.
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-check}"
mkdir -p "$out" && out=$(cd "$out" && pwd)  # absolute: stage 3 works in /tmp/tf
root=$PWD
summary="$out/summary.txt"
log="$out/log.txt"
: > "$summary"
: > "$log"
say() { echo "$*" | tee -a "$summary"; }
stages=" ${*:-kernels torch pipeline diffusers} "
wants() { [[ "$stages" == *" $1 "* ]]; }
failed=0
{ nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; uname -a; } > "$out/machine.txt" 2>&1

# 1. The kernels: every ops/gpu/*_check.c harness (one per kernel family), each printing JSON lines.
if wants kernels; then
    : > "$out/kernels.jsonl"
    for harness in ops/gpu/*_check.c; do
        name=$(basename "$harness" .c)
        if ! gcc -O2 -std=gnu11 -ffp-contract=off -pthread -ISources/CCUDA/include -ISources/CTernaryKernels/include \
                "$harness" Sources/CCUDA/*.c Sources/CTernaryKernels/*.c -o "/tmp/$name" -ldl -lm >> "$log" 2>&1; then
            say "1 $name: the harness did not build (log.txt)"; failed=1; continue
        fi
        if timeout 150 "/tmp/$name" >> "$out/kernels.jsonl" 2>> "$log"; then say "1 $name: every comparison matched"
        else say "1 $name: FAILED (exit $?; see kernels.jsonl)"; failed=1; fi
    done
fi

# 2. cuBLAS bf16 at the same shapes.
if wants torch; then
    timeout 60 python3 ops/gpu/torch_gemm.py > "$out/torch.jsonl" 2>> "$log" && say "2 torch bf16: done" || say "2 torch bf16: FAILED (log.txt)"
fi

# 3. ternflux on the GPU.
bundle=.build-gpu/bundle.tar.xz
if ! wants pipeline; then :
elif [[ -f "$bundle" ]]; then
    rm -rf /tmp/tf && mkdir -p /tmp/tf && tar -C /tmp/tf -xJf "$bundle"
    export LD_LIBRARY_PATH=/tmp/tf/bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    tf=/tmp/tf/bundle/bin/ternflux
    p="$out/pipeline.jsonl"
    : > "$p"
    run() { echo "+ $*" >> "$log"; timeout "${limit:-120}" "$@" 2>> "$log"; }
    if ! run "$tf" --version >> "$log"; then say "3 pipeline: the bundle does not run here (log.txt)"; failed=1
    else
        cd /tmp/tf
        run "$tf" generate "a red circle above a blue square" --model "$root/models/default" --seed 7 --device cpu --mode int8 --out cpu.png >> "$log" &&
            run "$tf" generate "a red circle above a blue square" --model "$root/models/default" --seed 7 --device cuda --out cuda.png >> "$log"
        if cmp -s cpu.png cuda.png; then say "3a generate (models/default): the cuda PNG is the CPU int8 PNG, byte for byte"
        else say "3a generate (models/default): FAILED: the PNGs differ or one is missing"; failed=1; fi
        tar -cf "$out/images.tar" cpu.png cuda.png 2>> "$log"
        limit=200 run "$tf" bench flux-step --mode int8 --device cpu --width 512 --height 512 --json --save-latents cpu.safetensors >> "$p" &&
            limit=120 run "$tf" bench flux-step --mode int8 --device cuda --width 512 --height 512 --json --save-latents cuda.safetensors >> "$p"
        if cmp -s cpu.safetensors cuda.safetensors; then say "3b flux-step 512² (FLUX.1-dev dims): cuda latents are the CPU int8 latents, bit for bit"
        else
            say "3b flux-step 512²: FAILED: latents differ or missing"; failed=1
            python3 -c "
import sys; from safetensors.numpy import load_file as l
a, b = l('cpu.safetensors')['latents_int8'], l('cuda.safetensors')['latents_int8']
print('max |cpu - cuda| =', abs(a - b).max(), ' max |cpu| =', abs(a).max())" >> "$summary" 2>&1
        fi
        limit=200 run "$tf" bench flux-step --mode int8 --device cuda --width 1024 --height 1024 --json >> "$p" && say "3c flux-step 1024² on cuda: done"
        limit=120 run "$tf" bench generate --model "$root/models/default" --device cuda --repeat 5 --json >> "$p" &&
            limit=120 run "$tf" bench generate --model "$root/models/default" --device cpu --repeat 5 --json >> "$p" && say "3d bench generate: done"
        limit=200 run "$tf" bench density --model "$root/models/default" --device cuda --replicas 1,2,4,8 --json >> "$p" && say "3e density on cuda: done"
        cd "$root"
    fi
else
    say "3 pipeline: skipped: no $bundle (run bash ops/gpu/prepare.sh and carry it)"
fi

# 4. diffusers bf16, the same dimensions.
if ! wants diffusers; then :
elif [[ -d .whl ]] && ls .whl/*.whl > /dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >> "$log" 2>&1
    PYTHONPATH=/tmp/site timeout 240 python3 ops/gpu/diffusers_step.py 1024 1024 > "$out/diffusers.json" 2>> "$log" &&
        say "4 diffusers bf16 step 1024²: done" || say "4 diffusers bf16 step: FAILED (log.txt)"
else
    say "4 diffusers: skipped: no .whl (run bash ops/gpu/prepare.sh and carry it)"
fi
exit $failed
