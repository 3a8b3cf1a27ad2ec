#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and no Swift (the device tool's machine): builds the C
# harness ops/gpu/kernel_check.c with gcc against Sources/CCUDA and Sources/CTernaryKernels, runs it (every
# kernel against the CPU reference of its arithmetic and against the CPU int8 GEMM, bit for bit; the FLUX
# shapes timed), then times torch's bf16 matmul at the same shapes for the side-by-side. Writes under $OUT
# (default ./gpu-check): build.log, kernels.jsonl, torch.jsonl, nvidia-smi.txt. Fits in a few minutes.
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-check}"
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
bin="$out/kernel_check"
if ! gcc -O2 -std=gnu11 -ffp-contract=off -pthread -ISources/CCUDA/include -ISources/CTernaryKernels/include \
        ops/gpu/kernel_check.c Sources/CCUDA/*.c Sources/CTernaryKernels/*.c -o "$bin" -ldl -lm > "$out/build.log" 2>&1; then
    cat "$out/build.log"; exit 1
fi
status=0
timeout 300 "$bin" | tee "$out/kernels.jsonl" || status=1
python3 - > "$out/torch.jsonl" <<'PY' || true
import json, time, torch
for k, n in [(3072, 3072), (3072, 12288), (12288, 3072), (15360, 3072)]:
    a = torch.randn(4608, k, device="cuda", dtype=torch.bfloat16); b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3): a @ b
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(20): a @ b
    torch.cuda.synchronize(); s = (time.perf_counter() - t) / 20
    print(json.dumps({"M": 4608, "K": k, "N": n, "torch_bf16_seconds": s, "tflops": 2 * 4608 * k * n / s / 1e12}))
PY
cat "$out/torch.jsonl"
exit $status
