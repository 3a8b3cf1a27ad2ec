"""diffusers' FluxTransformer2DModel in bf16 with FLUX.1-dev's dimensions and random weights: one denoising
step's forward at WIDTH×HEIGHT (default 1024², 4096 image tokens) with 512 text tokens, timed after a warm-up,
and the peak GPU memory. The bf16 side of `ternflux bench flux-step --device cuda` (docs/benchmarks.md, "GPU").
Usage: python3 diffusers_step.py [WIDTH HEIGHT]. Prints one JSON object."""
import json
import sys
import time

import torch
from diffusers import FluxTransformer2DModel

width, height = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) == 3 else (1024, 1024)
text_tokens = 512
torch.manual_seed(0)
t0 = time.perf_counter()
with torch.device("cuda"):
    model = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
                                   num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
                                   guidance_embeds=True, axes_dims_rope=(16, 56, 56)).to(torch.bfloat16).eval()
torch.cuda.synchronize()
build = time.perf_counter() - t0
weights = torch.cuda.memory_allocated()
torch.cuda.reset_peak_memory_stats()
h, w = height // 16, width // 16  # the VAE's 8× and the 2×2 packing
img_ids = torch.zeros(h, w, 3, device="cuda")
img_ids[..., 1] = torch.arange(h, device="cuda")[:, None]
img_ids[..., 2] = torch.arange(w, device="cuda")[None, :]
inputs = dict(hidden_states=torch.randn(1, h * w, 64, device="cuda", dtype=torch.bfloat16),
              encoder_hidden_states=torch.randn(1, text_tokens, 4096, device="cuda", dtype=torch.bfloat16),
              pooled_projections=torch.randn(1, 768, device="cuda", dtype=torch.bfloat16),
              timestep=torch.tensor([1.0], device="cuda", dtype=torch.bfloat16),
              guidance=torch.tensor([3.5], device="cuda", dtype=torch.bfloat16),
              img_ids=img_ids.reshape(-1, 3), txt_ids=torch.zeros(text_tokens, 3, device="cuda"), return_dict=False)
with torch.inference_mode():
    model(**inputs)
    torch.cuda.synchronize()
    steps = []
    for _ in range(3):
        t = time.perf_counter()
        model(**inputs)
        torch.cuda.synchronize()
        steps.append(time.perf_counter() - t)
print(json.dumps({"benchmark": "diffusers-flux-step-bf16", "width": width, "height": height, "image_tokens": h * w,
                  "t5_length": text_tokens, "build_seconds": build, "step_seconds": sorted(steps)[1], "steps_timed": steps,
                  "weight_bytes": weights, "peak_bytes": torch.cuda.max_memory_allocated(), "torch": torch.__version__}))
