"""Checkpoint size of a FLUX-architecture transformer: bf16 source vs the ternary i2 / t3 checkpoints that
`ternflux quantize` writes (docs/benchmarks.md, "Checkpoint size").

  python3 ops/checkpoint_size.py arithmetic [--double 19 --single 38]
      Exact tensor-data bytes from the real parameter shapes of diffusers' FluxTransformer2DModel with
      FLUX.1-dev's config (built on the meta device: no weights are allocated or downloaded). Headers are not
      included (they are ~100 KB per file, < 0.001% of the data).
  python3 ops/checkpoint_size.py make OUT --double N --single M
      Writes a bf16 diffusers transformer folder with FLUX.1-dev's full widths but N double / M single blocks
      (random weights) for measuring real files.

The byte rule mirrors Sources/TernaryTensors/CheckpointQuantizer.swift: a linear weight [N, K] inside
transformer_blocks.* / single_transformer_blocks.* becomes a U8 payload of N * rowBytes(K) plus an F32 scale
of 4 * N bytes (i2: rowBytes = ceil(K / 128) * 32; t3: ceil(K / 5)); every other tensor keeps 2 bytes/param.
"""
import argparse
import math
import re
import sys

import torch
from diffusers import FluxTransformer2DModel

FLUX1_DEV = dict(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
                 num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
                 guidance_embeds=True, axes_dims_rope=(16, 56, 56))

BLOCK_LINEARS = {
    "norm1.linear", "norm1_context.linear", "attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0",
    "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out", "ff.net.0.proj", "ff.net.2",
    "ff_context.net.0.proj", "ff_context.net.2", "norm.linear", "proj_mlp", "proj_out",
}
PATTERN = re.compile(r"^(transformer_blocks|single_transformer_blocks)\.\d+\.(.+)\.weight$")


def is_block_linear(name):
    m = PATTERN.match(name)
    return bool(m) and m.group(2) in BLOCK_LINEARS


def row_bytes(fmt, k):
    return math.ceil(k / 128) * 32 if fmt == "i2" else math.ceil(k / 5)


def shapes(double, single):
    with torch.device("meta"):
        model = FluxTransformer2DModel(**{**FLUX1_DEV, "num_layers": double, "num_single_layers": single})
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def arithmetic(double, single):
    sd = shapes(double, single)
    src = 0
    out = {"i2": 0, "t3": 0}
    ternary_params = other_params = 0
    for name, shape in sd.items():
        n = math.prod(shape)
        src += 2 * n
        if is_block_linear(name):
            assert len(shape) == 2, name
            ternary_params += n
            for fmt in out:
                out[fmt] += shape[0] * row_bytes(fmt, shape[1]) + 4 * shape[0]
        else:
            other_params += n
            for fmt in out:
                out[fmt] += 2 * n
    total = ternary_params + other_params
    print(f"FLUX.1-dev widths, {double} double + {single} single blocks: {total:,} parameters, "
          f"{ternary_params:,} ({100 * ternary_params / total:.2f}%) in block linears")
    print(f"  bf16 source     {src:>15,} bytes  ({src / 1e9:.3f} GB)")
    for fmt, b in out.items():
        print(f"  {fmt} checkpoint   {b:>15,} bytes  ({b / 1e9:.3f} GB)  {src / b:.3f}x smaller")


def make(out, double, single):
    torch.manual_seed(0)
    model = FluxTransformer2DModel(**{**FLUX1_DEV, "num_layers": double, "num_single_layers": single})
    model = model.to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True, max_shard_size="100GB")
    print(f"wrote {out}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("arithmetic")
    a.add_argument("--double", type=int, default=19)
    a.add_argument("--single", type=int, default=38)
    m = sub.add_parser("make")
    m.add_argument("out")
    m.add_argument("--double", type=int, required=True)
    m.add_argument("--single", type=int, required=True)
    args = p.parse_args()
    if args.cmd == "arithmetic":
        arithmetic(args.double, args.single)
    else:
        make(args.out, args.double, args.single)


if __name__ == "__main__":
    sys.exit(main())
