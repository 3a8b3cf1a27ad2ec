"""Deterministic synthetic compositional scenes and their captions (issue 5 item 1).

128x128 RGB, background (235, 235, 235), 1-4 non-overlapping objects (circle, axis-aligned square, triangle
pointing up), object size 24-44 px, six exact palette colours, no anti-aliasing (every pixel is exactly a
palette colour or the background, so ground truth is exact).

Caption grammar (one caption per scene; the scene is drawn to make the caption true):

  single_object  "a {shape}"                                  one object, any colour
  colors         "a {color} {shape}"                          one object
  two_object     "a {shape} and a {shape'}"                   two objects, different shapes, any colours
  color_attr     "a {color} {shape} and a {color'} {shape'}"  two objects, different colours and shapes
  counting       "{two|three|four} {color} {shape}s"          2-4 objects, same colour and shape
  position       "a {color} {shape} {rel} a {color'} {shape'}"  rel in: to the left of, to the right of,
                                                               above, below; (color, shape) != (color', shape')

"a" becomes "an" before a vowel ("an orange square"). Position is true by mask centroids with a clear margin:
the centroid difference along the relation's axis is at least POSITION_MARGIN_PX and at least twice the
difference along the other axis.
"""
import random
from dataclasses import dataclass

import numpy as np

SIZE = 128
BACKGROUND = (235, 235, 235)
COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 200, 30),
    "purple": (150, 60, 190),
    "orange": (250, 140, 30),
}
SHAPES = ("circle", "square", "triangle")
MIN_OBJECT, MAX_OBJECT = 24, 44
GAP_PX = 4                 # minimum gap between bounding boxes of distinct objects
BORDER_PX = 2              # objects stay this far from the image border
POSITION_MARGIN_PX = 20    # |centroid difference| along the relation's axis
NUMBERS = {2: "two", 3: "three", 4: "four"}
RELATIONS = {"to the left of": (0, -1), "to the right of": (0, 1), "above": (1, -1), "below": (1, 1)}
CATEGORIES = ("single_object", "colors", "two_object", "color_attr", "counting", "position")


@dataclass(frozen=True)
class SceneObject:
    shape: str
    color: str
    size: int          # side of the square, diameter of the circle, base width = height of the triangle
    x0: int            # top-left corner of the size x size bounding box
    y0: int

    def local_mask(self):
        """size x size boolean mask of the object inside its bounding box."""
        s = self.size
        ys, xs = np.mgrid[0:s, 0:s].astype(np.float64) + 0.5   # pixel centres, box coordinates
        if self.shape == "square":
            return np.ones((s, s), dtype=bool)
        if self.shape == "circle":
            return (xs - s / 2) ** 2 + (ys - s / 2) ** 2 <= (s / 2) ** 2
        if self.shape == "triangle":
            # apex at the top centre, base along the bottom edge of the box; half-width grows linearly
            return np.abs(xs - s / 2) <= ys / 2
        raise ValueError(f"unknown shape {self.shape!r}")

    def mask(self):
        m = np.zeros((SIZE, SIZE), dtype=bool)
        m[self.y0:self.y0 + self.size, self.x0:self.x0 + self.size] = self.local_mask()
        return m

    def centroid(self):
        ys, xs = np.nonzero(self.local_mask())
        return float(xs.mean() + 0.5 + self.x0), float(ys.mean() + 0.5 + self.y0)


@dataclass(frozen=True)
class Scene:
    caption: str
    category: str
    objects: tuple

    def render(self):
        img = np.empty((SIZE, SIZE, 3), dtype=np.uint8)
        img[:] = BACKGROUND
        for o in self.objects:
            img[o.mask()] = COLORS[o.color]
        return img


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(shape, color=None):
    words = f"{color} {shape}" if color else shape
    return f"{article(words)} {words}"


def _place(rng, sizes, constraint=None, tries=400):
    """Random non-overlapping boxes for the given sizes; constraint(boxes) may reject a placement."""
    for _ in range(tries):
        boxes = []
        for s in sizes:
            for _ in range(100):
                x0 = rng.randint(BORDER_PX, SIZE - BORDER_PX - s)
                y0 = rng.randint(BORDER_PX, SIZE - BORDER_PX - s)
                if all(x0 + s + GAP_PX <= bx or bx + bs + GAP_PX <= x0 or
                       y0 + s + GAP_PX <= by or by + bs + GAP_PX <= y0 for bx, by, bs in boxes):
                    boxes.append((x0, y0, s))
                    break
            else:
                break
        if len(boxes) == len(sizes) and (constraint is None or constraint(boxes)):
            return boxes
    return None


def relation_holds(c_a, c_b, relation, margin=POSITION_MARGIN_PX):
    """True when centroid c_a is `relation` centroid c_b with a clear margin (generator's criterion)."""
    axis, sign = RELATIONS[relation]
    d_main = (c_a[axis] - c_b[axis]) * sign
    d_other = abs(c_a[1 - axis] - c_b[1 - axis])
    return d_main >= margin and d_main >= 2 * d_other


def _objects(rng, specs, constraint=None):
    """specs: list of (shape, color). Retries sizes until a placement exists."""
    while True:
        sizes = [rng.randint(MIN_OBJECT, MAX_OBJECT) for _ in specs]
        boxes = _place(rng, sizes, constraint)
        if boxes is not None:
            return tuple(SceneObject(sh, co, s, x0, y0) for (sh, co), (x0, y0, s) in zip(specs, boxes))


def make_scene(rng, category=None):
    """One scene from a `random.Random`; the category is drawn uniformly unless given."""
    category = category or rng.choice(CATEGORIES)
    colors = list(COLORS)
    if category == "single_object":
        shape, color = rng.choice(SHAPES), rng.choice(colors)
        return Scene(noun_phrase(shape), category, _objects(rng, [(shape, color)]))
    if category == "colors":
        shape, color = rng.choice(SHAPES), rng.choice(colors)
        return Scene(noun_phrase(shape, color), category, _objects(rng, [(shape, color)]))
    if category == "two_object":
        s1, s2 = rng.sample(SHAPES, 2)
        specs = [(s1, rng.choice(colors)), (s2, rng.choice(colors))]
        return Scene(f"{noun_phrase(s1)} and {noun_phrase(s2)}", category, _objects(rng, specs))
    if category == "color_attr":
        s1, s2 = rng.sample(SHAPES, 2)
        c1, c2 = rng.sample(colors, 2)
        caption = f"{noun_phrase(s1, c1)} and {noun_phrase(s2, c2)}"
        return Scene(caption, category, _objects(rng, [(s1, c1), (s2, c2)]))
    if category == "counting":
        n, shape, color = rng.choice((2, 3, 4)), rng.choice(SHAPES), rng.choice(colors)
        return Scene(f"{NUMBERS[n]} {color} {shape}s", category, _objects(rng, [(shape, color)] * n))
    if category == "position":
        while True:
            a = (rng.choice(SHAPES), rng.choice(colors))
            b = (rng.choice(SHAPES), rng.choice(colors))
            if a != b:
                break
        relation = rng.choice(list(RELATIONS))

        def holds(boxes):
            objs = [SceneObject(sh, co, s, x0, y0) for (sh, co), (x0, y0, s) in zip((a, b), boxes)]
            return relation_holds(objs[0].centroid(), objs[1].centroid(), relation)

        caption = f"{noun_phrase(a[0], a[1])} {relation} {noun_phrase(b[0], b[1])}"
        return Scene(caption, category, _objects(rng, [a, b], holds))
    raise ValueError(f"unknown category {category!r}")


def scene_for_index(seed, index, category=None):
    """Scene number `index` of the stream with this seed: independent of how many scenes were drawn before."""
    return make_scene(random.Random(seed * 1_000_003 + index), category)


def all_prompts():
    """Every caption the grammar can produce, by category (for text-encoder tokenizers and calibration)."""
    out = {c: [] for c in CATEGORIES}
    colors = list(COLORS)
    for s in SHAPES:
        out["single_object"].append(noun_phrase(s))
        for c in colors:
            out["colors"].append(noun_phrase(s, c))
            for n in NUMBERS.values():
                out["counting"].append(f"{n} {c} {s}s")
    for s1 in SHAPES:
        for s2 in SHAPES:
            if s1 != s2:
                out["two_object"].append(f"{noun_phrase(s1)} and {noun_phrase(s2)}")
                for c1 in colors:
                    for c2 in colors:
                        if c1 != c2:
                            out["color_attr"].append(f"{noun_phrase(s1, c1)} and {noun_phrase(s2, c2)}")
    for s1 in SHAPES:
        for c1 in colors:
            for s2 in SHAPES:
                for c2 in colors:
                    if (s1, c1) != (s2, c2):
                        for r in RELATIONS:
                            out["position"].append(f"{noun_phrase(s1, c1)} {r} {noun_phrase(s2, c2)}")
    return out
