"""After train_all.py: naive ternary baseline, image-free distillation, eval of all three with the Python
reference scorer through the diffusers FluxPipeline, and the committed folders models/teacher, models/default.

    nice -n 15 python3 ops/model/finish.py --work /tmp/model-work --out models
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import distill
import eval_py
import export
import text_stage
import train_all
from train_all import log


def grid(prompts, images, path, cols=6):
    rows = (len(images) + cols - 1) // cols
    g = Image.new("RGB", (cols * 130, rows * 130), (255, 255, 255))
    for i, im in enumerate(images):
        g.paste(Image.fromarray(im), ((i % cols) * 130 + 1, (i // cols) * 130 + 1))
    g.save(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/model-work"))
    ap.add_argument("--out", type=Path, default=Path("models"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calibration-prompts", type=int, default=256)
    ap.add_argument("--distill-steps", type=int, default=3000)
    ap.add_argument("--distill-batch", type=int, default=64)
    ap.add_argument("--distill-lr", type=float, default=1e-3)
    ap.add_argument("--distill-minutes", type=float, default=12)
    ap.add_argument("--distill-full-precision", action="store_true",
                    help="also train the student's full-precision parameters (embedders, norm_out, proj_out)")
    ap.add_argument("--eval-per-category", type=int, default=20)
    ap.add_argument("--ternflux", default=None, help="ternflux binary for the i2 conversion (else the Python writer)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    work = args.work
    cache = train_all.stage_text_cache(work)
    vae = AutoencoderKL.from_pretrained(work / "vae_full").eval()
    teacher32 = FluxTransformer2DModel.from_pretrained(work / "teacher").eval()
    # the shipped teacher is BF16: everything below uses the BF16-rounded weights (computed in fp32)
    teacher = FluxTransformer2DModel.from_pretrained(work / "teacher").to(torch.bfloat16).float().eval()
    del teacher32
    prompts = eval_py.eval_prompts(per_category=args.eval_per_category)
    results = {}
    t0 = time.time()

    pipe = train_all.assemble(work, teacher, vae)
    export.save_pipeline(pipe, args.out / "teacher",
                         lambda d: teacher.to(torch.bfloat16).save_pretrained(d, safe_serialization=True), work / "text")
    teacher.float()
    table, images = train_all.evaluate(pipe, prompts)
    results["teacher (bf16 weights)"] = table
    grid(prompts[::max(1, args.eval_per_category // 2)][:12], images[::max(1, args.eval_per_category // 2)][:12], work / "grid_teacher.png")
    log(f"teacher eval {table} ({time.time() - t0:.0f}s)")

    naive_student, names = distill.make_student(teacher)
    naive, _ = distill.freeze_to_plain(naive_student, names)
    pipe.transformer = naive
    table, _ = train_all.evaluate(pipe, prompts)
    results["naive ternary (absmean rounding)"] = table
    log(f"naive eval {table} ({time.time() - t0:.0f}s) — {len(names)} ternary linears")

    student, names = distill.distill(teacher, cache, work, args.calibration_prompts, args.distill_steps,
                                     args.distill_batch, args.distill_minutes, args.distill_lr,
                                     args.distill_full_precision)
    plain, packed = distill.freeze_to_plain(student, names)
    traj = work / f"trajectories_{args.calibration_prompts}.pt"
    gaps = {"naive": distill.velocity_gap(naive, teacher, cache, traj),
            "distilled": distill.velocity_gap(plain, teacher, cache, traj)}
    log(f"velocity MSE to teacher on calibration states: {gaps}")
    # the shipped student: a quantizable full-precision export, converted by the Swift `ternflux quantize`
    fp_dir = work / "student-fp"
    export.save_pipeline(pipe, fp_dir, lambda d: export.save_quantizable_transformer(plain, packed, d), work / "text")
    dst = args.out / "default"
    if args.ternflux:
        import shutil
        import subprocess
        if dst.exists():
            shutil.rmtree(dst)
        run = subprocess.run([args.ternflux, "quantize", str(fp_dir), str(dst)], capture_output=True, text=True)
        log(f"ternflux quantize rc {run.returncode}: {run.stdout.strip()} {run.stderr.strip()}")
        if run.returncode != 0:
            raise SystemExit("ternflux quantize failed")
        converter = "ternflux quantize (Swift)"
    else:
        export.save_pipeline(pipe, dst, lambda d: export.save_ternary_transformer(plain, packed, d), work / "text")
        converter = "ops/model/export.py (Python i2 writer)"
    back, back_packed = export.load_ternary_transformer(dst / "transformer", with_packed=True)
    assert set(back_packed) == set(packed), "ternary layer sets differ"
    scale_rel = 0.0
    for name, (q, gamma) in packed.items():
        bq, bs = back_packed[name]
        assert torch.equal(bq, q), f"{name}: W_q differs after conversion"
        scale_rel = max(scale_rel, ((bs - gamma).abs() / gamma).max().item())
    log(f"converted with {converter}: W_q identical in {len(packed)} linears, max relative scale difference {scale_rel:.2e}")
    pipe.transformer = back
    table, images = train_all.evaluate(pipe, prompts)
    results["distilled ternary (shipped models/default)"] = table
    grid(prompts[::max(1, args.eval_per_category // 2)][:12], images[::max(1, args.eval_per_category // 2)][:12], work / "grid_default.png")
    log(f"shipped default eval {table} ({time.time() - t0:.0f}s)")
    bf16_size = sum(p.numel() * 2 for p in teacher.parameters())
    tern_size = (args.out / "default" / "transformer" / "diffusion_pytorch_model.safetensors").stat().st_size
    info = {"results": results, "velocity_mse": gaps, "ternary_linears": len(names),
            "ternary_params": sum(packed[n][0].numel() for n in packed),
            "transformer_params": sum(p.numel() for p in teacher.parameters()),
            "transformer_bf16_bytes": bf16_size, "transformer_ternary_file_bytes": tern_size,
            "eval_prompts": len(prompts), "converter": converter, "max_scale_rel_diff": scale_rel, "steps": train_all.DEFAULT_STEPS}
    (work / "results.json").write_text(json.dumps(info, indent=2) + "\n")
    print(eval_py.format_table(list(results.items())))
    log(f"finish done ({time.time() - t0:.0f}s)")


if __name__ == "__main__":
    main()
