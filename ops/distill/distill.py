"""Image-free ternary distillation of a diffusers FLUX pipeline (the entry point of `ternflux distill`).

    python3 ops/distill/distill.py TEACHER_DIR EXPORT_DIR --prompts FILE [--device cpu|cuda] [--work DIR] ...

TEACHER_DIR is a diffusers FluxPipeline folder (model_index.json, transformer/, text encoders, tokenizers,
scheduler; an optional generation_defaults.json gives steps, size, guidance and true CFG). EXPORT_DIR receives a
diffusers pipeline folder whose transformer holds the student: every linear inside transformer_blocks.* and
single_transformer_blocks.* as F32 weights s_n * W_q[n, k] (W_q in {-1, 0, +1}) plus its learned per-row scale
`<name>.weight_scale` (F32 [N]); everything else in the teacher's dtype. `ternflux quantize` packs that folder and
keeps the scales bit for bit (docs/distillation.md, docs/formats.md). No image is read anywhere: the data are the
calibration prompts and the teacher's (stage 1) or the student's (stage 2) own sampling trajectories.

Stages (each resumable from WORK; a killed run continues at its last checkpoint):
  text     prompt embeddings of the calibration prompts and of the negative prompt (text encoders freed after)
  traj     teacher trajectories sampled as FluxPipeline samples (FlowMatch Euler, the pipeline's sigmas, true CFG
           against the negative prompt); the inputs of the first block cached on disk, cond and uncond
  stage1   block-wise reconstruction: for block i, the student block (ternary, STE, learnable per-row scales
           initialised by absmean) is fed the already-quantized prefix's outputs and trained to reproduce the
           teacher block's output on the teacher's own inputs; one block in memory at a time
  stage2   end-to-end velocity distillation on the student's own guided sampling trajectories: rollouts with the
           current student, the teacher's velocities on those states precomputed, loss on the conditional, the
           unconditional velocity and their difference
  export   EXPORT_DIR (and WORK/export-stage1 after stage 1)
"""
import argparse
import copy
import json
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from tqdm import tqdm
except ImportError:          # progress bars are a convenience; the checks in main() name the pip command
    tqdm = None

TERNARY_PREFIXES = ("transformer_blocks.", "single_transformer_blocks.")
DEFAULTS = {"height": 1024, "width": 1024, "num_inference_steps": 28, "guidance_scale": 3.5,
            "true_cfg_scale": 1.0, "negative_prompt": ""}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def progress(it, **kw):
    if tqdm is None or os.environ.get("TERNFLUX_DISTILL_NO_BARS"):
        return it
    return tqdm(it, file=sys.stderr, dynamic_ncols=True, mininterval=2.0, **kw)


def atomic_save(obj, path):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def read_json(path, default=None):
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else default


def write_json(path, obj):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------------------------
# Ternary linear: W_eff = s * clamp(round(W / s), -1, 1), straight-through round, learnable s (LSQ / EfficientQAT)

class TernaryCodeSTE(torch.autograd.Function):
    """clamp(round(u), -1, 1) forward (round half to even, as the Swift quantizer); backward the straight-through
    gradient wherever the rounded value lies in [-1, 1] (|u| < 1.5, and u = ±1.5 where it rounds to ±2 blocked),
    zero outside. Written out rather than composed from torch.clamp: torch 2.15 made clamp's gradient zero *at* the
    bounds, so round-then-clamp gave every weight whose code is ±1 no gradient at all — only the zeros trained
    (a stage-1 student with 2.2x the velocity error of torch 2.13's, docs/distillation.md)."""

    @staticmethod
    def forward(ctx, u):
        r = torch.round(u)
        ctx.save_for_backward(r.abs() <= 1)
        return torch.clamp(r, -1, 1)

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved_tensors
        return torch.where(inside, g, torch.zeros_like(g))      # as clamp's backward before torch 2.15


def absmean_scale(w):
    return w.abs().mean(dim=1).clamp_min(1e-5)


class TernaryLinear(nn.Module):
    def __init__(self, linear):
        super().__init__()
        w = linear.weight.detach().float().clone()
        self.weight = nn.Parameter(w)
        self.scale = nn.Parameter(absmean_scale(w))
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().float().clone())
        self.in_features, self.out_features = w.shape[1], w.shape[0]

    def codes(self):
        """W_q in {-1, 0, +1} (float) exactly as the forward uses it."""
        s = self.scale.detach().clamp_min(1e-8)
        return torch.clamp(torch.round(self.weight.detach() / s[:, None]), -1, 1)

    def effective_weight(self):
        s = self.scale.clamp_min(1e-8)
        return TernaryCodeSTE.apply(self.weight / s[:, None]) * s[:, None]

    def forward(self, x):
        w = self.effective_weight()
        return F.linear(x, w.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))


def ternary_linear_names(module, prefix=""):
    return [prefix + n for n, m in module.named_modules()
            if isinstance(m, nn.Linear) and not isinstance(m, TernaryLinear)]


def ternarize_module(module):
    """Replaces every nn.Linear inside `module` (a FLUX block) by a TernaryLinear; returns their names."""
    names = ternary_linear_names(module)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, child, TernaryLinear(getattr(parent, child)))
    return names


def blocks_of(transformer):
    return [("transformer_blocks", i, b) for i, b in enumerate(transformer.transformer_blocks)] + \
           [("single_transformer_blocks", i, b) for i, b in enumerate(transformer.single_transformer_blocks)]


def call_block(block, h, e, temb, rot):
    """(e, h) after one FLUX block (diffusers >= 0.32: double and single blocks take and return both streams)."""
    out = block(hidden_states=h, encoder_hidden_states=e, temb=temb, image_rotary_emb=rot)
    if isinstance(out, tuple) and len(out) == 2:
        return out[0], out[1]
    raise RuntimeError("this diffusers version's FLUX blocks do not return (encoder_hidden_states, hidden_states); "
                       "use diffusers >= 0.32")


# --------------------------------------------------------------------------------------------------------------
# The pipeline's sampling: sigmas, ids, velocity

class Setup:
    """Everything sampling needs, read from the teacher folder."""

    def __init__(self, teacher_dir, args):
        from diffusers import FlowMatchEulerDiscreteScheduler
        self.dir = Path(teacher_dir)
        gen = dict(DEFAULTS)
        gen.update(read_json(self.dir / "generation_defaults.json", {}))
        for key, flag in (("num_inference_steps", "steps"), ("true_cfg_scale", "cfg"), ("height", "height"),
                          ("width", "width"), ("guidance_scale", "guidance"), ("negative_prompt", "negative_prompt")):
            if getattr(args, flag, None) is not None:
                gen[key] = getattr(args, flag)
        self.gen = gen
        self.steps = int(gen["num_inference_steps"])
        self.cfg = float(gen.get("true_cfg_scale") or 1.0)
        self.negative = gen.get("negative_prompt") or ""
        self.guidance = float(gen.get("guidance_scale") or 3.5)
        cfg = read_json(self.dir / "transformer" / "config.json")
        self.tconfig = cfg
        vae_cfg = read_json(self.dir / "vae" / "config.json", {})
        self.vae_scale = 2 ** (len(vae_cfg.get("block_out_channels", [0, 0, 0, 0])) - 1)
        self.latent_h = 2 * (int(gen["height"]) // (self.vae_scale * 2))
        self.latent_w = 2 * (int(gen["width"]) // (self.vae_scale * 2))
        self.tokens = (self.latent_h // 2) * (self.latent_w // 2)
        self.channels = cfg["in_channels"]
        self.guidance_embeds = bool(cfg.get("guidance_embeds", False))
        self.scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(self.dir / "scheduler")
        self.sigmas = self.pipeline_sigmas()
        ids = torch.zeros(self.latent_h // 2, self.latent_w // 2, 3)
        ids[..., 1] += torch.arange(self.latent_h // 2)[:, None]
        ids[..., 2] += torch.arange(self.latent_w // 2)[None, :]
        self.img_ids = ids.reshape(-1, 3)

    def pipeline_sigmas(self):
        """The sigmas FluxPipeline.__call__ gives the scheduler for this size and step count (and the final 0)."""
        from diffusers.pipelines.flux.pipeline_flux import calculate_shift, retrieve_timesteps
        sched = copy.deepcopy(self.scheduler)
        c = sched.config
        mu = calculate_shift(self.tokens, c.get("base_image_seq_len", 256), c.get("max_image_seq_len", 4096),
                             c.get("base_shift", 0.5), c.get("max_shift", 1.15))
        sig = np.linspace(1.0, 1 / self.steps, self.steps)
        if getattr(c, "use_flow_sigmas", False):
            sig = None
        retrieve_timesteps(sched, self.steps, "cpu", sigmas=sig, mu=mu)
        return sched.sigmas.float().clone()

    def velocity(self, model, x, sigma, embeds, pooled):
        txt_ids = torch.zeros(embeds.shape[1], 3, device=x.device, dtype=x.dtype)
        g = torch.full((x.shape[0],), self.guidance, device=x.device, dtype=x.dtype) if self.guidance_embeds else None
        return model(hidden_states=x, timestep=sigma.to(x.dtype), guidance=g, encoder_hidden_states=embeds,
                     pooled_projections=pooled, img_ids=self.img_ids.to(x.device, x.dtype), txt_ids=txt_ids,
                     return_dict=False)[0]

    def describe(self):
        return (f"{self.gen['width']}x{self.gen['height']} ({self.tokens} image tokens), {self.steps} steps, "
                f"true CFG {self.cfg} against {self.negative!r}, guidance embeds {self.guidance_embeds}"
                f"{f' ({self.guidance})' if self.guidance_embeds else ''}, sigmas {[round(s, 4) for s in self.sigmas.tolist()]}")


def load_prompts(path):
    lines = [l.strip() for l in Path(path).read_text().splitlines()]
    prompts = [l for l in lines if l and not l.startswith("#")]
    if not prompts:
        raise SystemExit(f"{path}: no prompts (one per line)")
    return prompts


# --------------------------------------------------------------------------------------------------------------
# Stage: text

@torch.no_grad()
def stage_text(setup, prompts, work, device, batch=64, max_sequence_length=None):
    path = work / "text.pt"
    if path.exists():
        t = torch.load(path)
        if t["prompts"] == prompts and t["negative"] == setup.negative:
            return t
        log("text: calibration prompts changed; re-encoding")
    from diffusers import FluxPipeline
    pipe = FluxPipeline.from_pretrained(setup.dir, transformer=None, vae=None, torch_dtype=torch.float32)
    pipe.to(device)
    max_len = int(max_sequence_length or min(512, getattr(pipe.tokenizer_2, "model_max_length", 512) or 512))
    unique = sorted(set(prompts) | {setup.negative})
    embeds, pooled = [], []
    for i in progress(range(0, len(unique), batch), desc="text"):
        e, p, _ = pipe.encode_prompt(prompt=unique[i:i + batch], prompt_2=None, device=device,
                                     max_sequence_length=max_len)
        embeds.append(e.float().cpu()); pooled.append(p.float().cpu())
    index = {p: i for i, p in enumerate(unique)}
    t = {"prompts": prompts, "negative": setup.negative, "unique": unique, "embeds": torch.cat(embeds),
         "pooled": torch.cat(pooled), "prompt_index": torch.tensor([index[p] for p in prompts]),
         "negative_index": index[setup.negative], "max_sequence_length": max_len}
    atomic_save(t, path)
    del pipe
    log(f"text: {len(unique)} distinct prompts encoded (T5 length {max_len})")
    return t


# --------------------------------------------------------------------------------------------------------------
# Stage: teacher trajectories and the first block's inputs

class BlockInputs(nn.Module):
    """Captures the first block's inputs (hidden_states, encoder_hidden_states, temb, image_rotary_emb)."""

    def __init__(self):
        super().__init__()
        self.got = None

    def hook(self, module, args, kwargs):
        self.got = (kwargs["hidden_states"], kwargs["encoder_hidden_states"], kwargs["temb"], kwargs["image_rotary_emb"])
        raise _Captured()


class _Captured(Exception):
    pass


def first_block_inputs(setup, model, x, sigma, embeds, pooled):
    cap = BlockInputs()
    first = model.transformer_blocks[0] if len(model.transformer_blocks) else model.single_transformer_blocks[0]
    handle = first.register_forward_pre_hook(cap.hook, with_kwargs=True)
    try:
        setup.velocity(model, x, sigma, embeds, pooled)
    except _Captured:
        pass
    finally:
        handle.remove()
    return cap.got


def open_store(path, shape, dtype=np.float32, mode="w+"):
    from numpy.lib.format import open_memmap
    return open_memmap(str(path), mode=mode, dtype=dtype, shape=tuple(shape))


@torch.no_grad()
def stage_trajectories(setup, teacher, text, work, args):
    """Teacher sampling, as FluxPipeline samples: for n_traj calibration prompts, x_T ~ N(0, I), Euler over the
    pipeline's sigmas, v = v_u + cfg (v_c - v_u). Every visited state gives two samples (cond, uncond) whose first
    block inputs are stored; also the teacher's velocities (for the velocity-MSE report)."""
    d = work / "traj"
    d.mkdir(exist_ok=True)
    meta = read_json(d / "meta.json")
    if meta and meta.get("done"):
        return meta
    n_prompts = min(args.traj_prompts, len(text["prompts"]))
    rng = random.Random(args.seed)
    chosen = rng.sample(range(len(text["prompts"])), n_prompts)
    states = n_prompts * setup.steps
    guided = setup.cfg > 1
    samples = states * (2 if guided else 1)
    dev, dt = args.device, args.compute_dtype
    probe = first_block_inputs(setup, teacher, torch.zeros(1, setup.tokens, setup.channels, device=dev, dtype=dt),
                               setup.sigmas[:1].to(dev), text["embeds"][:1].to(dev, dt), text["pooled"][:1].to(dev, dt))
    h, e, temb, rot = probe
    meta = {"n_prompts": n_prompts, "chosen": chosen, "states": states, "samples": samples, "guided": guided,
            "h": list(h.shape[1:]), "e": list(e.shape[1:]), "temb": list(temb.shape[1:]), "done_batches": 0,
            "batch": args.traj_batch}
    if (d / "meta.json").exists():
        old = read_json(d / "meta.json")
        if old["chosen"] == chosen and old["batch"] == args.traj_batch:
            meta = old
    mode = "r+" if meta["done_batches"] else "w+"
    H = open_store(d / "h0.npy", [samples] + meta["h"], mode=mode)
    E = open_store(d / "e0.npy", [samples] + meta["e"], mode=mode)
    T = open_store(d / "temb.npy", [samples] + meta["temb"], mode=mode)
    X = open_store(d / "x.npy", [states, setup.tokens, setup.channels], mode=mode)
    V = open_store(d / "v.npy", [samples, setup.tokens, setup.channels], mode=mode)
    S = open_store(d / "sigma.npy", [states], mode=mode)
    C = open_store(d / "caption.npy", [samples], dtype=np.int64, mode=mode)
    atomic_save(tuple(r.cpu() for r in rot) if isinstance(rot, tuple) else rot.cpu(), d / "rot.pt")
    g = torch.Generator().manual_seed(args.seed + 1)
    bsz = args.traj_batch
    batches = list(range(0, n_prompts, bsz))
    for _ in range(meta["done_batches"]):              # resume: keep the noise stream in step
        torch.randn((min(bsz, n_prompts - _ * bsz), setup.tokens, setup.channels), generator=g)
    neg = text["negative_index"]
    sig = setup.sigmas
    for bi in progress(range(meta["done_batches"], len(batches)), desc="teacher trajectories"):
        i = batches[bi]
        idx = torch.tensor([text["prompt_index"][chosen[j]] for j in range(i, min(i + bsz, n_prompts))])
        b = len(idx)
        x = torch.randn((b, setup.tokens, setup.channels), generator=g).to(dev, dt)
        ec, pc = text["embeds"][idx].to(dev, dt), text["pooled"][idx].to(dev, dt)
        eu, pu = text["embeds"][[neg]].expand(b, -1, -1).to(dev, dt), text["pooled"][[neg]].expand(b, -1).to(dev, dt)
        for k in range(setup.steps):
            s = sig[k].expand(b).to(dev)
            rows = [(i + j) * setup.steps + k for j in range(b)]             # state index: prompt-major
            X[rows] = x.float().cpu().numpy()
            S[rows] = sig[k].item()
            hc, ehc, tc, _ = first_block_inputs(setup, teacher, x, s, ec, pc)
            vc = setup.velocity(teacher, x, s, ec, pc)
            srow = [r * (2 if guided else 1) for r in rows]
            H[srow], E[srow], T[srow], V[srow] = (hc.float().cpu().numpy(), ehc.float().cpu().numpy(),
                                                  tc.float().cpu().numpy(), vc.float().cpu().numpy())
            C[srow] = idx.numpy()
            v = vc
            if guided:
                hu, ehu, tu, _ = first_block_inputs(setup, teacher, x, s, eu, pu)
                vu = setup.velocity(teacher, x, s, eu, pu)
                urow = [r + 1 for r in srow]
                H[urow], E[urow], T[urow], V[urow] = (hu.float().cpu().numpy(), ehu.float().cpu().numpy(),
                                                      tu.float().cpu().numpy(), vu.float().cpu().numpy())
                C[urow] = neg
                v = vu + setup.cfg * (vc - vu)
            x = x + (sig[k + 1] - sig[k]).to(dev) * v
        for m in (H, E, T, X, V, S, C):
            m.flush()
        meta["done_batches"] = bi + 1
        write_json(d / "meta.json", meta)
    meta["done"] = True
    write_json(d / "meta.json", meta)
    log(f"traj: {states} teacher states from {n_prompts} calibration prompts, {samples} block-input samples cached")
    return meta


# --------------------------------------------------------------------------------------------------------------
# Stage 1: block-wise reconstruction

def load_rot(work, device, dtype):
    rot = torch.load(work / "traj" / "rot.pt")
    return tuple(r.to(device) for r in rot) if isinstance(rot, tuple) else rot.to(device)


@torch.no_grad()
def run_block_over(block, src_h, src_e, temb, rot, dst_h, dst_e, device, dtype, batch, desc):
    n = src_h.shape[0]
    for i in progress(range(0, n, batch), desc=desc, leave=False):
        h = torch.from_numpy(np.ascontiguousarray(src_h[i:i + batch])).to(device, dtype)
        e = torch.from_numpy(np.ascontiguousarray(src_e[i:i + batch])).to(device, dtype)
        t = torch.from_numpy(np.ascontiguousarray(temb[i:i + batch])).to(device, dtype)
        eo, ho = call_block(block, h, e, t, rot)
        dst_h[i:i + batch] = ho.float().cpu().numpy()
        dst_e[i:i + batch] = eo.float().cpu().numpy()
    dst_h.flush(); dst_e.flush()


def make_optimizer(module, lr, scale_lr, steps, warmup):
    weights = [p for n, p in module.named_parameters() if not n.endswith("scale") and p.requires_grad]
    scales = [p for n, p in module.named_parameters() if n.endswith("scale") and p.requires_grad]
    opt = torch.optim.AdamW([{"params": weights, "lr": lr}, {"params": scales, "lr": scale_lr}], weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps, warmup))
    return opt, sched


def lr_factor(step, steps, warmup):
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def rng_state():
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}


def set_rng_state(s):
    torch.set_rng_state(s["torch"]); random.setstate(s["python"]); np.random.set_state(s["numpy"])


def stage1(setup, teacher, work, args):
    """Block-wise reconstruction. Boundary i holds, for every cached sample, the teacher's input to block i
    (fp_h, fp_e: the teacher prefix) and the student prefix's (q_h, q_e). Block i's ternary copy takes q_* and is
    trained to give the teacher block's output on fp_* (so it also corrects the prefix's error, as EfficientQAT's
    Block-AP). Then both outputs become boundary i+1 and block i's files are deleted."""
    d = work / "stage1"
    d.mkdir(exist_ok=True)
    prog = read_json(d / "progress.json", {"done": []})
    blocks = blocks_of(teacher)
    meta = read_json(work / "traj" / "meta.json")
    n = meta["samples"]
    dev, dt = args.device, args.compute_dtype
    rot = load_rot(work, dev, dt)
    temb = np.load(work / "traj" / "temb.npy", mmap_mode="r")
    # boundary 0 is the cached first-block input for both prefixes
    def boundary(i, kind, mode="r"):
        if i == 0:
            return (np.load(work / "traj" / "h0.npy", mmap_mode="r"), np.load(work / "traj" / "e0.npy", mmap_mode="r"))
        if mode == "w+":
            return (open_store(d / f"b{i}_{kind}_h.npy", [n] + meta["h"]), open_store(d / f"b{i}_{kind}_e.npy", [n] + meta["e"]))
        return (np.load(d / f"b{i}_{kind}_h.npy", mmap_mode="r"), np.load(d / f"b{i}_{kind}_e.npy", mmap_mode="r"))
    report = read_json(d / "report.json", {})
    t_start = time.time()
    for bi, (kind, idx, tblock) in enumerate(blocks):
        name = f"{kind}.{idx}"
        if name in prog["done"]:
            continue
        t0 = time.time()
        fp_h, fp_e = boundary(bi, "fp")
        q_h, q_e = boundary(bi, "q")
        # the teacher block's output on the teacher's input: the target, and boundary bi+1 of the teacher prefix
        last = bi == len(blocks) - 1
        tblock = tblock.to(dev)
        if not (d / f"b{bi + 1}_fp.done").exists():
            out_h, out_e = boundary(bi + 1, "fp", "w+")
            run_block_over(tblock, fp_h, fp_e, temb, rot, out_h, out_e, dev, dt, args.cache_batch, f"{name} teacher out")
            (d / f"b{bi + 1}_fp.done").touch()
        tgt_h, tgt_e = boundary(bi + 1, "fp")
        student = copy.deepcopy(tblock).float()
        ternarize_module(student)
        student.to(dev)
        for p in student.parameters():
            p.requires_grad_(True)
        opt, sched = make_optimizer(student, args.stage1_lr, args.stage1_scale_lr, args.stage1_steps, args.stage1_warmup)
        ck = d / f"{name}.ckpt.pt"
        step = 0
        g = torch.Generator().manual_seed(args.seed + 100 + bi)
        if ck.exists():
            c = torch.load(ck, weights_only=False)
            student.load_state_dict(c["student"]); opt.load_state_dict(c["opt"]); sched.load_state_dict(c["sched"])
            step = c["step"]; g.set_state(c["gen"])
            log(f"stage1 {name}: resumed at step {step}")
        tgt_var_h = float(np.var(tgt_h[: min(n, 512)]))
        tgt_var_e = float(np.var(tgt_e[: min(n, 512)])) if not last else 1.0

        def block_loss(rows):
            rows = np.sort(rows)
            h = torch.from_numpy(q_h[rows]).to(dev, dt)
            e = torch.from_numpy(q_e[rows]).to(dev, dt)
            t = torch.from_numpy(temb[rows]).to(dev, dt)
            eo, ho = call_block(student, h, e, t, rot)
            lh = F.mse_loss(ho.float(), torch.from_numpy(tgt_h[rows]).to(dev)) / tgt_var_h
            if last:              # the text stream after the last block is not used by the model
                return lh
            return lh + F.mse_loss(eo.float(), torch.from_numpy(tgt_e[rows]).to(dev)) / tgt_var_e

        with torch.no_grad():
            probe = np.arange(min(n, args.stage1_batch * 4))
            loss0 = block_loss(probe).item()
        bar = progress(range(step, args.stage1_steps), desc=f"stage1 {name}", initial=step, total=args.stage1_steps)
        loss = torch.tensor(float("nan"))
        for step in bar:
            rows = torch.randint(0, n, (args.stage1_batch,), generator=g).numpy()
            loss = block_loss(np.unique(rows))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            opt.step(); sched.step()
            if tqdm is not None and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss.item():.4f}")
            if (step + 1) % args.checkpoint_every == 0 and step + 1 < args.stage1_steps:
                atomic_save({"student": student.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                             "step": step + 1, "gen": g.get_state()}, ck)
                maybe_die(args, "stage1", step + 1)
        with torch.no_grad():
            loss1 = block_loss(probe).item()
        atomic_save(student.state_dict(), d / f"{name}.pt")
        # boundary bi+1 of the student prefix
        if not last:
            out_h, out_e = boundary(bi + 1, "q", "w+")
            run_block_over(student, q_h, q_e, temb, rot, out_h, out_e, dev, dt, args.cache_batch, f"{name} student out")
        report[name] = {"loss_naive": loss0, "loss_trained": loss1, "steps": args.stage1_steps,
                        "seconds": round(time.time() - t0, 1)}
        write_json(d / "report.json", report)
        prog["done"].append(name)
        write_json(d / "progress.json", prog)
        if ck.exists():
            ck.unlink()
        for kind_ in ("fp", "q"):                # boundary bi no longer needed
            if bi > 0:
                for s in ("h", "e"):
                    p = d / f"b{bi}_{kind_}_{s}.npy"
                    if p.exists():
                        p.unlink()
        tblock.to("cpu")
        del student, opt
        log(f"stage1 {name}: normalised block loss {loss0:.4f} (naive) -> {loss1:.4f} ({time.time() - t0:.0f}s)")
    report["seconds_total_this_run"] = round(time.time() - t_start, 1)
    write_json(d / "report.json", report)
    return assemble_student(teacher, work)


def assemble_student(teacher, work):
    """The whole student after stage 1: the teacher with every block replaced by its trained ternary copy."""
    student = copy.deepcopy(teacher).float()
    for kind, idx, block in blocks_of(student):
        ternarize_module(block)
        block.load_state_dict(torch.load(work / "stage1" / f"{kind}.{idx}.pt"))
    return student


def naive_student(teacher):
    student = copy.deepcopy(teacher).float()
    for _, _, block in blocks_of(student):
        ternarize_module(block)
    return student


# --------------------------------------------------------------------------------------------------------------
# Stage 2: end-to-end velocity distillation on the student's own trajectories

@torch.no_grad()
def rollouts(setup, student, teacher, text, n_prompts, g, args, desc):
    """The student's own guided sampling (as at inference) from fresh noise on n_prompts calibration prompts; at
    every visited state the teacher's conditional and unconditional velocities (the targets)."""
    dev, dt = args.device, args.compute_dtype
    idx_all = torch.randint(0, len(text["prompts"]), (n_prompts,), generator=g)
    neg = text["negative_index"]
    xs, ss, cs, vcs, vus = [], [], [], [], []
    for i in progress(range(0, n_prompts, args.traj_batch), desc=desc, leave=False):
        idx = text["prompt_index"][idx_all[i:i + args.traj_batch]]
        b = len(idx)
        x = torch.randn((b, setup.tokens, setup.channels), generator=g).to(dev, dt)
        ec, pc = text["embeds"][idx].to(dev, dt), text["pooled"][idx].to(dev, dt)
        eu, pu = text["embeds"][[neg]].expand(b, -1, -1).to(dev, dt), text["pooled"][[neg]].expand(b, -1).to(dev, dt)
        for k in range(setup.steps):
            s = setup.sigmas[k].expand(b).to(dev)
            xs.append(x.float().cpu()); ss.append(s.float().cpu()); cs.append(idx)
            vcs.append(setup.velocity(teacher, x, s, ec, pc).float().cpu())
            vus.append(setup.velocity(teacher, x, s, eu, pu).float().cpu() if setup.cfg > 1 else vcs[-1])
            v = setup.velocity(student, x, s, ec, pc)
            if setup.cfg > 1:
                vu = setup.velocity(student, x, s, eu, pu)
                v = vu + setup.cfg * (v - vu)
            x = x + (setup.sigmas[k + 1] - setup.sigmas[k]).to(dev) * v
    return {"x": torch.cat(xs), "sigma": torch.cat(ss), "caption": torch.cat(cs), "vc": torch.cat(vcs),
            "vu": torch.cat(vus)}


def stage2(setup, teacher, student, text, work, args):
    d = work / "stage2"
    d.mkdir(exist_ok=True)
    dev, dt = args.device, args.compute_dtype
    student.to(dev)
    for n, p in student.named_parameters():
        p.requires_grad_(n.startswith(TERNARY_PREFIXES) or args.train_full_precision)
    steps = args.stage2_steps
    opt, sched = make_optimizer(student, args.stage2_lr, args.stage2_scale_lr, steps, args.stage2_warmup)
    g = torch.Generator().manual_seed(args.seed + 7)
    step = 0
    ck = d / "ckpt.pt"
    history = []
    ema = EMA(student, args.stage2_ema) if args.stage2_ema > 0 else None

    def save(at_step):
        atomic_save({"student": student.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                     "step": at_step, "gen": g.get_state(), "history": history,
                     "ema": ema.shadow if ema is not None else None}, ck)

    def result():
        """The student stage 2 hands on: the average's parameters with --stage2-ema, else the last step's."""
        return (ema.apply(student) if ema is not None else student), history

    if ck.exists():
        c = torch.load(ck, weights_only=False)
        student.load_state_dict(c["student"]); opt.load_state_dict(c["opt"]); sched.load_state_dict(c["sched"])
        step = c["step"]; g.set_state(c["gen"]); history = c["history"]
        if ema is not None:
            ema.load(c.get("ema"), step)
        log(f"stage2: resumed at step {step}")
    if step >= steps:
        return result()
    neg = text["negative_index"]
    per_round = max(1, math.ceil(steps / args.stage2_rounds))
    params = [p for p in student.parameters() if p.requires_grad]
    bar = progress(range(step, steps), desc="stage2", initial=step, total=steps)
    data = None
    t0 = time.time()
    for step in bar:
        r = step // per_round
        rpath = d / f"round{r}.pt"
        if data is None or data["round"] != r:
            if rpath.exists():
                data = torch.load(rpath)
            else:
                student.eval()
                data = rollouts(setup, student, teacher, text, args.stage2_prompts, g, args, f"stage2 rollouts {r}")
                data["round"] = r
                atomic_save(data, rpath)
                prev = d / f"round{r - 1}.pt"
                if prev.exists():
                    prev.unlink()
                # the generator's state after the rollouts is saved with the next checkpoint
                save(step)
            student.train()
        rows = torch.randint(0, data["x"].shape[0], (args.stage2_batch,), generator=g)
        x = data["x"][rows].to(dev, dt)
        s = data["sigma"][rows].to(dev)
        c = data["caption"][rows]
        ec, pc = text["embeds"][c].to(dev, dt), text["pooled"][c].to(dev, dt)
        vc_t, vu_t = data["vc"][rows].to(dev), data["vu"][rows].to(dev)
        if setup.cfg > 1:
            b = len(rows)
            eu, pu = text["embeds"][[neg]].expand(b, -1, -1).to(dev, dt), text["pooled"][[neg]].expand(b, -1).to(dev, dt)
            v = setup.velocity(student, torch.cat([x, x]), torch.cat([s, s]), torch.cat([ec, eu]), torch.cat([pc, pu])).float()
            vc, vu = v[:b], v[b:]
            l_c, l_u = F.mse_loss(vc, vc_t), F.mse_loss(vu, vu_t)
            l_d = F.mse_loss(vc - vu, vc_t - vu_t)
            loss = l_c + l_u + args.diff_weight * l_d
        else:
            vc = setup.velocity(student, x, s, ec, pc).float()
            l_c = l_u = l_d = F.mse_loss(vc, vc_t)
            loss = l_c
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step(); sched.step()
        if ema is not None:
            ema.update(student, step)
        if step % 25 == 0 or step == steps - 1:
            history.append({"step": step, "loss": loss.item(), "cond": l_c.item(), "uncond": l_u.item(),
                            "diff": l_d.item(), "seconds": round(time.time() - t0, 1)})
        if tqdm is not None and hasattr(bar, "set_postfix"):
            bar.set_postfix(cond=f"{l_c.item():.4f}", uncond=f"{l_u.item():.4f}", diff=f"{l_d.item():.4f}")
        if tqdm is None or os.environ.get("TERNFLUX_DISTILL_NO_BARS"):
            if step % 100 == 0 or step == steps - 1:
                log(f"stage2 step {step}/{steps}: cond {l_c.item():.4f} uncond {l_u.item():.4f} diff {l_d.item():.4f} "
                    f"({time.time() - t0:.0f}s)")
        if (step + 1) % args.checkpoint_every == 0 or step + 1 == steps:
            save(step + 1)
            maybe_die(args, "stage2", step + 1)
    return result()


class EMA:
    """Exponential moving average of the trained parameters (latent ternary weights, scales, biases, norms; the
    full-precision layers with --train-full-precision). The exported student is the average's: its codes are
    round(W_ema / s_ema). The decay ramps as min(decay, (1 + t) / (10 + t)) so early steps do not dominate.
    Rollouts and the loss use the live student; only the result is averaged."""

    def __init__(self, model, decay):
        self.decay = decay
        self.shadow = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    def load(self, saved, step):
        if saved is None:
            raise SystemExit(f"stage2: the checkpoint at step {step} was written without --stage2-ema; rerun with "
                             "the flags it was started with (or remove the work folder's stage2/)")
        if set(saved) != set(self.shadow):
            raise SystemExit("stage2: the checkpoint's averaged parameters do not match this run's trained set "
                             "(--train-full-precision changed?)")
        self.shadow = saved

    @torch.no_grad()
    def update(self, model, step):
        d = min(self.decay, (1 + step) / (10 + step))
        for n, p in model.named_parameters():
            if n in self.shadow:
                self.shadow[n].mul_(d).add_(p.detach(), alpha=1 - d)

    @torch.no_grad()
    def apply(self, model):
        for n, p in model.named_parameters():
            if n in self.shadow:
                p.copy_(self.shadow[n])
        return model


def maybe_die(args, stage, step):
    """Test hook: TERNFLUX_DISTILL_DIE_AT=stage:step kills the process right after that checkpoint."""
    if os.environ.get("TERNFLUX_DISTILL_DIE_AT") == f"{stage}:{step}":
        log(f"TERNFLUX_DISTILL_DIE_AT: exiting after {stage} checkpoint at step {step}")
        os._exit(75)


# --------------------------------------------------------------------------------------------------------------
# Velocity MSE to the teacher (on the teacher's own trajectory states, held by stage traj)

@torch.no_grad()
def velocity_mse(setup, model, work, text, args, n=256):
    dev, dt = args.device, args.compute_dtype
    meta = read_json(work / "traj" / "meta.json")
    X = np.load(work / "traj" / "x.npy", mmap_mode="r")
    V = np.load(work / "traj" / "v.npy", mmap_mode="r")
    S = np.load(work / "traj" / "sigma.npy", mmap_mode="r")
    C = np.load(work / "traj" / "caption.npy", mmap_mode="r")
    k = 2 if meta["guided"] else 1
    states = np.linspace(0, meta["states"] - 1, min(n, meta["states"])).astype(np.int64)
    out = {"cond": 0.0, "uncond": 0.0, "guided": 0.0}
    model.to(dev)
    for i in range(0, len(states), args.cache_batch):
        st = states[i:i + args.cache_batch]
        x = torch.from_numpy(X[st]).to(dev, dt)
        s = torch.from_numpy(S[st]).to(dev)
        c = torch.from_numpy(C[st * k])
        vc = setup.velocity(model, x, s, text["embeds"][c].to(dev, dt), text["pooled"][c].to(dev, dt)).float().cpu()
        tc = torch.from_numpy(V[st * k])
        out["cond"] += F.mse_loss(vc, tc, reduction="sum").item()
        if k == 2:
            neg = text["negative_index"]
            b = len(st)
            vu = setup.velocity(model, x, s, text["embeds"][[neg]].expand(b, -1, -1).to(dev, dt),
                                text["pooled"][[neg]].expand(b, -1).to(dev, dt)).float().cpu()
            tu = torch.from_numpy(V[st * k + 1])
            out["uncond"] += F.mse_loss(vu, tu, reduction="sum").item()
            out["guided"] += F.mse_loss(vu + setup.cfg * (vc - vu), tu + setup.cfg * (tc - tu), reduction="sum").item()
    numel = len(states) * X.shape[1] * X.shape[2]
    return {key: val / numel for key, val in out.items() if k == 2 or key == "cond"}


# --------------------------------------------------------------------------------------------------------------
# Export: diffusers folder with the ternary weights as s * W_q (F32) and the learned scales

@torch.no_grad()
def student_tensors(student, teacher_dtype):
    """{name: tensor} of the exported transformer and {module: (W_q int8, scale f32)}."""
    tensors, packed = {}, {}
    ternary = {n: m for n, m in student.named_modules() if isinstance(m, TernaryLinear)}
    for name, m in ternary.items():
        q = m.codes()
        s = m.scale.detach().float().clamp_min(1e-8).cpu().contiguous()
        tensors[name + ".weight"] = (q.cpu() * s[:, None]).contiguous()         # exact: q in {-1, 0, 1}
        tensors[name + ".weight_scale"] = s
        if m.bias is not None:
            tensors[name + ".bias"] = m.bias.detach().to(teacher_dtype).cpu().contiguous()
        packed[name] = (q.to(torch.int8).cpu(), s)
    for name, t in student.state_dict().items():
        module = name.rsplit(".", 1)[0]
        if module in ternary:
            continue
        tensors[name] = t.detach().to(teacher_dtype).cpu().contiguous()
    return tensors, packed


def export(setup, student, teacher_dtype, out_dir):
    from safetensors.torch import save_file
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for entry in sorted(setup.dir.iterdir()):
        if entry.name == "transformer":
            continue
        (shutil.copytree if entry.is_dir() else shutil.copy2)(entry.resolve(), tmp / entry.name)
    (tmp / "transformer").mkdir()
    tensors, packed = student_tensors(student, teacher_dtype)
    save_file(tensors, str(tmp / "transformer" / "diffusion_pytorch_model.safetensors"),
              metadata={"ternflux.distill": "ternary weights as scale*W_q (F32) with learned <name>.weight_scale"})
    config = {k: v for k, v in setup.tconfig.items()}
    (tmp / "transformer" / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return packed


def stored_dtype(transformer_dir):
    """The dtype the teacher's transformer file stores its floating tensors in (the export keeps it for every
    tensor that stays full precision; diffusers' from_pretrained would report float32 for a BF16 file)."""
    from safetensors import safe_open
    files = sorted(Path(transformer_dir).glob("*.safetensors"))
    names = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
    with safe_open(str(files[0]), "pt") as f:
        for key in f.keys():
            t = f.get_slice(key)
            if t.get_dtype() in names:
                return names[t.get_dtype()]
    return torch.float32


def load_transformer(path, device, dtype):
    from diffusers import FluxTransformer2DModel
    m = FluxTransformer2DModel.from_pretrained(path, subfolder="transformer")
    return m.to(device=device, dtype=dtype).eval(), stored_dtype(Path(path) / "transformer")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="ternflux distill", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("teacher", type=Path, help="diffusers FluxPipeline folder")
    ap.add_argument("out", type=Path, help="export folder (diffusers, ternary weights + learned scales)")
    ap.add_argument("--prompts", type=Path, required=True, help="calibration prompts, one per line")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--work", type=Path, default=None, help="work folder (caches, checkpoints); default OUT.work")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                    help="compute dtype of the teacher (default float32 on cpu, bfloat16 on cuda)")
    ap.add_argument("--stages", default="1,2", help="stages to run: 1, 2 or 1,2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None, help="sampling steps (default: generation_defaults.json)")
    ap.add_argument("--cfg", type=float, default=None, help="true CFG scale (default: generation_defaults.json)")
    ap.add_argument("--negative-prompt", default=None)
    ap.add_argument("--guidance", type=float, default=None, help="distilled-guidance value for guidance-embeds models")
    ap.add_argument("--max-sequence-length", type=int, default=None,
                    help="T5 length (default: tokenizer_2's model_max_length, at most 512, as ternflux runs it)")
    ap.add_argument("--height", type=int, default=None)
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--traj-prompts", type=int, default=256, help="calibration prompts sampled by the teacher for stage 1")
    ap.add_argument("--traj-batch", type=int, default=32)
    ap.add_argument("--cache-batch", type=int, default=64)
    ap.add_argument("--stage1-steps", type=int, default=400, help="steps per block")
    ap.add_argument("--stage1-batch", type=int, default=32)
    ap.add_argument("--stage1-lr", type=float, default=1e-3)
    ap.add_argument("--stage1-scale-lr", type=float, default=1e-4)
    ap.add_argument("--stage1-warmup", type=int, default=20)
    ap.add_argument("--stage2-steps", type=int, default=1000)
    ap.add_argument("--stage2-batch", type=int, default=32, help="states per step (each run cond and uncond)")
    ap.add_argument("--stage2-lr", type=float, default=3e-4)
    ap.add_argument("--stage2-scale-lr", type=float, default=3e-5)
    ap.add_argument("--stage2-warmup", type=int, default=50)
    ap.add_argument("--stage2-rounds", type=int, default=4, help="on-policy rollout rounds")
    ap.add_argument("--stage2-prompts", type=int, default=256, help="student rollouts per round")
    ap.add_argument("--stage2-ema", type=float, default=0.0,
                    help="export the exponential moving average of the stage-2 parameters with this decay (0: off)")
    ap.add_argument("--diff-weight", type=float, default=1.0, help="weight of the (cond - uncond) term")
    ap.add_argument("--train-full-precision", action="store_true",
                    help="stage 2 also trains embedders, norm_out, proj_out (they stay full precision in the file)")
    ap.add_argument("--checkpoint-every", type=int, default=100)
    args = ap.parse_args(argv)
    args.stages = {s.strip() for s in args.stages.split(",") if s.strip()}
    if not args.stages <= {"1", "2"} or not args.stages:
        ap.error("--stages takes 1, 2 or 1,2")
    args.work = args.work or args.out.with_name(args.out.name + ".work")
    if args.dtype is None:
        args.dtype = "bfloat16" if args.device == "cuda" else "float32"
    args.compute_dtype = getattr(torch, args.dtype)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device (torch.cuda.is_available() is False)")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    t_all = time.time()
    setup = Setup(args.teacher, args)
    log(f"teacher {args.teacher}: {setup.describe()}")
    prompts = load_prompts(args.prompts)
    report = read_json(args.work / "report.json", {})
    report.update({"teacher": str(args.teacher), "prompts": str(args.prompts), "n_prompts": len(prompts),
                   "sampling": setup.describe(), "args": {k: str(v) for k, v in vars(args).items()}})
    timings = report.setdefault("seconds", {})

    def timed(name, fn):
        t0 = time.time()
        out = fn()
        timings[name] = round(timings.get(name, 0) + time.time() - t0, 1)
        write_json(args.work / "report.json", report)
        return out

    text = timed("text", lambda: stage_text(setup, prompts, args.work, args.device,
                                            max_sequence_length=args.max_sequence_length))
    teacher, teacher_dtype = load_transformer(args.teacher, args.device, args.compute_dtype)
    for p in teacher.parameters():
        p.requires_grad_(False)
    timed("traj", lambda: stage_trajectories(setup, teacher, text, args.work, args))
    mse = report.setdefault("velocity_mse", {})
    if "naive" not in mse:
        mse["naive"] = velocity_mse(setup, naive_student(teacher), args.work, text, args)
        log(f"velocity MSE to the teacher, naive rounding: {mse['naive']}")
    student = None
    if "1" in args.stages:
        student = timed("stage1", lambda: stage1(setup, teacher, args.work, args))
        mse["stage1"] = velocity_mse(setup, student, args.work, text, args)
        log(f"velocity MSE to the teacher after stage 1: {mse['stage1']}")
        export(setup, student, teacher_dtype, args.work / "export-stage1")
    if "2" in args.stages:
        if student is None:
            student = assemble_student(teacher, args.work) if (args.work / "stage1" / "progress.json").exists() \
                else naive_student(teacher)
        student, history = timed("stage2", lambda: stage2(setup, teacher, student, text, args.work, args))
        report["stage2_history"] = history
        mse["stage2"] = velocity_mse(setup, student, args.work, text, args)
        log(f"velocity MSE to the teacher after stage 2: {mse['stage2']}")
    packed = export(setup, student, teacher_dtype, args.out)
    from safetensors.torch import save_file
    save_file({n + ".weight_scale": s for n, (q, s) in packed.items()}, str(args.work / "trained_scales.safetensors"))
    timings["total_this_run"] = round(time.time() - t_all, 1)
    write_json(args.work / "report.json", report)
    log(f"exported {len(packed)} ternary linears with their learned scales to {args.out} "
        f"(this run {timings['total_this_run']:.0f}s; report {args.work / 'report.json'})")


if __name__ == "__main__":
    main()
