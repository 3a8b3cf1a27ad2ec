"""Writing the shipped folders: the teacher pipeline (transformer in BF16) and the ternary default model whose
transformer is stored in the tensor core's i2 format (docs/formats.md, Sources/CTernaryKernels/include/
ternary_formats.h):

  <prefix>.weight        U8  [N, ceil(K/128)*32]   2 bits per weight, code = w + 1; per row, blocks of 128
                                                   weights in 32 bytes, byte j of block b holding weight
                                                   k = 128*b + j + 32*s at bits [2s, 2s+2), s = 0..3; padding w=0
  <prefix>.weight_scale  F32 [N]                   gamma_n
  __metadata__: ternflux.packing = i2, ternflux.format_version = 1, ternflux.shape.<prefix>.weight = "N,K"

Every other tensor is stored in BF16 (the dtype the teacher ships in), as `ternflux quantize` leaves non-linear
tensors in their source dtype.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

I2_BLOCK = 128


def pack_i2(q):
    """q: int8 [N, K] in {-1,0,1} -> uint8 [N, ceil(K/128)*32]."""
    q = np.asarray(q, dtype=np.int8)
    if q.ndim != 2 or not np.isin(q, (-1, 0, 1)).all():
        raise ValueError("pack_i2 needs a 2-D matrix of -1/0/+1")
    n, k = q.shape
    blocks = (k + I2_BLOCK - 1) // I2_BLOCK
    codes = np.ones((n, blocks * I2_BLOCK), dtype=np.uint8)          # padding: w = 0 -> code 1
    codes[:, :k] = (q + 1).astype(np.uint8)
    codes = codes.reshape(n, blocks, 4, 32)                          # [n, b, s, j]: k = 128b + 32s + j
    out = np.zeros((n, blocks, 32), dtype=np.uint8)
    for s in range(4):
        out |= codes[:, :, s, :] << (2 * s)
    return out.reshape(n, blocks * 32)


def unpack_i2(packed, k):
    packed = np.asarray(packed, dtype=np.uint8)
    n = packed.shape[0]
    blocks = packed.shape[1] // 32
    b = packed.reshape(n, blocks, 32)
    codes = np.stack([(b >> (2 * s)) & 3 for s in range(4)], axis=2)  # [n, b, s, j]
    if (codes == 3).any():
        raise ValueError("invalid i2 code 3")
    return codes.reshape(n, blocks * I2_BLOCK)[:, :k].astype(np.int8) - 1


def save_ternary_transformer(plain, packed, out_dir):
    """plain: FluxTransformer2DModel whose ternary linears hold gamma*W_q; packed: {module: (W_q, gamma)}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sd = plain.state_dict()
    tensors, meta = {}, {"ternflux.packing": "i2", "ternflux.format_version": "1"}
    for name, tensor in sd.items():
        module = name.rsplit(".", 1)[0]
        if name.endswith(".weight") and module in packed:
            q, gamma = packed[module]
            assert torch.equal(tensor, q.float() * gamma[:, None]), f"{name} is not gamma*W_q"
            tensors[name] = torch.from_numpy(pack_i2(q.numpy()))
            tensors[name + "_scale"] = gamma.float().contiguous()
            meta[f"ternflux.shape.{name}"] = f"{q.shape[0]},{q.shape[1]}"
        else:
            tensors[name] = tensor.to(torch.bfloat16).contiguous()
    save_file(tensors, str(out_dir / "diffusion_pytorch_model.safetensors"), metadata=meta)
    config = dict(plain.config)
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    config = {"_class_name": "FluxTransformer2DModel", **config}
    (out_dir / "config.json").write_text(json.dumps(config, indent=2, default=list) + "\n")


def save_quantizable_transformer(plain, packed, out_dir):
    """A full-precision transformer folder from which `ternflux quantize` (absmean per row) recovers exactly
    W_q and, up to fp32 rounding of the mean, gamma: a ternary row stored as (gamma / p) * W_q, p the row's
    fraction of non-zeros, has absmean gamma and every |w / gamma| = 1 / p >= 1, so it rounds back to W_q.
    Ternary weights are written in F32, every other tensor in BF16 (the teacher's dtype)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, tensor in plain.state_dict().items():
        module = name.rsplit(".", 1)[0]
        if name.endswith(".weight") and module in packed:
            q, gamma = packed[module]
            p = (q != 0).float().mean(dim=1).clamp_min(1.0 / q.shape[1])
            tensors[name] = (q.float() * (gamma / p)[:, None]).contiguous()
        else:
            tensors[name] = tensor.to(torch.bfloat16).contiguous()
    save_file(tensors, str(out_dir / "diffusion_pytorch_model.safetensors"))
    config = {k: v for k, v in dict(plain.config).items() if not k.startswith("_")}
    (out_dir / "config.json").write_text(json.dumps({"_class_name": "FluxTransformer2DModel", **config},
                                                    indent=2, default=list) + "\n")


def load_ternary_transformer(folder, with_packed=False):
    """Reads a ternary transformer folder back into a diffusers FluxTransformer2DModel (fp32, gamma*W_q)."""
    from diffusers import FluxTransformer2DModel
    from safetensors import safe_open
    folder = Path(folder)
    cfg = json.loads((folder / "config.json").read_text())
    model = FluxTransformer2DModel(**{k: v for k, v in cfg.items() if not k.startswith("_")})
    sd, packed = {}, {}
    with safe_open(str(folder / "diffusion_pytorch_model.safetensors"), "pt") as f:
        meta = f.metadata()
        assert meta["ternflux.packing"] == "i2"
        for name in f.keys():
            if name.endswith("_scale"):
                continue
            t = f.get_tensor(name)
            shape_key = f"ternflux.shape.{name}"
            if shape_key in meta:
                n, k = map(int, meta[shape_key].split(","))
                q = torch.from_numpy(unpack_i2(t.numpy(), k))
                scale = f.get_tensor(name + "_scale").float()
                sd[name] = q.float() * scale[:, None]
                packed[name.rsplit(".", 1)[0]] = (q, scale)
            else:
                sd[name] = t.float()
    model.load_state_dict(sd)
    return (model.eval(), packed) if with_packed else model.eval()


# What `ternflux generate` / `ternflux eval` / the worker run the model with unless told otherwise (docs/formats.md,
# "generation_defaults.json"): the training resolution, the sampling steps of train_all.DEFAULT_STEPS and its
# classifier-free guidance (train_all.DEFAULT_CFG against train_all.NEGATIVE_PROMPT).
def generation_defaults():
    import train_all
    d = {"height": 128, "width": 128, "num_inference_steps": train_all.DEFAULT_STEPS, "guidance_scale": 3.5}
    if train_all.DEFAULT_CFG > 1:
        d.update(true_cfg_scale=train_all.DEFAULT_CFG, negative_prompt=train_all.NEGATIVE_PROMPT)
    return d


def save_pipeline(pipe, out_dir, transformer_writer, tokenizer_src):
    """The diffusers FluxPipeline folder; transformer_writer(dir) writes transformer/. Text encoders and VAE in
    F32 (they are small). tokenizer/ and tokenizer_2/ are copied from tokenizer_src as trained (FLUX.1-dev's
    file set: vocab.json + merges.txt, tokenizer.json + spiece.model), not re-saved by transformers."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    transformer = pipe.transformer
    pipe.transformer = None
    pipe.save_pretrained(tmp, safe_serialization=True)
    pipe.transformer = transformer
    if (tmp / "transformer").exists():
        shutil.rmtree(tmp / "transformer")
    transformer_writer(tmp / "transformer")
    for name in ("tokenizer", "tokenizer_2"):
        shutil.rmtree(tmp / name)
        shutil.copytree(Path(tokenizer_src) / name, tmp / name)
    index = json.loads((tmp / "model_index.json").read_text())
    index["transformer"] = ["diffusers", "FluxTransformer2DModel"]
    index["tokenizer"] = ["transformers", "CLIPTokenizer"]
    index["tokenizer_2"] = ["transformers", "T5TokenizerFast"]
    (tmp / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    (tmp / "generation_defaults.json").write_text(json.dumps(generation_defaults(), indent=2) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
