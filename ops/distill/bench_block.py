"""Time and memory of one stage-1 step of `ternflux distill` on one FLUX.1-dev-width block (hidden 3072, 24 heads
of 128, MLP ratio 4), on this machine's CPU: the block's ternary student (F32 latent weights, learnable per-row
scales, straight-through estimator, AdamW) on cached inputs against a precomputed teacher output, exactly the
step distill.stage1 takes (distill.TernaryLinear, distill.make_optimizer, distill.call_block).

    python3 ops/distill/bench_block.py --kind double --image-tokens 256 --text-tokens 64 --batch 1 --steps 3

Prints one JSON line: parameters, seconds per step (after one warm-up step), peak RSS, and the byte counts of
the step's state (teacher block in BF16, latent weights, grads, AdamW moments).
"""
import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import distill  # noqa: E402


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=("double", "single"), required=True)
    ap.add_argument("--dim", type=int, default=3072)
    ap.add_argument("--heads", type=int, default=24)
    ap.add_argument("--image-tokens", type=int, default=256)
    ap.add_argument("--text-tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from diffusers.models.transformers.transformer_flux import FluxPosEmbed, FluxSingleTransformerBlock, FluxTransformerBlock
    head = args.dim // args.heads
    rss0 = rss_mb()
    with torch.no_grad():
        if args.kind == "double":
            teacher = FluxTransformerBlock(dim=args.dim, num_attention_heads=args.heads, attention_head_dim=head)
        else:
            teacher = FluxSingleTransformerBlock(dim=args.dim, num_attention_heads=args.heads, attention_head_dim=head)
        teacher = teacher.to(torch.bfloat16).eval()
    params = sum(p.numel() for p in teacher.parameters())
    t0 = time.time()
    student = distill.copy.deepcopy(teacher).float()
    names = distill.ternarize_module(student)
    ternary = sum(m.weight.numel() for m in student.modules() if isinstance(m, distill.TernaryLinear))
    opt, sched = distill.make_optimizer(student, 1e-3, 1e-4, 1000, 20)
    setup_s = time.time() - t0
    b, ni, nt, d = args.batch, args.image_tokens, args.text_tokens, args.dim
    g = torch.Generator().manual_seed(0)
    h = torch.randn(b, ni, d, generator=g)
    e = torch.randn(b, nt, d, generator=g)
    temb = torch.randn(b, d, generator=g)
    axes = (16, 56, 56) if head == 128 else (head // 4, 3 * head // 8, 3 * head // 8)
    ids = torch.zeros(nt + ni, 3)
    side = int(ni ** 0.5)
    ids[nt:, 1] = torch.arange(ni) // side
    ids[nt:, 2] = torch.arange(ni) % side
    rot = FluxPosEmbed(theta=10000, axes_dim=list(axes))(ids)
    with torch.no_grad():
        te, th = distill.call_block(teacher, h.bfloat16(), e.bfloat16(), temb.bfloat16(), rot)
        th, te = th.float(), te.float()
    times = []
    for step in range(args.steps + 1):
        t = time.time()
        eo, ho = distill.call_block(student, h, e, temb, rot)
        loss = F.mse_loss(ho, th) + F.mse_loss(eo, te)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step(); sched.step()
        times.append(time.time() - t)
    state = {"teacher_bf16": params * 2, "latent_f32": params * 4, "grads_f32": params * 4, "adam_f32": params * 8}
    print(json.dumps({"kind": args.kind, "dim": d, "heads": args.heads, "params": params, "ternary_params": ternary,
                      "linears": len(names), "image_tokens": ni, "text_tokens": nt, "batch": b,
                      "threads": args.threads, "setup_s": round(setup_s, 2), "warmup_step_s": round(times[0], 2),
                      "step_s": round(sum(times[1:]) / max(1, len(times) - 1), 2), "steps": args.steps,
                      "peak_rss_mb": round(rss_mb()), "rss_before_mb": round(rss0),
                      "state_bytes": state, "state_gb": round(sum(state.values()) / 1e9, 2)}))


if __name__ == "__main__":
    main()
