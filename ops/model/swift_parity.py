"""Numerical parity of the Swift engine with diffusers/transformers on the shipped model folders.

For models/teacher and models/default: the text encoders (`ternflux debug encode-text` against
FluxPipeline.encode_prompt), the VAE decoder (`ternflux debug vae-decode` against AutoencoderKL.decode on two
encoded ground-truth scenes) and the transformer (`ternflux debug flux-forward` against FluxTransformer2DModel on
seeded inputs; for the ternary folder the diffusers reference holds gamma * W_q read back from the i2 file).
Prints the largest absolute difference and the largest reference magnitude of each; exits non-zero above the
tolerances.

    python3 ops/model/swift_parity.py --ternflux .build/release/ternflux [--models models]
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export      # noqa: E402
import scenes      # noqa: E402
import text_stage  # noqa: E402

PROMPTS = ["three yellow squares", "a red circle to the left of a blue square"]
TOLERANCE = {"text": 1e-4, "vae": 1e-3, "transformer": 1e-3}   # absolute, on outputs of magnitude ~1-5


def run(cmd):
    p = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"swift_parity: {' '.join(map(str, cmd))} failed ({p.returncode}): {p.stderr.strip()}")


def report(name, swift, ref, kind, failures):
    diff = (swift - ref).abs().max().item()
    print(f"{name}: max |swift - reference| {diff:.2e} (max |reference| {ref.abs().max().item():.2f})", flush=True)
    if not diff <= TOLERANCE[kind]:
        failures.append(f"{name}: {diff:.2e} > {TOLERANCE[kind]}")


@torch.no_grad()
def check_folder(folder, binary, tmp, failures):
    from diffusers import AutoencoderKL, FluxPipeline, FluxTransformer2DModel
    with safe_open(str(folder / "transformer" / "diffusion_pytorch_model.safetensors"), "pt") as f:
        ternary = "ternflux.packing" in (f.metadata() or {})
    transformer = (export.load_ternary_transformer(folder / "transformer") if ternary
                   else FluxTransformer2DModel.from_pretrained(folder / "transformer", torch_dtype=torch.float32).eval())
    pipe = FluxPipeline.from_pretrained(folder, transformer=transformer, torch_dtype=torch.float32)
    for prompt in PROMPTS:
        embeds, pooled, _ = pipe.encode_prompt(prompt=prompt, prompt_2=None,
                                               max_sequence_length=text_stage.T5_MAX_SEQUENCE_LENGTH)
        out = tmp / "text.safetensors"
        run([binary, "debug", "encode-text", "--model", folder, "--prompt", prompt, "--output", out,
             "--max-sequence-length", text_stage.T5_MAX_SEQUENCE_LENGTH])
        got = load_file(out)
        report(f"{folder.name} text '{prompt}' prompt_embeds", got["prompt_embeds"], embeds, "text", failures)
        report(f"{folder.name} text '{prompt}' pooled", got["pooled_prompt_embeds"], pooled, "text", failures)

    vae = AutoencoderKL.from_pretrained(folder / "vae").eval()
    images = np.stack([scenes.scene_for_index(99, i).render() for i in range(2)]).astype(np.float32) / 127.5 - 1
    latents = vae.encode(torch.from_numpy(images).permute(0, 3, 1, 2)).latent_dist.mean
    save_file({"latents": latents.contiguous()}, tmp / "latents.safetensors")
    run([binary, "debug", "vae-decode", "--vae", folder / "vae", "--inputs", tmp / "latents.safetensors",
         "--output", tmp / "decoded.safetensors"])
    report(f"{folder.name} vae decode", load_file(tmp / "decoded.safetensors")["sample"], vae.decode(latents).sample,
           "vae", failures)

    cfg = transformer.config
    g = torch.Generator().manual_seed(7)
    seq, txt = 64, text_stage.T5_MAX_SEQUENCE_LENGTH
    inputs = {"hidden_states": torch.randn(1, seq, cfg.in_channels, generator=g),
              "encoder_hidden_states": torch.randn(1, txt, cfg.joint_attention_dim, generator=g),
              "pooled_projections": torch.randn(1, cfg.pooled_projection_dim, generator=g),
              "timestep": torch.tensor([0.6]),
              "img_ids": FluxPipeline._prepare_latent_image_ids(1, 8, 8, "cpu", torch.float32),
              "txt_ids": torch.zeros(txt, 3)}
    save_file(inputs, tmp / "inputs.safetensors")
    run([binary, "debug", "flux-forward", "--transformer", folder / "transformer", "--inputs",
         tmp / "inputs.safetensors", "--output", tmp / "sample.safetensors", "--mode", "f32"])
    ref = transformer(hidden_states=inputs["hidden_states"], encoder_hidden_states=inputs["encoder_hidden_states"],
                      pooled_projections=inputs["pooled_projections"], timestep=inputs["timestep"],
                      img_ids=inputs["img_ids"], txt_ids=inputs["txt_ids"], return_dict=False)[0]
    report(f"{folder.name} transformer forward ({'ternary i2' if ternary else 'bf16 weights'}, f32 mode)",
           load_file(tmp / "sample.safetensors")["sample"], ref, "transformer", failures)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ternflux", required=True, help="a built ternflux binary")
    ap.add_argument("--models", type=Path, default=Path(__file__).resolve().parents[2] / "models")
    args = ap.parse_args()
    torch.set_num_threads(2)
    failures = []
    with tempfile.TemporaryDirectory() as d:
        for name in ["teacher", "default"]:
            check_folder(args.models / name, Path(args.ternflux).resolve(), Path(d), failures)
    if failures:
        raise SystemExit("swift_parity: above tolerance: " + "; ".join(failures))
    print("swift_parity: all within tolerance")


if __name__ == "__main__":
    main()
