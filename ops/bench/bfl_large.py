#!/usr/bin/env python3
"""A large BFL-layout FLUX.1-dev transformer file for measuring `ternflux convert`'s memory (docs/formats.md,
"Converting single files"): FLUX.1's widths (inner 3072, 24 heads of 128, in 64, T5 4096, CLIP 768) with
--double N / --single M blocks (19 / 38 is the real 23.8 GB file), BF16. Streamed to disk tensor by tensor from
one 64 MiB block of random bf16 values (finite, |x| < 2), so neither this script nor the file's content needs
memory beyond that block. numpy only.

    python3 ops/bench/bfl_large.py OUT.safetensors --double 4 --single 8
"""
import argparse
import json

import numpy as np

D, HEAD, IN, JOINT, POOLED, MLP = 3072, 128, 64, 4096, 768, 4 * 3072


def tensors(double, single):
    """(name, shape) in the order BFL's safetensors files list them (sorted by name)."""
    t = {}

    def linear(name, n_in, n_out):
        t[f"{name}.weight"] = [n_out, n_in]
        t[f"{name}.bias"] = [n_out]

    linear("img_in", IN, D)
    for e, n_in in (("time_in", 256), ("guidance_in", 256), ("vector_in", POOLED)):
        linear(f"{e}.in_layer", n_in, D)
        linear(f"{e}.out_layer", D, D)
    linear("txt_in", JOINT, D)
    for i in range(double):
        for s in ("img", "txt"):
            b = f"double_blocks.{i}.{s}"
            linear(f"{b}_mod.lin", D, 6 * D)
            linear(f"{b}_attn.qkv", D, 3 * D)
            t[f"{b}_attn.norm.query_norm.scale"] = [HEAD]
            t[f"{b}_attn.norm.key_norm.scale"] = [HEAD]
            linear(f"{b}_attn.proj", D, D)
            linear(f"{b}_mlp.0", D, MLP)
            linear(f"{b}_mlp.2", MLP, D)
    for i in range(single):
        b = f"single_blocks.{i}"
        linear(f"{b}.linear1", D, 3 * D + MLP)
        linear(f"{b}.linear2", D + MLP, D)
        t[f"{b}.norm.query_norm.scale"] = [HEAD]
        t[f"{b}.norm.key_norm.scale"] = [HEAD]
        linear(f"{b}.modulation.lin", D, 3 * D)
    linear("final_layer.linear", D, IN)
    linear("final_layer.adaLN_modulation.1", D, 2 * D)
    return sorted(t.items())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--double", type=int, default=4)
    p.add_argument("--single", type=int, default=8)
    args = p.parse_args()
    items = tensors(args.double, args.single)
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in items:
        size = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    block = (np.random.default_rng(0).standard_normal(32 << 20, dtype=np.float32) * 0.02).view(np.uint32)
    block = (block >> 16).astype(np.uint16).tobytes()   # bf16 = the top half of an fp32
    with open(args.out, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        left = offset
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
    print(f"{args.out}: {len(items)} tensors, {8 + len(text) + offset} bytes")


if __name__ == "__main__":
    main()
