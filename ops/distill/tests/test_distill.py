"""Torch tests of ops/distill/distill.py on the tiny random fixture pipeline (Tests/Fixtures/tiny-flux):

  - the teacher trajectories are the states FluxPipeline itself visits (same noise, same prompt, true CFG);
  - the ternary layer set: every nn.Linear inside the double and single blocks, nothing outside them;
  - the export: ternary weights exactly scale * {-1, 0, +1}, scales equal to the trained parameters bit for bit,
    and the exported folder loads in diffusers and gives the student's velocity;
  - the export of a --stage2-ema run is the parameter average, not the last step;
  - resume: a run killed right after a stage-1 checkpoint and again after a stage-2 checkpoint, then rerun,
    exports bit for bit what an uninterrupted run exports (the EMA included).

    python3 ops/distill/tests/test_distill.py            (or: bash ops/distill/test.sh)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
import distill  # noqa: E402

TINY = ROOT / "Tests" / "Fixtures" / "tiny-flux"
FLAGS = ["--height", "64", "--width", "64", "--steps", "3", "--cfg", "2", "--max-sequence-length", "16",
         "--traj-prompts", "4", "--traj-batch", "2", "--cache-batch", "8", "--stage1-steps", "12", "--stage1-batch", "8",
         "--stage2-steps", "12", "--stage2-batch", "4", "--stage2-rounds", "2", "--stage2-prompts", "2",
         "--checkpoint-every", "5", "--threads", "1", "--train-full-precision", "--stage2-ema", "0.9"]


def run_distill(out, work, prompts, env_extra=None):
    env = dict(os.environ, TERNFLUX_DISTILL_NO_BARS="1", OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run([sys.executable, str(HERE.parent / "distill.py"), str(TINY), str(out), "--prompts",
                           str(prompts), "--work", str(work)] + FLAGS, env=env, capture_output=True, text=True)


class DistillTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="distill-test-"))
        cls.prompts = cls.tmp / "prompts.txt"
        cls.prompts.write_text("a red circle and a red square\ntwo squares\na circle above a square\n"
                               "a blue triangle and a green triangle\n")
        cls.full = run_distill(cls.tmp / "full", cls.tmp / "full.work", cls.prompts)
        assert cls.full.returncode == 0, cls.full.stdout + cls.full.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_trajectories_match_flux_pipeline(self):
        from diffusers import FluxPipeline
        work = self.tmp / "full.work"
        args = distill.parse_args([str(TINY), str(self.tmp / "x"), "--prompts", str(self.prompts)] + FLAGS)
        setup = distill.Setup(TINY, args)
        meta = distill.read_json(work / "traj" / "meta.json")
        text = torch.load(work / "text.pt")
        X = np.load(work / "traj" / "x.npy")
        prompt = text["prompts"][meta["chosen"][0]]
        pipe = FluxPipeline.from_pretrained(TINY, torch_dtype=torch.float32)
        seen = []
        pipe(prompt=prompt, negative_prompt="", true_cfg_scale=2.0, height=64, width=64, num_inference_steps=3,
             guidance_scale=3.5, max_sequence_length=16, latents=torch.from_numpy(X[0:1].copy()), output_type="latent",
             callback_on_step_end=lambda p, i, t, kw: (seen.append(kw["latents"].clone()), kw)[1])
        for k in range(1, setup.steps):
            diff = (seen[k - 1] - torch.from_numpy(X[k:k + 1])).abs().max().item()
            self.assertLess(diff, 1e-4, f"state {k} differs from FluxPipeline's by {diff}")

    def test_layer_set(self):
        from diffusers import FluxTransformer2DModel
        teacher = FluxTransformer2DModel.from_pretrained(TINY / "transformer")
        student = distill.naive_student(teacher)
        ternary = {n for n, m in student.named_modules() if isinstance(m, distill.TernaryLinear)}
        linears = {n for n, m in teacher.named_modules() if isinstance(m, torch.nn.Linear)}
        inside = {n for n in linears if n.startswith(distill.TERNARY_PREFIXES)}
        self.assertEqual(ternary, inside)
        self.assertTrue(any(n.startswith("x_embedder") for n in linears - ternary))
        self.assertTrue(any(n.startswith("proj_out") for n in linears - ternary))
        self.assertTrue(any(n.startswith("norm_out") for n in linears - ternary))
        # step 0 is naive absmean rounding
        m = next(m for n, m in student.named_modules() if isinstance(m, distill.TernaryLinear))
        w = m.weight.detach()
        g = w.abs().mean(dim=1).clamp_min(1e-5)
        self.assertTrue(torch.equal(m.effective_weight().detach(), torch.clamp(torch.round(w / g[:, None]), -1, 1) * g[:, None]))

    def test_ternary_gradient_passes_codes_of_both_signs(self):
        """The straight-through gradient reaches every weight whose rounded value is in [-1, 1] — the ±1 codes
        included (composed from torch.clamp, torch 2.15 gave those none) — and no weight that rounds beyond."""
        lin = torch.nn.Linear(4, 2, bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor([[-2.0, -1.0, 0.2, 1.4], [1.6, 0.0, -1.45, 1.5]]))
        m = distill.TernaryLinear(lin)
        with torch.no_grad():
            m.scale.fill_(1.0)
        m.effective_weight().sum().backward()
        # codes: round half to even, clamped: [-1, -1, 0, 1], [1, 0, -1, 1]; 1.5 rounds to 2 (outside), 2.5 not used
        self.assertEqual(m.codes().tolist(), [[-1, -1, 0, 1], [1, 0, -1, 1]])
        self.assertEqual(m.weight.grad.tolist(), [[0, 1, 1, 1], [0, 1, 1, 0]])
        # the scale's gradient (LSQ): d/ds of s * q(W/s) summed over the row, with q's straight-through part
        w, s = m.weight.detach(), torch.ones(2)
        q = torch.clamp(torch.round(w / s[:, None]), -1, 1)
        inside = (torch.round(w / s[:, None]).abs() <= 1).float()
        expected = (q - inside * w / s[:, None]).sum(dim=1)
        self.assertTrue(torch.allclose(m.scale.grad, expected), (m.scale.grad, expected))

    def test_export_holds_trained_scales_exactly(self):
        from safetensors import safe_open
        from diffusers import FluxTransformer2DModel
        work = self.tmp / "full.work"
        ck = torch.load(work / "stage2" / "ckpt.pt", weights_only=False)
        state = dict(ck["student"])
        # --stage2-ema: the export is the average of the trained parameters, not the last step's
        self.assertTrue(set(ck["ema"]) and set(ck["ema"]) <= set(state))
        self.assertTrue(any(not torch.equal(state[k], v) for k, v in ck["ema"].items()))
        state.update(ck["ema"])
        with safe_open(str(self.tmp / "full" / "transformer" / "diffusion_pytorch_model.safetensors"), "pt") as f, \
                safe_open(str(work / "trained_scales.safetensors"), "pt") as t:
            scales = [k for k in f.keys() if k.endswith(".weight_scale")]
            self.assertEqual(len(scales), 40)
            self.assertEqual(set(scales), set(t.keys()))
            for k in scales:
                s = f.get_tensor(k)
                self.assertEqual(s.dtype, torch.float32)
                trained = state[k.replace(".weight_scale", ".scale")].float()
                self.assertTrue(torch.equal(s.view(torch.int32), trained.view(torch.int32)), k)
                self.assertTrue(torch.equal(t.get_tensor(k).view(torch.int32), trained.view(torch.int32)), k)
                w = f.get_tensor(k.replace("_scale", ""))
                q = w / s[:, None]
                self.assertTrue(bool(((q == 0) | (q == 1) | (q == -1)).all()), k)
                self.assertTrue(torch.equal(w, q * s[:, None]), k)
        # the export is a diffusers folder that gives the student's velocity
        back = FluxTransformer2DModel.from_pretrained(self.tmp / "full" / "transformer").float().eval()
        teacher = FluxTransformer2DModel.from_pretrained(TINY / "transformer")
        student = distill.naive_student(teacher)
        student.load_state_dict(state)
        args = distill.parse_args([str(TINY), str(self.tmp / "x"), "--prompts", str(self.prompts)] + FLAGS)
        setup = distill.Setup(TINY, args)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(2, setup.tokens, setup.channels, generator=g)
        e = torch.randn(2, 16, teacher.config.joint_attention_dim, generator=g)
        p = torch.randn(2, teacher.config.pooled_projection_dim, generator=g)
        s = torch.tensor([0.9, 0.4])
        with torch.no_grad():
            a = setup.velocity(student.eval(), x, s, e, p)
            b = setup.velocity(back, x, s, e, p)
        # full-precision tensors are stored in the teacher file's dtype (F32 for tiny-flux, BF16 for models/teacher)
        self.assertLess((a - b).abs().max().item(), 0.05 * a.abs().max().item())

    def test_resume_after_kills_is_bit_identical(self):
        work = self.tmp / "killed.work"
        first = run_distill(self.tmp / "killed", work, self.prompts, {"TERNFLUX_DISTILL_DIE_AT": "stage1:5"})
        self.assertEqual(first.returncode, 75, first.stdout + first.stderr)
        self.assertFalse((self.tmp / "killed").exists())
        second = run_distill(self.tmp / "killed", work, self.prompts, {"TERNFLUX_DISTILL_DIE_AT": "stage2:10"})
        self.assertEqual(second.returncode, 75, second.stdout + second.stderr)
        self.assertIn("resumed at step 5", second.stdout)
        third = run_distill(self.tmp / "killed", work, self.prompts)
        self.assertEqual(third.returncode, 0, third.stdout + third.stderr)
        self.assertIn("stage2: resumed at step 10", third.stdout)
        from safetensors.torch import load_file
        a = load_file(str(self.tmp / "full" / "transformer" / "diffusion_pytorch_model.safetensors"))
        b = load_file(str(self.tmp / "killed" / "transformer" / "diffusion_pytorch_model.safetensors"))
        self.assertEqual(set(a), set(b))
        for k in a:
            self.assertTrue(torch.equal(a[k], b[k]), f"{k} differs after resume")


if __name__ == "__main__":
    unittest.main(verbosity=2)
