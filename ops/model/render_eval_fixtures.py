"""Ground-truth renders for validating the Swift mini-GenEval detector (`ternflux eval`).

Writes Tests/Fixtures/minigeneval/:
  sheet_<category>.png   100 scenes of one category from scenes.py, 128x128 each, tiled 10 x 10 in row-major
                         order (1280x1280 RGB). Encoded by this script's own PNG writer, which cycles the five
                         scanline filters (row y uses filter y mod 5), so the Swift reader is tested on every
                         filter with an encoder that is not its own.
  scene_rgba.png         scene 0 of the first sheet again, as RGBA (alpha 255), written by Pillow.
  scenes.json            per scene: sheet, tile, category, caption (true of the scene), false_caption (false of
                         it by construction: another shape, colour or count, the two colours swapped, or the
                         opposite relation) and the objects (shape, colour, size, box, mask centroid).

Scenes: scenes.scene_for_index(SEED, category_index * 100_000 + i, category) for i < 100: a seed stream disjoint
from training (< 1000) and from eval_py's prompts (10_000 + ...). Deterministic: rerunning rewrites the same bytes.
Run: python3 ops/model/render_eval_fixtures.py [--out Tests/Fixtures/minigeneval]
"""
import argparse
import json
import sys
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scenes  # noqa: E402

SEED = 30_000
PER_CATEGORY = 100
COLUMNS = 10
OPPOSITE = {"to the left of": "to the right of", "to the right of": "to the left of", "above": "below", "below": "above"}
NEXT_NUMBER = {2: 3, 3: 4, 4: 2}


def false_caption(sc):
    """A caption of the same category that the scene makes false."""
    objs = sc.objects
    colors = list(scenes.COLORS)
    if sc.category == "single_object":
        other = scenes.SHAPES[(scenes.SHAPES.index(objs[0].shape) + 1) % 3]
        return scenes.noun_phrase(other)
    if sc.category == "colors":
        other = colors[(colors.index(objs[0].color) + 1) % len(colors)]
        return scenes.noun_phrase(objs[0].shape, other)
    if sc.category == "two_object":
        missing = next(s for s in scenes.SHAPES if s not in (objs[0].shape, objs[1].shape))
        return f"{scenes.noun_phrase(objs[0].shape)} and {scenes.noun_phrase(missing)}"
    if sc.category == "color_attr":
        a, b = objs
        return f"{scenes.noun_phrase(a.shape, b.color)} and {scenes.noun_phrase(b.shape, a.color)}"
    if sc.category == "counting":
        n = len(objs)
        return f"{scenes.NUMBERS[NEXT_NUMBER[n]]} {objs[0].color} {objs[0].shape}s"
    if sc.category == "position":
        words = sc.caption
        for rel in sorted(scenes.RELATIONS, key=len, reverse=True):
            marker = f" {rel} "
            if marker in words:
                return words.replace(marker, f" {OPPOSITE[rel]} ")
    raise AssertionError(sc.category)


def png_bytes(rgb):
    """8-bit RGB PNG; row y uses filter y % 5 (None, Sub, Up, Average, Paeth), computed on the raw bytes."""
    h, w, _ = rgb.shape
    raw = rgb.reshape(h, w * 3).astype(np.int32)
    out = bytearray()
    for y in range(h):
        x = raw[y]
        a = np.concatenate([np.zeros(3, np.int32), x[:-3]])
        b = raw[y - 1] if y > 0 else np.zeros_like(x)
        c = np.concatenate([np.zeros(3, np.int32), b[:-3]])
        f = y % 5
        if f == 0:
            pred = np.zeros_like(x)
        elif f == 1:
            pred = a
        elif f == 2:
            pred = b
        elif f == 3:
            pred = (a + b) // 2
        else:
            p = a + b - c
            pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
            pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        out.append(f)
        out += ((x - pred) % 256).astype(np.uint8).tobytes()

    def chunk(kind, data):
        return (len(data).to_bytes(4, "big") + kind + data
                + (zlib.crc32(kind + data) & 0xFFFFFFFF).to_bytes(4, "big"))

    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(out), 9))
            + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "minigeneval")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = PER_CATEGORY // COLUMNS
    records = []
    first_scene = None
    for ci, cat in enumerate(scenes.CATEGORIES):
        sheet = np.empty((rows * scenes.SIZE, COLUMNS * scenes.SIZE, 3), np.uint8)
        for i in range(PER_CATEGORY):
            sc = scenes.scene_for_index(SEED, ci * 100_000 + i, cat)
            img = sc.render()
            r, c = divmod(i, COLUMNS)
            sheet[r * scenes.SIZE:(r + 1) * scenes.SIZE, c * scenes.SIZE:(c + 1) * scenes.SIZE] = img
            if first_scene is None:
                first_scene = img
            records.append({
                "sheet": f"sheet_{cat}.png", "tile": i, "category": cat, "caption": sc.caption,
                "false_caption": false_caption(sc),
                "objects": [{"shape": o.shape, "color": o.color, "size": o.size, "x0": o.x0, "y0": o.y0,
                             "centroid": [round(v, 4) for v in o.centroid()]} for o in sc.objects],
            })
        (args.out / f"sheet_{cat}.png").write_bytes(png_bytes(sheet))
    from PIL import Image
    rgba = np.concatenate([first_scene, np.full(first_scene.shape[:2] + (1,), 255, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(args.out / "scene_rgba.png")
    meta = {"seed": SEED, "tile_size": scenes.SIZE, "columns": COLUMNS, "scenes": records}
    # one scene per line: small, and a diff shows which scenes changed
    head = json.dumps({k: v for k, v in meta.items() if k != "scenes"})[:-1]
    body = ",\n".join(json.dumps(r, separators=(",", ":")) for r in records)
    (args.out / "scenes.json").write_text(f'{head}, "scenes": [\n{body}\n]}}\n')
    print(f"{len(records)} scenes in {len(scenes.CATEGORIES)} sheets -> {args.out}")


if __name__ == "__main__":
    main()
