"""Ternary student by image-free self-distillation (issue 5 item 3).

Every nn.Linear inside transformer_blocks.* / single_transformer_blocks.* (issue 2 item 5's layer set) becomes a
TernaryLinear: its latent fp32 weight W is used in the forward as the absmean ternarization
    gamma_n = max(mean_k |W[n,k]|, 1e-5),  W_q = clamp(round_half_even(W / gamma_n), -1, 1),  W_eff = gamma_n * W_q
with a straight-through estimator (gradient of W_eff taken as identity w.r.t. W). The student starts as the teacher
(so at step 0 it IS the naive-rounding baseline) and is trained to match the teacher's velocity at the states of
the teacher's own Euler sampling trajectories, started from noise with calibration prompts only — no images.
The trajectories are sampled as the shipped models are (classifier-free guidance at train_all.DEFAULT_CFG), and the
student matches both velocities guidance combines: on the prompt and on the empty negative prompt.
"""
import copy
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import scenes
import text_stage
from train_all import DEFAULT_CFG, DEFAULT_STEPS, LATENT, NEGATIVE_PROMPT, SCHEDULER_CONFIG, log, velocity

UNCONDITIONAL_SHARE = 0.3    # share of distillation samples on the negative prompt (the unconditional velocity)

TERNARY_PREFIXES = ("transformer_blocks.", "single_transformer_blocks.")


def absmean_ternarize(w):
    """-> (W_q int8 [N,K], gamma fp32 [N]) by the tensor core's rule (torch.round is half-to-even)."""
    gamma = w.abs().mean(dim=1).clamp_min(1e-5)
    q = torch.clamp(torch.round(w / gamma[:, None]), -1, 1)
    return q.to(torch.int8), gamma


class TernaryLinear(nn.Module):
    def __init__(self, linear):
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().clone().float())
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone().float())

    def effective_weight(self):
        q, gamma = absmean_ternarize(self.weight)
        wq = q.float() * gamma[:, None]
        return self.weight + (wq - self.weight).detach()     # straight-through estimator

    def forward(self, x):
        return F.linear(x, self.effective_weight(), self.bias)


def ternary_linear_names(model):
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.startswith(TERNARY_PREFIXES)]


def make_student(teacher):
    student = copy.deepcopy(teacher).float()
    names = ternary_linear_names(student)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = student.get_submodule(parent_name)
        setattr(parent, child, TernaryLinear(getattr(parent, child)))
    return student, names


@torch.no_grad()
def freeze_to_plain(student, names):
    """A plain FluxTransformer2DModel whose ternary linears hold exactly gamma * W_q (for the diffusers pipeline
    and for the ternary export), plus {name: (W_q, gamma)}."""
    plain = copy.deepcopy(student)
    packed = {}
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = plain.get_submodule(parent_name)
        t = getattr(parent, child)
        q, gamma = absmean_ternarize(t.weight)
        lin = nn.Linear(t.weight.shape[1], t.weight.shape[0], bias=t.bias is not None)
        lin.weight.copy_(q.float() * gamma[:, None])
        if t.bias is not None:
            lin.bias.copy_(t.bias)
        setattr(parent, child, lin)
        packed[name] = (q, gamma)
    return plain.eval(), packed


def sigmas_for_sampling(steps=DEFAULT_STEPS):
    """The sigmas FluxPipeline uses for a 128x128 image (image_seq_len 64) with this scheduler config."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.flux.pipeline_flux import calculate_shift, retrieve_timesteps
    sched = FlowMatchEulerDiscreteScheduler(**SCHEDULER_CONFIG)
    seq = (LATENT // 2) ** 2
    mu = calculate_shift(seq, sched.config.base_image_seq_len, sched.config.max_image_seq_len,
                         sched.config.base_shift, sched.config.max_shift)
    retrieve_timesteps(sched, steps, "cpu", sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
    return sched.sigmas.float()


def calibration_prompts(n, seed=3):
    """Calibration prompts: captions only, drawn from the grammar with a stream disjoint from training/eval."""
    return [scenes.scene_for_index(seed, i).caption for i in range(n)]


@torch.no_grad()
def teacher_trajectories(teacher, cache, prompts, seed=4, batch=32, cfg=DEFAULT_CFG):
    """States x_t, sigma, caption index and the teacher's velocities at every step of its own Euler sampling with
    classifier-free guidance at `cfg`: on the prompt (v) and, with cfg > 1, on the negative prompt (v_uncond);
    the step uses v_uncond + cfg * (v - v_uncond) as FluxPipeline does."""
    index = {p: i for i, p in enumerate(cache["prompts"])}
    neg = index[NEGATIVE_PROMPT]
    sig = sigmas_for_sampling()
    g = torch.Generator().manual_seed(seed)
    xs, ss, cs, vs, vus, finals, final_caps = [], [], [], [], [], [], []
    for i in range(0, len(prompts), batch):
        caps = torch.tensor([index[p] for p in prompts[i:i + batch]])
        b = len(caps)
        x = torch.randn((b, (LATENT // 2) ** 2, 64), generator=g)
        e, p = cache["embeds"][caps], cache["pooled"][caps]
        negs = torch.full_like(caps, neg)
        for k in range(len(sig) - 1):
            s = sig[k].expand(b)
            v = velocity(teacher, x, s, e, p)
            xs.append(x.clone()); ss.append(s.clone()); cs.append(caps); vs.append(v)
            if cfg > 1:
                vu = velocity(teacher, x, s, cache["embeds"][negs], cache["pooled"][negs])
                vus.append(vu)
                v = vu + cfg * (v - vu)
            x = x + (sig[k + 1] - sig[k]) * v
        finals.append(x); final_caps.append(caps)
    out = {"x": torch.cat(xs), "sigma": torch.cat(ss), "caption": torch.cat(cs), "v": torch.cat(vs),
           "x0": torch.cat(finals), "x0_caption": torch.cat(final_caps), "cfg": cfg}
    if vus:
        out["v_uncond"] = torch.cat(vus)
    return out


def distill(teacher, cache, work, n_prompts, steps, batch, minutes, lr=1e-3, train_full_precision=False):
    """Half of every batch: states of the teacher's own 8-step sampling trajectories (the states the student meets
    at inference), with the teacher's velocity there. The other half: the teacher's own final samples re-noised
    to a random sigma (logit-normal, as in training), with the teacher's velocity computed on the fly — so the
    student also matches the teacher between and around the sampling sigmas. With guided trajectories, a share
    UNCONDITIONAL_SHARE of each half is on the negative prompt (target: the teacher's unconditional velocity).
    No image enters anywhere. Trained: the block parameters (ternary linears through the straight-through
    estimator, their biases, the blocks' norms), and with train_full_precision also the parameters that stay in
    full precision in the shipped file (embedders, norm_out, proj_out), so they can make up for the rounding."""
    from train_all import lr_factor
    out = work / "student.pt"
    student, names = make_student(teacher)
    if out.exists():
        student.load_state_dict(torch.load(out))
        return student, names
    t0 = time.time()
    traj_path = work / f"trajectories_{n_prompts}.pt"
    if traj_path.exists():
        traj = torch.load(traj_path)
    else:
        traj = teacher_trajectories(teacher, cache, calibration_prompts(n_prompts))
        torch.save(traj, traj_path)
        log(f"distill: {traj['x'].shape[0]} teacher states from {n_prompts} calibration prompts ({time.time() - t0:.0f}s)")
    params = [p for n, p in student.named_parameters() if train_full_precision or n.startswith(TERNARY_PREFIXES)]
    for n, p in student.named_parameters():
        p.requires_grad_(train_full_precision or n.startswith(TERNARY_PREFIXES))
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps, 100))
    g = torch.Generator().manual_seed(5)
    n, n0 = traj["x"].shape[0], traj["x0"].shape[0]
    half = batch // 2
    guided = "v_uncond" in traj
    neg = cache["prompts"].index(NEGATIVE_PROMPT)
    t1 = time.time()
    for step in range(steps):
        if time.time() - t1 > minutes * 60:
            log(f"distill: time budget reached after {step} steps")
            break
        idx = torch.randint(0, n, (batch - half,), generator=g)
        j = torch.randint(0, n0, (half,), generator=g)
        sigma = torch.sigmoid(torch.randn(half, generator=g))
        noise = torch.randn(traj["x0"][j].shape, generator=g)
        xr = (1 - sigma[:, None, None]) * traj["x0"][j] + sigma[:, None, None] * noise
        cj = traj["x0_caption"][j]
        ci, vi = traj["caption"][idx], traj["v"][idx]
        if guided:           # drawn only then, so unguided runs keep the generator stream of before
            ui = torch.rand(len(idx), generator=g) < UNCONDITIONAL_SHARE
            ci = torch.where(ui, torch.full_like(ci, neg), ci)
            vi = torch.where(ui[:, None, None], traj["v_uncond"][idx], vi)
            cj = torch.where(torch.rand(half, generator=g) < UNCONDITIONAL_SHARE, torch.full_like(cj, neg), cj)
        with torch.no_grad():
            vr = velocity(teacher, xr, sigma, cache["embeds"][cj], cache["pooled"][cj])
        c = torch.cat([ci, cj])
        x = torch.cat([traj["x"][idx], xr])
        s = torch.cat([traj["sigma"][idx], sigma])
        target = torch.cat([vi, vr])
        v = velocity(student, x, s, cache["embeds"][c], cache["pooled"][c])
        loss = F.mse_loss(v, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"distill step {step}/{steps} loss {loss.item():.5f} ({time.time() - t1:.0f}s)")
    torch.save(student.state_dict(), out)
    return student, names


@torch.no_grad()
def velocity_gap(model, teacher, cache, traj_path, n=256):
    traj = torch.load(traj_path)
    idx = torch.arange(min(n, traj["x"].shape[0]))
    c = traj["caption"][idx]
    v = velocity(model, traj["x"][idx], traj["sigma"][idx], cache["embeds"][c], cache["pooled"][c])
    return F.mse_loss(v, traj["v"][idx]).item()
