"""Image-space agreement with the teacher: the same 60 eval prompts and seeds through FluxPipeline with the
teacher, the naive ternary rounding and the shipped ternary checkpoint.
    python3 ops/model/agreement.py --work /tmp/model-work --models models"""
import argparse, sys, torch, numpy as np
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(1)
import train_all, eval_py, distill, export
from diffusers import AutoencoderKL, FluxTransformer2DModel
ap=argparse.ArgumentParser(); ap.add_argument('--work',type=Path,default=Path('/tmp/model-work')); ap.add_argument('--models',type=Path,default=Path('models')); args=ap.parse_args()
work=args.work
vae=AutoencoderKL.from_pretrained(args.models/'default'/'vae').eval()
teacher=FluxTransformer2DModel.from_pretrained(args.models/'teacher'/'transformer').float().eval()
naive_s,names=distill.make_student(teacher); naive,_=distill.freeze_to_plain(naive_s,names)
shipped=export.load_ternary_transformer(args.models/'default'/'transformer')
prompts=eval_py.eval_prompts(per_category=10)
pipe=train_all.assemble(work, teacher, vae)
_, ti=train_all.evaluate(pipe, prompts)
for name,m in [('naive',naive),('distilled (shipped)',shipped)]:
    pipe.transformer=m
    _, im=train_all.evaluate(pipe, prompts)
    a=np.stack(ti).astype(np.float32); b=np.stack(im).astype(np.float32)
    lab=lambda x: ((x[...,None,:]-eval_py.PALETTE)**2).sum(-1).argmin(-1)
    print(name, 'mean |pixel diff| to teacher', round(float(np.abs(a-b).mean()),2), 'palette-label agreement', round(float((lab(a)==lab(b)).mean()),4), flush=True)
