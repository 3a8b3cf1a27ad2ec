"""Checks of the Python i2 writer against the layout of ternary_formats.h, by hand-placed weights.
Run: python3 ops/model/test_export.py"""
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import distill  # noqa: E402
import export  # noqa: E402


def main():
    q = np.zeros((2, 130), np.int8)
    q[0, 0] = 1        # byte 0, bits 0-1: code 2
    q[0, 32] = -1      # byte 0, bits 2-3: code 0
    q[0, 97] = 1       # byte 1 (j = 1), s = 3: bits 6-7: code 2
    q[1, 129] = -1     # block 1, byte 32 + 1, bits 0-1: code 0
    p = export.pack_i2(q)
    assert p.shape == (2, 64)
    assert p[0, 0] == (2 | 0 << 2 | 1 << 4 | 1 << 6), bin(p[0, 0])
    assert p[0, 1] == (1 | 1 << 2 | 1 << 4 | 2 << 6), bin(p[0, 1])
    assert p[0, 2] == 0x55 and p[0, 40] == 0x55          # all zeros -> code 1 everywhere
    assert p[1, 33] == (0 | 1 << 2 | 1 << 4 | 1 << 6)
    rng = np.random.default_rng(0)
    for k in (1, 127, 128, 129, 300):
        r = rng.integers(-1, 2, size=(5, k)).astype(np.int8)
        assert (export.unpack_i2(export.pack_i2(r), k) == r).all()
    # absmean rule: hand-computed row
    w = torch.tensor([[1.0, -0.5, 0.5, 2.0], [0.0, 0.0, 0.0, 0.0]])
    wq, g = distill.absmean_ternarize(w)
    assert torch.allclose(g, torch.tensor([1.0, 1e-5]))
    assert wq.tolist() == [[1, 0, 0, 1], [0, 0, 0, 0]]           # 0.5 rounds half to even -> 0
    # STE: forward equals gamma*W_q, gradient reaches the latent weight unchanged
    lin = torch.nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(w)
    t = distill.TernaryLinear(lin)
    x = torch.ones(1, 4)
    y = t(x)
    assert torch.allclose(y, torch.tensor([[2.0, 0.0]]))
    y.sum().backward()
    assert torch.allclose(t.weight.grad, torch.ones(2, 4))
    guided_trajectories()
    print("export: OK")


def guided_trajectories():
    """distill.teacher_trajectories with classifier-free guidance: both velocities are stored, the negative
    prompt's is the teacher's on the empty prompt, and every Euler step uses neg + cfg * (cond - neg)."""
    from diffusers import FluxTransformer2DModel
    import train_all
    torch.manual_seed(0)
    config = dict(train_all.transformer_config(32, 1, 1), num_attention_heads=1)
    teacher = FluxTransformer2DModel(**config).eval()
    prompts = ["a red circle", "a blue square", train_all.NEGATIVE_PROMPT]
    cache = {"prompts": prompts, "embeds": torch.randn(3, 32, 64), "pooled": torch.randn(3, 64)}
    traj = distill.teacher_trajectories(teacher, cache, prompts[:2], cfg=2.0)
    sig = distill.sigmas_for_sampling()
    steps = len(sig) - 1
    assert traj["x"].shape[0] == 2 * steps and traj["v_uncond"].shape == traj["v"].shape
    with torch.no_grad():
        vu = train_all.velocity(teacher, traj["x"][:2], traj["sigma"][:2], cache["embeds"][[2, 2]], cache["pooled"][[2, 2]])
    assert torch.allclose(vu, traj["v_uncond"][:2], atol=1e-5)
    guided = traj["v_uncond"][:2] + 2.0 * (traj["v"][:2] - traj["v_uncond"][:2])
    assert torch.allclose(traj["x"][2:4], traj["x"][:2] + (sig[1] - sig[0]) * guided, atol=1e-5)
    assert "v_uncond" not in distill.teacher_trajectories(teacher, cache, prompts[:2], cfg=1.0)


if __name__ == "__main__":
    main()
