"""Writes ops/distill/calibration_prompts.txt: calibration prompts for `ternflux distill` on the shipped model,
made from the mini-GenEval grammar's vocabulary (ops/model/scenes.py: six colours, three shapes, counts, four
relations) but never one of the 420 prompts `ternflux eval` scores (DefaultEvalPrompts.swift, reproduced here with
the same SplitMix64 shuffle and checked against it in tests/test_calibration.py).

Three families of 400 lines each, drawn with a fixed seed (a family whose pool is smaller cycles through it):
  objects  - uncoloured counts ("three circles") and two objects with one colour ("a circle and a red square")
  binding  - colour_attr captions the eval does not use, same-shape pairs ("a red circle and a blue circle"),
             same-colour pairs ("a red circle and a red square")
  position - position captions the eval does not use, and uncoloured ones ("a circle above a square")

    python3 ops/distill/make_calibration_prompts.py [--out ops/distill/calibration_prompts.txt]
"""
import argparse
import random
from pathlib import Path

COLORS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle"]
NUMBERS = ["two", "three", "four"]
RELATIONS = ["to the left of", "to the right of", "above", "below"]
CATEGORIES = ["single_object", "two_object", "counting", "colors", "position", "color_attr"]
PER_CATEGORY = 70
MASK = (1 << 64) - 1


def np_(shape, color=None):
    word = f"{color} {shape}" if color else shape
    return ("an " if word[0] in "aeiou" else "a ") + word


def all_prompts(category):
    """Every caption of a category, in DefaultEvalPrompts.allPrompts order."""
    if category == "single_object":
        return [np_(s) for s in SHAPES]
    if category == "colors":
        return [np_(s, c) for s in SHAPES for c in COLORS]
    if category == "counting":
        return [f"{n} {c} {s}s" for s in SHAPES for c in COLORS for n in NUMBERS]
    if category == "two_object":
        return [f"{np_(a)} and {np_(b)}" for a in SHAPES for b in SHAPES if a != b]
    if category == "color_attr":
        return [f"{np_(a, ca)} and {np_(b, cb)}" for a in SHAPES for b in SHAPES if a != b
                for ca in COLORS for cb in COLORS if ca != cb]
    if category == "position":
        return [f"{np_(a, ca)} {r} {np_(b, cb)}" for a in SHAPES for ca in COLORS for b in SHAPES for cb in COLORS
                if (a, ca) != (b, cb) for r in RELATIONS]
    raise ValueError(category)


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return self.next() % n


def eval_prompts(per_category=PER_CATEGORY):
    """The built-in `ternflux eval` prompt set (DefaultEvalPrompts.prompts)."""
    out = []
    for index, category in enumerate(CATEGORIES):
        captions = all_prompts(category)
        rng = SplitMix64(0x6E7661_6C00 + index)
        for i in range(len(captions) - 1, 0, -1):
            j = rng.below(i + 1)
            captions[i], captions[j] = captions[j], captions[i]
        out += [captions[i % len(captions)] for i in range(per_category)]
    return out


def families():
    held = set(eval_prompts())
    objects = [f"{n} {s}s" for n in NUMBERS for s in SHAPES]
    objects += [f"{np_(a)} and {np_(b, c)}" for a in SHAPES for b in SHAPES if a != b for c in COLORS]
    objects += [f"{np_(a, c)} and {np_(b)}" for a in SHAPES for b in SHAPES if a != b for c in COLORS]
    binding = [p for p in all_prompts("color_attr") if p not in held]
    binding += [f"{np_(s, ca)} and {np_(s, cb)}" for s in SHAPES for ca in COLORS for cb in COLORS if ca != cb]
    binding += [f"{np_(a, c)} and {np_(b, c)}" for a in SHAPES for b in SHAPES if a != b for c in COLORS]
    position = [p for p in all_prompts("position") if p not in held]
    position += [f"{np_(a)} {r} {np_(b)}" for a in SHAPES for b in SHAPES for r in RELATIONS]
    return {"objects": objects, "binding": binding, "position": position}


def calibration_prompts(per_family=400, seed=2412):
    rng = random.Random(seed)
    out = []
    for name, pool in families().items():
        pool = sorted(set(pool))
        rng.shuffle(pool)
        out += [pool[i % len(pool)] for i in range(per_family)]
    rng.shuffle(out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "calibration_prompts.txt")
    ap.add_argument("--per-family", type=int, default=400)
    args = ap.parse_args()
    prompts = calibration_prompts(args.per_family)
    assert not set(prompts) & set(eval_prompts()), "a calibration prompt is an eval prompt"
    args.out.write_text("\n".join(prompts) + "\n")
    print(f"wrote {len(prompts)} prompts ({len(set(prompts))} distinct) to {args.out}")


if __name__ == "__main__":
    main()
