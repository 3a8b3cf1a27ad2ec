"""Writes a FLUX.1-layout AutoencoderKL with random weights (block_out_channels 128/256/512/512, 2 layers per
block, 16 latent channels, GroupNorm 32) and one random latent, for timing the Swift VAE decoder at FLUX.1's
channel counts (docs/benchmarks.md, "Winograd threshold"):

    python3 ops/bench/flux_vae.py OUT_DIR [--latent 32]
    ternflux debug vae-decode --vae OUT_DIR/vae --inputs OUT_DIR/latents.safetensors --output /tmp/decoded.safetensors
"""
import argparse
from pathlib import Path

import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--latent", type=int, default=32, help="latent side (image side / 8)")
    args = ap.parse_args()
    torch.manual_seed(0)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
                        up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=(128, 256, 512, 512),
                        layers_per_block=2, latent_channels=16, norm_num_groups=32, use_quant_conv=False,
                        use_post_quant_conv=False)
    vae.save_pretrained(args.out / "vae")
    save_file({"latents": torch.randn(1, 16, args.latent, args.latent)}, args.out / "latents.safetensors")
    print(f"wrote {args.out / 'vae'} and {args.out / 'latents.safetensors'}")


if __name__ == "__main__":
    main()
