"""Unit checks of the scene generator and the Python scorer against generator ground truth.
Run: python3 ops/model/test_scenes.py"""
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_py  # noqa: E402
import scenes  # noqa: E402


def check_scene(sc):
    img = sc.render()
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    allowed = {scenes.BACKGROUND, *scenes.COLORS.values()}
    assert {tuple(c) for c in img.reshape(-1, 3)} <= allowed, "pixel outside palette"
    n = len(sc.objects)
    assert 1 <= n <= 4
    masks = [o.mask() for o in sc.objects]
    for i, o in enumerate(sc.objects):
        assert scenes.MIN_OBJECT <= o.size <= scenes.MAX_OBJECT
        assert o.shape in scenes.SHAPES and o.color in scenes.COLORS
        assert masks[i].sum() > 0
        for j in range(i):
            assert not (masks[i] & masks[j]).any(), "objects overlap"
    cat, g = eval_py.parse_prompt(sc.caption)
    assert cat == sc.category, (sc.caption, cat, sc.category)
    objs = sc.objects
    if cat == "single_object":
        assert n == 1 and objs[0].shape == g[0]
    elif cat == "colors":
        assert n == 1 and (objs[0].color, objs[0].shape) == g
    elif cat == "two_object":
        assert n == 2 and g[0] != g[1] and {o.shape for o in objs} == set(g)
    elif cat == "color_attr":
        assert n == 2 and g[0] != g[2] and g[1] != g[3]
        assert [(o.color, o.shape) for o in objs] == [(g[0], g[1]), (g[2], g[3])]
    elif cat == "counting":
        assert n == eval_py._NUM[g[0]] and all((o.color, o.shape) == (g[1], g[2]) for o in objs)
    elif cat == "position":
        a, b = objs
        assert (a.color, a.shape) == (g[0], g[1]) and (b.color, b.shape) == (g[3], g[4])
        assert scenes.relation_holds(a.centroid(), b.centroid(), g[2])
    return img


def main():
    # determinism
    a = scenes.scene_for_index(0, 123)
    b = scenes.scene_for_index(0, 123)
    assert a == b and (a.render() == b.render()).all()
    assert scenes.scene_for_index(0, 124) != a
    # hand-checked captions
    assert scenes.noun_phrase("square", "orange") == "an orange square"
    assert scenes.noun_phrase("circle", "red") == "a red circle"
    # every category, many scenes: generator invariants + detector against ground truth
    n_total, n_ok, det_ok, det_total = 0, 0, 0, 0
    cats = {c: 0 for c in scenes.CATEGORIES}
    for i in range(600):
        sc = scenes.scene_for_index(7, i)
        img = check_scene(sc)
        cats[sc.category] += 1
        dets = eval_py.detect(img)
        truth = sorted((o.shape, o.color) for o in sc.objects)
        det_total += 1
        det_ok += sorted((d.shape, d.color) for d in dets) == truth
        _, ok = eval_py.judge(sc.caption, dets)
        n_total += 1
        n_ok += ok
    assert all(v > 50 for v in cats.values()), cats
    print(f"detector exact on {det_ok}/{det_total} ground-truth scenes; judge correct on {n_ok}/{n_total}")
    assert det_ok / det_total >= 0.99 and n_ok / n_total >= 0.99
    # negatives: a blank image fails every prompt; a wrong-colour scene fails colors
    blank = np.full((128, 128, 3), 235, np.uint8)
    for p in eval_py.eval_prompts(per_category=5):
        assert not eval_py.judge(p, eval_py.detect(blank))[1], p
    sc = scenes.make_scene(random.Random(3), "colors")
    wrong = next(c for c in scenes.COLORS if c != sc.objects[0].color)
    assert not eval_py.judge(f"{scenes.noun_phrase(sc.objects[0].shape, wrong)}", eval_py.detect(sc.render()))[1]
    try:
        eval_py.parse_prompt("a cat on a mat")
        raise AssertionError("out-of-grammar prompt accepted")
    except ValueError:
        pass
    ap = scenes.all_prompts()
    print({c: len(v) for c, v in ap.items()})
    print("scenes: OK")


if __name__ == "__main__":
    main()
