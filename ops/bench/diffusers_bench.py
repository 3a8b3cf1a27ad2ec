#!/usr/bin/env python3
"""The diffusers (PyTorch, CPU) side of the issue-8 comparisons. One measurement per process, so that the
peak RSS (getrusage ru_maxrss, which includes importing torch, as any user of diffusers pays it) belongs to
that configuration alone. Prints one JSON object.

  diffusers_bench.py pipeline --model models/teacher --dtype fp32 --steps 8 --size 128 --repeat 3
  diffusers_bench.py transformer --dtype bf16 --double 2 --single 4 --size 256 --t5-length 256
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_pipeline(args):
    from diffusers import FluxPipeline

    dtype = DTYPES[args.dtype]
    t0 = time.perf_counter()
    pipe = FluxPipeline.from_pretrained(args.model, torch_dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    load = time.perf_counter() - t0

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    cpu_seconds = []
    # The model's classifier-free guidance, as `ternflux bench generate` applies it (generation_defaults.json).
    defaults_file = os.path.join(args.model, "generation_defaults.json")
    defaults = json.load(open(defaults_file)) if os.path.exists(defaults_file) else {}
    cfg = {}
    if defaults.get("true_cfg_scale", 1) > 1 and "negative_prompt" in defaults:
        cfg = dict(true_cfg_scale=defaults["true_cfg_scale"], negative_prompt=defaults["negative_prompt"])

    def one():
        g = torch.Generator("cpu").manual_seed(args.seed)
        c0 = cpu()
        t = time.perf_counter()
        with torch.inference_mode():
            image = pipe(args.prompt, height=args.size, width=args.size, num_inference_steps=args.steps,
                         guidance_scale=3.5, max_sequence_length=args.max_sequence_length, generator=g,
                         output_type="pil", **cfg).images[0]
            # TernFlux's figure includes the PNG encoding; so does this one.
            import io
            image.save(io.BytesIO(), format="PNG")
        wall = time.perf_counter() - t
        cpu_seconds.append(cpu() - c0)
        return wall

    one()  # warm-up, as `ternflux bench generate` does
    cpu_seconds.clear()
    seconds = [one() for _ in range(args.repeat)]
    return {"benchmark": "diffusers-pipeline", "model": args.model, "dtype": args.dtype, "steps": args.steps,
            "width": args.size, "height": args.size, "prompt": args.prompt, "load_seconds": load,
            "true_cfg_scale": cfg.get("true_cfg_scale", 1),
            "seconds_per_image": seconds, "median_seconds_per_image": statistics.median(seconds),
            "cpu_seconds_per_image": cpu_seconds, "median_cpu_seconds_per_image": statistics.median(cpu_seconds),
            "peak_rss_bytes": peak_rss_bytes()}


def run_transformer(args):
    from diffusers import FluxTransformer2DModel

    dtype = DTYPES[args.dtype]
    config = dict(patch_size=1, in_channels=64, num_layers=args.double, num_single_layers=args.single,
                  attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                  pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56))
    t0 = time.perf_counter()
    # Built on the meta device and materialised directly in the target dtype: no fp32 copy of a bf16 model.
    with torch.device("meta"):
        model = FluxTransformer2DModel(**config)
    model = model.to(dtype).to_empty(device="cpu")
    gen = torch.Generator("cpu").manual_seed(args.seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32).mul_(p.shape[1] ** -0.5).to(dtype))
            elif "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()
    model.eval()
    build = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())

    s = (args.size // 16) ** 2
    t = args.t5_length
    g = torch.Generator("cpu").manual_seed(args.seed + 1)
    hidden = torch.randn(1, s, 64, generator=g).to(dtype)
    context = torch.randn(1, t, 4096, generator=g).to(dtype)
    pooled = torch.randn(1, 768, generator=g).to(dtype)
    side = args.size // 16
    img_ids = torch.zeros(side, side, 3)
    img_ids[..., 1] = torch.arange(side)[:, None]
    img_ids[..., 2] = torch.arange(side)[None, :]
    img_ids = img_ids.reshape(-1, 3)
    txt_ids = torch.zeros(t, 3)
    timestep = torch.tensor([1.0], dtype=dtype)
    guidance = torch.tensor([3.5], dtype=dtype)

    def step():
        start = time.perf_counter()
        with torch.inference_mode():
            out = model(hidden_states=hidden, encoder_hidden_states=context, pooled_projections=pooled,
                        timestep=timestep, guidance=guidance, img_ids=img_ids, txt_ids=txt_ids,
                        return_dict=False)[0]
        if not torch.isfinite(out.float()).all():
            raise SystemExit("diffusers_bench: non-finite transformer output")
        return time.perf_counter() - start

    seconds = [step() for _ in range(args.repeat)]
    return {"benchmark": "diffusers-transformer", "dtype": args.dtype, "double_blocks": args.double,
            "single_blocks": args.single, "width": args.size, "height": args.size, "t5_length": t,
            "image_tokens": s, "parameters": params, "build_seconds": build, "step_seconds": seconds,
            "median_step_seconds": statistics.median(seconds), "peak_rss_bytes": peak_rss_bytes()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads (default: all cores)")
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("pipeline")
    p.add_argument("--model", required=True)
    p.add_argument("--dtype", choices=DTYPES, required=True)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--prompt", default="a red circle to the left of a blue square")
    p.add_argument("--max-sequence-length", type=int, default=32)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("transformer")
    t.add_argument("--dtype", choices=DTYPES, required=True)
    t.add_argument("--double", type=int, default=2)
    t.add_argument("--single", type=int, default=4)
    t.add_argument("--size", type=int, default=256)
    t.add_argument("--t5-length", type=int, default=256)
    t.add_argument("--repeat", type=int, default=1)
    t.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.size if hasattr(args, "size") else 0:
        if args.size % 16:
            raise SystemExit(f"--size must be a multiple of 16, got {args.size}")
    torch.set_num_threads(args.threads)
    result = run_pipeline(args) if args.what == "pipeline" else run_transformer(args)
    result["threads"] = args.threads
    result["torch"] = torch.__version__
    result["load_average"] = list(os.getloadavg())
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
