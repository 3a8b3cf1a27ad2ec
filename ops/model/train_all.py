"""The whole recipe of the shipped model: tokenizers + text encoders, VAE, FLUX teacher, ternary student.

    nice -n 15 python3 ops/model/train_all.py --work /tmp/model-work --out models

Stages write into --work (checkpoints, caches, logs) and are skipped when their output exists, so a killed run
resumes at the stage it was in. Every stage is seeded; CPU only, torch.set_num_threads(--threads).
"""
import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import scenes  # noqa: E402
import text_stage  # noqa: E402

VAE_CONFIG = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                  up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 16, 32, 64), layers_per_block=1,
                  act_fn="silu", latent_channels=16, norm_num_groups=8, sample_size=128, scaling_factor=1.0,
                  shift_factor=0.0, use_quant_conv=False, use_post_quant_conv=False, mid_block_add_attention=True,
                  force_upcast=True)
TRANSFORMER_CONFIG = dict(patch_size=1, in_channels=64, out_channels=None, num_layers=2, num_single_layers=2,
                          attention_head_dim=32, num_attention_heads=3, joint_attention_dim=text_stage.TEXT_DIM,
                          pooled_projection_dim=text_stage.TEXT_DIM, guidance_embeds=False, axes_dims_rope=(8, 12, 12))
SCHEDULER_CONFIG = dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                        max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
DEFAULT_STEPS = 8
DEFAULT_CFG = 1.5        # true classifier-free guidance scale of the shipped models (1: none)
NEGATIVE_PROMPT = ""     # the unconditional prompt of classifier-free guidance (what caption dropout trains)
LATENT = 16          # 128 / 8


def lr_factor(step, steps, warmup):
    """Linear warm-up, then a cosine decay to 10 % of the peak at the last step."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, t)))


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def scene_batch(seed, start, n):
    imgs, caps = [], []
    for i in range(start, start + n):
        sc = scenes.scene_for_index(seed, i)
        imgs.append(sc.render())
        caps.append(sc.caption)
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return x, caps


# ---------------------------------------------------------------- stage 1: tokenizers + text encoders
def stage_text(work):
    out = work / "text"
    if (out / "done").exists():
        return
    from transformers import CLIPTokenizer, T5TokenizerFast
    out.mkdir(parents=True, exist_ok=True)
    clip_vocab, t5_vocab = text_stage.build_tokenizers(out)
    assert len(CLIPTokenizer.from_pretrained(out / "tokenizer")) == clip_vocab
    assert len(T5TokenizerFast.from_pretrained(out / "tokenizer_2")) == t5_vocab
    clip, t5 = text_stage.build_text_encoders(clip_vocab, t5_vocab)
    clip.save_pretrained(out / "text_encoder")
    t5.save_pretrained(out / "text_encoder_2")
    (out / "done").write_text("ok\n")
    log(f"text: CLIP vocab {clip_vocab}, T5 vocab {t5_vocab}")


def trained_text_dir(work):
    return work / "text_trained"


def load_tokenizers(work):
    """The CLIP and T5 tokenizers as trained on the grammar."""
    from transformers import CLIPTokenizer, T5TokenizerFast
    d = work / "text"
    return CLIPTokenizer.from_pretrained(d / "tokenizer"), T5TokenizerFast.from_pretrained(d / "tokenizer_2")


def load_text(work, initial=False):
    """Tokenizers (as trained on the grammar) and the text encoders: those trained with the teacher once the teacher
    stage has written them (work/text_trained), else (or with initial=True) the seeded initial ones."""
    from transformers import CLIPTextModel, T5EncoderModel
    d = work / "text"
    e = d if initial or not (trained_text_dir(work) / "done").exists() else trained_text_dir(work)
    tok, tok2 = load_tokenizers(work)
    return (tok, CLIPTextModel.from_pretrained(e / "text_encoder").eval(),
            tok2, T5EncoderModel.from_pretrained(e / "text_encoder_2").eval())


def cached_prompts():
    """The prompts whose embeddings training and distillation use: every caption of the grammar, then the empty
    negative prompt of classifier-free guidance (the last row)."""
    return text_stage.corpus() + [NEGATIVE_PROMPT]


def caption_token_ids(work):
    """CLIP and T5 input ids of cached_prompts(), tokenized exactly as FluxPipeline.encode_prompt does
    (padding to max_length, truncation; no attention mask anywhere)."""
    tok, tok2 = load_tokenizers(work)
    prompts = cached_prompts()
    clip_ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True,
                   return_tensors="pt").input_ids
    t5_ids = tok2(prompts, padding="max_length", max_length=text_stage.T5_MAX_SEQUENCE_LENGTH, truncation=True,
                  return_tensors="pt").input_ids
    return clip_ids, t5_ids


def clip_ids_to_first_eos(clip_ids, eos_id):
    """CLIP's attention is causal and its pooled output is the hidden state at the first end-of-text token, so the
    columns after the last caption's first EOS cannot change it: training runs CLIP on those columns only (about
    a fifth of the 77) and gets the same pooled output."""
    first_eos = (clip_ids == eos_id).int().argmax(dim=1)
    return clip_ids[:, :int(first_eos.max()) + 1]


def encode_ids(clip, t5, clip_ids, t5_ids):
    """(T5 last hidden state, CLIP pooled output): what encode_prompt returns as prompt_embeds / pooled_prompt_embeds."""
    return t5(t5_ids)[0], clip(clip_ids).pooler_output


@torch.no_grad()
def stage_text_cache(work):
    """T5 embeddings and CLIP pooled embeddings of cached_prompts(), computed with FluxPipeline's own encode_prompt
    (so training sees exactly what inference sees)."""
    trained = (trained_text_dir(work) / "done").exists()
    path = work / ("text_cache_trained.pt" if trained else "text_cache.pt")
    if path.exists():
        return torch.load(path)
    from diffusers import FluxPipeline
    tok, clip, tok2, t5 = load_text(work)
    pipe = FluxPipeline(scheduler=None, vae=None, text_encoder=clip, tokenizer=tok, text_encoder_2=t5,
                        tokenizer_2=tok2, transformer=None)
    prompts = cached_prompts()
    embeds, pooled = [], []
    for i in range(0, len(prompts), 256):
        pe, pp, _ = pipe.encode_prompt(prompt=prompts[i:i + 256], prompt_2=None,
                                       max_sequence_length=text_stage.T5_MAX_SEQUENCE_LENGTH)
        embeds.append(pe.float())
        pooled.append(pp.float())
    cache = {"prompts": prompts, "embeds": torch.cat(embeds), "pooled": torch.cat(pooled)}
    torch.save(cache, path)
    log(f"text cache: {len(prompts)} captions, embeds {tuple(cache['embeds'].shape)}")
    return cache


# ---------------------------------------------------------------- stage 2: VAE
def train_vae(vae, steps, batch, minutes, crop, seed, first_index, lr, name):
    """Reconstruction (MSE + 0.1 L1) + 1e-4 KL per pixel; crop: train on random crop x crop windows."""
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps, 50))
    crop_gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for step in range(steps):
        if time.time() - t0 > minutes * 60:
            log(f"{name}: time budget reached after {step} steps")
            break
        x, _ = scene_batch(1, first_index + step * batch, batch)
        if crop < scenes.SIZE:
            ox, oy = torch.randint(0, scenes.SIZE - crop + 1, (2,), generator=crop_gen).tolist()
            x = x[:, :, oy:oy + crop, ox:ox + crop]
        post = vae.encode(x).latent_dist
        rec = vae.decode(post.sample()).sample
        l_rec = F.mse_loss(rec, x) + 0.1 * F.l1_loss(rec, x)
        l_kl = post.kl().mean() / (x[0].numel())
        loss = l_rec + 1e-4 * l_kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 20 == 0 or step == steps - 1:
            log(f"{name} step {step}/{steps} rec {l_rec.item():.5f} kl {l_kl.item():.3f} ({time.time() - t0:.0f}s)")
    return vae.eval()


def stage_vae(work, steps, batch, minutes, full_steps, full_batch, full_minutes):
    """Two phases: random 64x64 crops (a quarter of the pixels, so 4x the steps per CPU second), then full
    128x128 images (what the pipeline decodes: borders and the mid-block attention at 16x16). Scaling and shift
    factors from the latents of 512 held-out scenes."""
    from diffusers import AutoencoderKL
    crops, out = work / "vae", work / "vae_full"
    if (out / "config.json").exists():
        return AutoencoderKL.from_pretrained(out).eval()
    if (crops / "config.json").exists():
        vae = AutoencoderKL.from_pretrained(crops)
    else:
        torch.manual_seed(2000)
        vae = train_vae(AutoencoderKL(**VAE_CONFIG), steps, batch, minutes, 64, 2001, 0, 1e-3, "vae")
        vae.save_pretrained(crops, safe_serialization=True)
    vae.train()
    vae = train_vae(vae, full_steps, full_batch, full_minutes, scenes.SIZE, 2002, 5 * 10 ** 6, 5e-4, "vae-full")
    with torch.no_grad():
        zs = torch.cat([vae.encode(scene_batch(2, i, 64)[0]).latent_dist.mean for i in range(0, 512, 64)])
    shift = zs.mean().item()
    scale = 1.0 / (zs - shift).std().item()
    vae.register_to_config(scaling_factor=round(scale, 6), shift_factor=round(shift, 6))
    vae.save_pretrained(out, safe_serialization=True)
    log(f"vae: scaling_factor {scale:.4f} shift_factor {shift:.4f}; reconstruction check {vae_ceiling(vae)}")
    return vae


@torch.no_grad()
def vae_ceiling(vae, n=240):
    """mini-GenEval (Python scorer) of encode -> decode of n held-out ground-truth scenes with their captions: the
    score a perfect transformer could reach through this VAE; plus the PSNR of the round trip."""
    import eval_py
    x, caps = scene_batch(7, 0, n)
    rec = torch.cat([vae.decode(vae.encode(x[i:i + 40]).latent_dist.mean).sample for i in range(0, n, 40)])
    mse = F.mse_loss(rec.clamp(-1, 1), x).item()
    images = [((im.permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8) for im in rec]
    return {"psnr_db": round(10 * math.log10(4 / mse), 2), "scores": eval_py.score(caps, images)}


@torch.no_grad()
def stage_latents(work, vae, n):
    """Normalised latents (z - shift) * scale of n training scenes (seed 1, indices from 10**6 so they are not
    the VAE's batches) and each scene's caption index into the text cache."""
    path = work / f"latents_{n}.pt"
    if path.exists():
        return torch.load(path)
    index = {p: i for i, p in enumerate(text_stage.corpus())}
    lat, cap = [], []
    t0 = time.time()
    for i in range(0, n, 128):
        x, caps = scene_batch(1, 10 ** 6 + i, min(128, n - i))
        z = vae.encode(x).latent_dist.mean
        lat.append(((z - vae.config.shift_factor) * vae.config.scaling_factor).half())
        cap += [index[c] for c in caps]
    data = {"latents": torch.cat(lat), "caption": torch.tensor(cap)}
    torch.save(data, path)
    log(f"latents: {n} scenes in {time.time() - t0:.0f}s")
    return data


# ---------------------------------------------------------------- stage 3: FLUX teacher (rectified flow)
def pack(z):
    from diffusers import FluxPipeline
    return FluxPipeline._pack_latents(z, z.shape[0], z.shape[1], z.shape[2], z.shape[3])


def image_ids():
    from diffusers import FluxPipeline
    return FluxPipeline._prepare_latent_image_ids(1, LATENT // 2, LATENT // 2, "cpu", torch.float32)


def velocity(model, x, sigma, embeds, pooled):
    txt_ids = torch.zeros(embeds.shape[1], 3)
    return model(hidden_states=x, timestep=sigma, encoder_hidden_states=embeds, pooled_projections=pooled,
                 img_ids=image_ids(), txt_ids=txt_ids, return_dict=False)[0]


def transformer_config(width, double, single):
    """FLUX layout at this size: heads of 32 channels (RoPE axes 8 + 12 + 12), T5/CLIP widths from the text stage."""
    if width % 32:
        raise SystemExit(f"--width must be a multiple of 32 (heads of 32 channels), got {width}")
    return dict(TRANSFORMER_CONFIG, num_layers=double, num_single_layers=single, num_attention_heads=width // 32)


def text_ids_for_training(work, clip):
    """(CLIP ids cut after the last first-EOS, T5 ids) of cached_prompts(); the cut is checked on `clip`, the
    encoder about to be trained."""
    full_clip_ids, t5_ids = caption_token_ids(work)
    clip_ids = clip_ids_to_first_eos(full_clip_ids, load_tokenizers(work)[0].eos_token_id)
    with torch.no_grad():
        gap = (clip(full_clip_ids).pooler_output - clip(clip_ids).pooler_output).abs().max().item()
    assert gap < 1e-4, f"CLIP pooled output changed when cut after the first EOS ({gap})"   # float rounding only
    return clip_ids, t5_ids


def save_nets(nets, transformer_dir, text_dir):
    nets["transformer"].save_pretrained(transformer_dir, safe_serialization=True)
    nets["clip"].save_pretrained(text_dir / "text_encoder", safe_serialization=True)
    nets["t5"].save_pretrained(text_dir / "text_encoder_2", safe_serialization=True)


def flow_training(work, nets, data, clip_ids, t5_ids, name, steps, batch, minutes, lr, ema_decay, warmup, seed,
                  stop_at=None, dropout=0.0, vae=None, eval_every=0, eval_cfg=(1.0,), sigma_shift=1.0):
    """Rectified flow as FLUX: x_t = (1 - s) x0 + s e, s ~ logit-normal(0, 1), target e - x0, on the transformer
    and both text encoders together (nets). AdamW, warm-up then cosine decay to 10 % over `steps`, EMA of the
    weights (returned: the EMA is the model). With dropout > 0, that share of the captions is replaced by the
    empty negative prompt (the last row of the ids), so the model also learns the unconditional velocity that
    classifier-free guidance needs. With vae and eval_every, the EMA is scored every eval_every steps with the
    Python scorer (10 prompts a category, at each classifier-free guidance scale of eval_cfg) and saved under
    work/<name>_snapshots as training feedback. With stop_at, training ends after that many steps of the
    schedule. sigma_shift > 1 moves the training noise levels up as the sampler's shift does
    (s -> shift*s / (1 + (shift - 1)*s), i.e. logit-normal(log shift, 1)); 1 keeps logit-normal(0, 1)."""
    import copy
    ema = copy.deepcopy(nets)
    ema.requires_grad_(False)
    nets.requires_grad_(True)
    opt = torch.optim.AdamW(nets.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps, warmup))
    g = torch.Generator().manual_seed(seed)
    lat, cap = data["latents"], data["caption"]
    empty = clip_ids.shape[0] - 1
    t0 = time.time()
    for step in range(steps):
        if time.time() - t0 > minutes * 60:
            log(f"{name}: time budget reached after {step} steps")
            break
        if stop_at is not None and step >= stop_at:
            log(f"{name}: stopping at step {step} of the {steps}-step schedule")
            break
        idx = torch.randint(0, lat.shape[0], (batch,), generator=g)
        x0 = pack(lat[idx].float())
        noise = torch.randn(x0.shape, generator=g)
        sigma = torch.sigmoid(torch.randn(batch, generator=g))          # logit-normal(0, 1), as SD3/FLUX
        if sigma_shift != 1.0:
            sigma = sigma_shift * sigma / (1 + (sigma_shift - 1) * sigma)
        xt = (1 - sigma[:, None, None]) * x0 + sigma[:, None, None] * noise
        c = cap[idx]
        if dropout > 0:      # drawn only then, so a run without dropout keeps the generator stream of before
            c = torch.where(torch.rand(batch, generator=g) < dropout, torch.full_like(c, empty), c)
        embeds, pooled = encode_ids(nets["clip"], nets["t5"], clip_ids[c], t5_ids[c])
        v = velocity(nets["transformer"], xt, sigma, embeds, pooled)
        loss = F.mse_loss(v, noise - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(nets.parameters(), 1.0)
        opt.step()
        sched.step()
        decay = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), nets.parameters()):
                pe.lerp_(pm, 1 - decay)
        if step % 50 == 0 or step == steps - 1:
            log(f"{name} step {step}/{steps} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e} ({time.time() - t0:.0f}s)")
        if vae is not None and eval_every and (step + 1) % eval_every == 0 and step + 1 < steps:
            import eval_py
            pipe = assemble(work, ema["transformer"].eval(), vae, ema["clip"].eval(), ema["t5"].eval())
            for scale in eval_cfg:
                table, _ = evaluate(pipe, eval_py.eval_prompts(per_category=10), true_cfg_scale=scale)
                log(f"{name} EMA at step {step + 1}, cfg {scale}: {json.dumps({k: round(v, 3) for k, v in table.items()})}")
            snapshot = work / f"{name}_snapshots" / f"step_{step + 1}"
            save_nets(ema, snapshot / "transformer", snapshot)
    log(f"{name}: {sum(p.numel() for p in ema['transformer'].parameters())} parameters, {time.time() - t0:.0f}s")
    return ema


def stage_teacher(work, data, config, steps, batch, minutes, lr=1e-3, ema_decay=0.999, vae=None, eval_every=0,
                  stop_at=None):
    """The teacher from scratch: flow_training of a seeded FluxTransformer2DModel together with the seeded initial
    CLIP and T5 encoders. FLUX gives text tokens no position (txt_ids are zero), so which colour goes with which
    shape, and which object is left of which, reaches the transformer only through the T5 outputs' context — in
    the random initial T5, "a red circle and a blue square" and "a blue circle and a red square" differ by ~3 % as
    sets of token vectors, against ~25 % for a changed word; so the encoders train too. Written to work/teacher
    and work/text_trained (snapshots: work/teacher_snapshots)."""
    from diffusers import FluxTransformer2DModel
    out = work / "teacher"
    if (out / "config.json").exists() and (trained_text_dir(work) / "done").exists():
        return FluxTransformer2DModel.from_pretrained(out).eval()
    _, clip, _, t5 = load_text(work, initial=True)
    clip_ids, t5_ids = text_ids_for_training(work, clip)
    torch.manual_seed(1000)
    model = FluxTransformer2DModel(**config)
    nets = torch.nn.ModuleDict({"transformer": model, "clip": clip, "t5": t5})
    log(f"teacher: {sum(p.numel() for p in model.parameters())} transformer parameters, config {config}; "
        f"text encoders trained with it ({sum(p.numel() for p in clip.parameters()) + sum(p.numel() for p in t5.parameters())} parameters)")
    ema = flow_training(work, nets, data, clip_ids, t5_ids, "teacher", steps, batch, minutes, lr, ema_decay, 200,
                        1001, stop_at=stop_at, vae=vae, eval_every=eval_every)
    save_nets(ema, out, trained_text_dir(work))
    (trained_text_dir(work) / "done").write_text("ok\n")
    return ema["transformer"].eval()


def stage_teacher_cfg(work, data, steps, batch, minutes, lr, ema_decay, dropout, vae=None, eval_every=0,
                      eval_cfg=(1.0,), sigma_shift=1.0):
    """Caption-dropout fine-tune of the teacher (transformer and text encoders, from their EMA), so that it knows
    the unconditional velocity of the empty prompt and can be sampled with classifier-free guidance. The teacher
    before it is kept as work/teacher_base and work/text_trained_base; the fine-tuned one replaces work/teacher
    and work/text_trained, so every later stage uses it."""
    import shutil
    from diffusers import FluxTransformer2DModel
    from transformers import CLIPTextModel, T5EncoderModel
    marker = work / "teacher_cfg_done"
    if marker.exists():
        return FluxTransformer2DModel.from_pretrained(work / "teacher").eval()
    base, text_base = work / "teacher_base", work / "text_trained_base"
    if not (text_base / "done").exists():
        for src, dst in ((work / "teacher", base), (trained_text_dir(work), text_base)):
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst)
    nets = torch.nn.ModuleDict({"transformer": FluxTransformer2DModel.from_pretrained(base),
                                "clip": CLIPTextModel.from_pretrained(text_base / "text_encoder"),
                                "t5": T5EncoderModel.from_pretrained(text_base / "text_encoder_2")})
    clip_ids, t5_ids = text_ids_for_training(work, nets["clip"])
    log(f"teacher-cfg: fine-tune with caption dropout {dropout}, {steps} steps, lr {lr}")
    ema = flow_training(work, nets, data, clip_ids, t5_ids, "teacher_cfg", steps, batch, minutes, lr, ema_decay,
                        100, 1002, dropout=dropout, vae=vae, eval_every=eval_every, eval_cfg=eval_cfg,
                        sigma_shift=sigma_shift)
    save_nets(ema, work / "teacher", trained_text_dir(work))
    stale = work / "text_cache_trained.pt"       # embeddings of the encoders before the fine-tune
    if stale.exists():
        stale.unlink()
    marker.write_text("ok\n")
    return ema["transformer"].eval()


# ---------------------------------------------------------------- pipeline assembly + eval
def assemble(work, transformer, vae, clip=None, t5=None):
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline
    tok, stored_clip, tok2, stored_t5 = load_text(work)
    clip, t5 = clip or stored_clip, t5 or stored_t5
    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**SCHEDULER_CONFIG), vae=vae, text_encoder=clip,
                        tokenizer=tok, text_encoder_2=t5, tokenizer_2=tok2, transformer=transformer)


@torch.no_grad()
def evaluate(pipe, prompts, seed=0, batch=32, true_cfg_scale=None):
    """Python-scorer table and the images; true_cfg_scale > 1 samples with classifier-free guidance against the
    empty negative prompt (FluxPipeline's true CFG); default DEFAULT_CFG."""
    import eval_py
    scale = DEFAULT_CFG if true_cfg_scale is None else true_cfg_scale
    images = []
    for i in range(0, len(prompts), batch):
        g = torch.Generator().manual_seed(seed + i)
        chunk = prompts[i:i + batch]
        cfg = dict(true_cfg_scale=scale, negative_prompt=[NEGATIVE_PROMPT] * len(chunk)) if scale > 1 else {}
        out = pipe(prompt=chunk, height=128, width=128, num_inference_steps=DEFAULT_STEPS,
                   max_sequence_length=text_stage.T5_MAX_SEQUENCE_LENGTH, generator=g, output_type="np", **cfg)
        images += [(im * 255).round().clip(0, 255).astype(np.uint8) for im in out.images]
    return eval_py.score(prompts, images), images


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/model-work"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vae-steps", type=int, default=2000)
    ap.add_argument("--vae-minutes", type=float, default=12)
    ap.add_argument("--vae-full-steps", type=int, default=1000)
    ap.add_argument("--vae-full-batch", type=int, default=4)
    ap.add_argument("--vae-full-minutes", type=float, default=6)
    ap.add_argument("--teacher-minutes", type=float, default=30)
    ap.add_argument("--vae-batch", type=int, default=8)
    ap.add_argument("--scenes", type=int, default=2048)
    ap.add_argument("--teacher-steps", type=int, default=4000)
    ap.add_argument("--teacher-batch", type=int, default=64)
    ap.add_argument("--teacher-lr", type=float, default=1e-3)
    ap.add_argument("--teacher-ema", type=float, default=0.999)
    ap.add_argument("--teacher-stop-at", type=int, default=None,
                    help="end teacher training after this many steps of the --teacher-steps schedule")
    ap.add_argument("--width", type=int, default=128, help="transformer inner width (heads of 32)")
    ap.add_argument("--double", type=int, default=3, help="double-stream blocks")
    ap.add_argument("--single", type=int, default=3, help="single-stream blocks")
    ap.add_argument("--eval-every", type=int, default=0, help="score the teacher EMA every N steps (feedback)")
    ap.add_argument("--cfg-steps", type=int, default=0,
                    help="caption-dropout fine-tune of the teacher for classifier-free guidance (0: none)")
    ap.add_argument("--cfg-batch", type=int, default=64)
    ap.add_argument("--cfg-lr", type=float, default=3e-4)
    ap.add_argument("--cfg-dropout", type=float, default=0.1)
    ap.add_argument("--cfg-minutes", type=float, default=40)
    ap.add_argument("--cfg-eval-every", type=int, default=0)
    ap.add_argument("--cfg-sigma-shift", type=float, default=1.0,
                    help="shift of the fine-tune's training noise levels (1: logit-normal(0, 1) as the teacher)")
    ap.add_argument("--stop-after", choices=["text", "vae", "latents", "teacher"], default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(0)
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    stage_text(args.work)
    if args.stop_after == "text":
        return
    vae = stage_vae(args.work, args.vae_steps, args.vae_batch, args.vae_minutes, args.vae_full_steps, args.vae_full_batch, args.vae_full_minutes)
    if args.stop_after == "vae":
        return
    data = stage_latents(args.work, vae, args.scenes)
    if args.stop_after == "latents":
        return
    stage_teacher(args.work, data, transformer_config(args.width, args.double, args.single), args.teacher_steps,
                  args.teacher_batch, args.teacher_minutes, args.teacher_lr, args.teacher_ema, vae, args.eval_every,
                  args.teacher_stop_at)
    if args.cfg_steps:
        stage_teacher_cfg(args.work, data, args.cfg_steps, args.cfg_batch, args.cfg_minutes, args.cfg_lr,
                          args.teacher_ema, args.cfg_dropout, vae, args.cfg_eval_every, eval_cfg=(1.0, 2.0, 3.0, 4.0),
                          sigma_shift=args.cfg_sigma_shift)
    stage_text_cache(args.work)      # embeddings of every caption through the trained encoders (for finish.py)
    log(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
