"""cuBLAS bf16 through PyTorch at the W2A8 check's shapes (M = 4608 tokens of a 1024² FLUX image with 512 text
tokens): the side of the GEMM benchmark that ops/gpu/kernel_check.c's ternary figures are compared with.
Prints one JSON object per shape; the timing is CUDA events over 20 back-to-back products after 3 warm-ups."""
import json

import torch

M = 4608
for k, n in [(3072, 3072), (3072, 12288), (12288, 3072), (15360, 3072), (3072, 15360)]:
    a = torch.randn(M, k, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)  # [N, K] as a linear's weight, used transposed
    for _ in range(3):
        a @ b.t()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(20):
        a @ b.t()
    end.record()
    torch.cuda.synchronize()
    s = start.elapsed_time(end) / 1000 / 20
    print(json.dumps({"M": M, "K": k, "N": n, "torch_bf16_seconds": s, "tflops": 2 * M * k * n / s / 1e12}), flush=True)
