"""Python reference mini-GenEval scorer (training feedback only; the product scorer is `ternflux eval`).

Detector: label each pixel with the nearest palette colour (or background), connected components per colour,
drop specks, classify each component's shape from its fill ratio (area / bounding-box area: square ~1, circle
~pi/4, triangle ~1/2) and its top-vs-bottom width, centroid for position. Prompts are parsed with the grammar of
scenes.py; every category is judged as GenEval does (single object: the shape is there; colors: an object of
that shape has that colour; two object: both shapes there; counting: exactly n objects of that shape, all of
that colour; color attribution: each shape present in its own colour; position: both there and the relation
holds by centroids).
"""
import re
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

import scenes

PALETTE_NAMES = ["background"] + list(scenes.COLORS)
PALETTE = np.array([scenes.BACKGROUND] + list(scenes.COLORS.values()), dtype=np.float32)
MAX_COLOR_DISTANCE = 70.0     # a pixel farther than this from every palette entry is unlabelled
MIN_AREA = 120                # components smaller than this are specks (the smallest object, a 24 px
                              # triangle, has ~290 px)
SCORE_POSITION_MARGIN = 8.0   # px: the detected relation needs this centroid separation along its axis


@dataclass
class Detection:
    shape: str
    color: str
    area: int
    centroid: tuple


def detect(img):
    """img: HxWx3 uint8 -> list of Detection."""
    px = img.astype(np.float32)
    d = ((px[:, :, None, :] - PALETTE[None, None]) ** 2).sum(-1)
    label = d.argmin(-1)
    label[np.sqrt(d.min(-1)) > MAX_COLOR_DISTANCE] = 0
    found = []
    for ci in range(1, len(PALETTE_NAMES)):
        comps, n = ndimage.label(label == ci)
        if n == 0:
            continue
        for k, sl in enumerate(ndimage.find_objects(comps), start=1):
            m = comps[sl] == k
            area = int(m.sum())
            if area < MIN_AREA:
                continue
            shape = classify_shape(m)
            ys, xs = np.nonzero(m)
            found.append(Detection(shape, PALETTE_NAMES[ci], area,
                                   (float(xs.mean() + sl[1].start + 0.5), float(ys.mean() + sl[0].start + 0.5))))
    return found


def classify_shape(m):
    h, w = m.shape
    fill = m.sum() / float(h * w)
    rows = m.sum(1).astype(np.float32)
    q = max(1, h // 4)
    top, bottom = rows[:q].mean(), rows[-q:].mean()
    if fill >= 0.88:
        return "square"
    if fill <= 0.64 or top < 0.5 * bottom:
        return "triangle"
    return "circle"


_NUM = {v: k for k, v in scenes.NUMBERS.items()}
_SHAPE = "(circle|square|triangle)"
_COLOR = "(" + "|".join(scenes.COLORS) + ")"
_REL = "(" + "|".join(scenes.RELATIONS) + ")"
_PATTERNS = [
    ("counting", re.compile(rf"^(two|three|four) {_COLOR} {_SHAPE}s$")),
    ("position", re.compile(rf"^an? {_COLOR} {_SHAPE} {_REL} an? {_COLOR} {_SHAPE}$")),
    ("color_attr", re.compile(rf"^an? {_COLOR} {_SHAPE} and an? {_COLOR} {_SHAPE}$")),
    ("two_object", re.compile(rf"^an? {_SHAPE} and an? {_SHAPE}$")),
    ("colors", re.compile(rf"^an? {_COLOR} {_SHAPE}$")),
    ("single_object", re.compile(rf"^an? {_SHAPE}$")),
]


def parse_prompt(prompt):
    """-> (category, groups) or raises ValueError naming the prompt."""
    for cat, pat in _PATTERNS:
        m = pat.match(prompt.strip())
        if m:
            return cat, m.groups()
    raise ValueError(f"prompt outside the caption grammar: {prompt!r}")


def judge(prompt, dets):
    cat, g = parse_prompt(prompt)
    shapes_of = lambda s: [d for d in dets if d.shape == s]
    if cat == "single_object":
        return cat, len(shapes_of(g[0])) >= 1
    if cat == "colors":
        return cat, any(d.color == g[0] for d in shapes_of(g[1]))
    if cat == "two_object":
        return cat, len(shapes_of(g[0])) >= 1 and len(shapes_of(g[1])) >= 1
    if cat == "counting":
        n, color, shape = _NUM[g[0]], g[1], g[2]
        objs = shapes_of(shape)
        return cat, len(objs) == n and all(d.color == color for d in objs)
    if cat == "color_attr":
        c1, s1, c2, s2 = g
        return cat, any(d.color == c1 for d in shapes_of(s1)) and any(d.color == c2 for d in shapes_of(s2))
    if cat == "position":
        c1, s1, rel, c2, s2 = g
        a = [d for d in shapes_of(s1) if d.color == c1]
        b = [d for d in shapes_of(s2) if d.color == c2]
        if not a or not b:
            return cat, False
        axis, sign = scenes.RELATIONS[rel]
        return cat, any((da.centroid[axis] - db.centroid[axis]) * sign >= SCORE_POSITION_MARGIN
                        for da in a for db in b)
    raise AssertionError(cat)


def eval_prompts(rng_seed=0, per_category=70):
    """A fixed eval prompt set: per_category prompts from each category, drawn from the generator's captions
    with a seed disjoint from training (training uses seeds < 1000)."""
    out = []
    for ci, cat in enumerate(scenes.CATEGORIES):
        for i in range(per_category):
            out.append(scenes.scene_for_index(10_000 + rng_seed, ci * 100_000 + i, cat).caption)
    return out


def score(prompts, images):
    """-> dict category -> accuracy, plus 'overall' (mean over categories, as GenEval)."""
    hits = {}
    for p, img in zip(prompts, images):
        cat, ok = judge(p, detect(img))
        hits.setdefault(cat, []).append(ok)
    table = {c: float(np.mean(v)) for c, v in hits.items()}
    table["overall"] = float(np.mean([table[c] for c in hits]))
    return table


def format_table(rows):
    cats = list(scenes.CATEGORIES)
    head = "| model | overall | " + " | ".join(cats) + " |"
    lines = [head, "|" + "---|" * (len(cats) + 2)]
    for name, t in rows:
        lines.append(f"| {name} | {t['overall']:.3f} | " + " | ".join(f"{t.get(c, float('nan')):.3f}" for c in cats) + " |")
    return "\n".join(lines)
