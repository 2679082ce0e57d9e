"""Rendering a scene graph into pixels: textured backgrounds, distractors, object shapes, exact mask.

The image is drawn with PIL from the scene graph (scene.py) alone. The foreground mask is exact
because it is drawn with the very primitives that draw the object (`_Pen` draws each one on the image
and on the mask); distractors are drawn but are not part of the mask.

Determinism: pixels come from RNGs seeded by `Scene.render_seed`, one stream per component
(background, distractors, object), so `render_background` is, pixel for pixel, the scene without
its object: backgrounds_world.py builds the Background Challenge's only_bg_t variation from it.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from harness.worlds.scene import Scene
from harness.worlds.vocabulary import BACKGROUNDS, COLORS, DISTRACTORS, OBJECT_CLASSES, POSITIONS, SIZES

# The colour words' RGB values; the rendered colour is jittered by +-12 per channel.
_RGB: dict[str, tuple[int, int, int]] = {
    "red": (210, 30, 35),
    "blue": (35, 70, 215),
    "yellow": (245, 210, 30),
    "purple": (130, 45, 170),
    "orange": (245, 130, 20),
    "black": (25, 25, 28),
    "pink": (240, 120, 175),
    "brown": (120, 70, 30),
}

# Object width as a fraction of the image width; the rendered width is jittered by +-10 %.
_SIZE_FRACTION = {"small": 0.25, "large": 0.45}
# Horizontal centre of the object as a fraction of the image width, jittered by +-0.04.
_POSITION_CENTER = {"left": 0.30, "center": 0.50, "right": 0.70}
# The classifier centre-crops 87.5 %, so the object stays inside the central 85 %.
_MARGIN = 0.075


def render_scene(scene: Scene, image_size: int) -> tuple[Image.Image, np.ndarray]:
    """Render `scene` as an RGB image and its exact object mask, (H, W) uint8 in {0, 1}.

    Distractors are drawn but are not part of the mask.
    """
    image = render_background(scene, image_size)
    mask = Image.new("L", (image_size, image_size), 0)
    _draw_object(scene, image, mask, _component_rng(scene, "object"))
    return image, (np.asarray(mask) > 0).astype(np.uint8)  # (H, W)


def render_background(scene: Scene, image_size: int) -> Image.Image:
    """The image of `scene` without its object: textured background plus distractors.

    Equal, pixel for pixel, to `render_scene(scene, image_size)[0]` outside the mask.
    """
    _check_scene(scene)
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32 pixels, got {image_size}")
    image = _BACKGROUND_PAINTERS[scene.background](_component_rng(scene, "background"), image_size)
    _draw_distractors(scene, image, _component_rng(scene, "distractors"))
    return image


def _check_scene(scene: Scene) -> None:
    for name, value, known in (
        ("object_class", scene.object_class, OBJECT_CLASSES),
        ("background", scene.background, BACKGROUNDS),
        ("color", scene.color, COLORS),
        ("size", scene.size, SIZES),
        ("position", scene.position, POSITIONS),
    ):
        if value not in known:
            raise ValueError(f"scene {scene.image_id}: unknown {name} {value!r}; choose from {known}")
    unknown = [d for d in scene.distractors if d not in DISTRACTORS]
    if unknown:
        raise ValueError(f"scene {scene.image_id}: unknown distractors {unknown}; choose from {DISTRACTORS}")


def _component_rng(scene: Scene, component: str) -> np.random.Generator:
    # Separate streams per component: the background does not change when the object code changes,
    # which is what makes `render_background` equal to the scene minus its object.
    stream = {"background": 0, "distractors": 1, "object": 2}[component]
    return np.random.default_rng([scene.render_seed, stream])


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    shift = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(np.clip(c + s, 0, 255)) for c, s in zip(rgb, shift))  # type: ignore[return-value]


def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    """factor < 1 darkens; factor > 1 blends toward white."""
    if factor <= 1.0:
        return tuple(int(c * factor) for c in rgb)  # type: ignore[return-value]
    t = min(factor - 1.0, 1.0)
    return tuple(int(c + (255 - c) * t) for c in rgb)  # type: ignore[return-value]


def _noisy_base(
    rng: np.random.Generator, size: int, top: tuple[int, int, int], bottom: tuple[int, int, int], noise: float
) -> Image.Image:
    # Vertical gradient plus per-pixel noise: cheap texture that differs between scenes.
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]  # (H, 1, 1)
    rows = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)  # (H, 1, 3)
    pixels = np.broadcast_to(rows, (size, size, 3)) + rng.normal(0.0, noise, (size, size, 3))  # (H, W, 3)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _count(base: int, size: int) -> int:
    # Keep texture density constant across image sizes (base counts are for 224 px).
    return max(1, int(round(base * (size / 224) ** 2)))


def _paint_water(rng: np.random.Generator, s: int) -> Image.Image:
    top = _jitter(rng, (70, 140, 210), 15)
    image = _noisy_base(rng, s, top, _shade(top, 0.6), 6)
    draw = ImageDraw.Draw(image)
    for _ in range(_count(140, s)):
        x, y = rng.uniform(-0.05, 1.0) * s, rng.uniform(0, 1) * s
        w = rng.uniform(0.04, 0.12) * s
        color = _shade(top, rng.uniform(1.2, 1.6))
        draw.arc([x, y, x + w, y + w * 0.4], 200, 340, fill=color, width=max(1, s // 150))
    return image


def _paint_grass(rng: np.random.Generator, s: int) -> Image.Image:
    base = _jitter(rng, (70, 150, 55), 15)
    image = _noisy_base(rng, s, _shade(base, 1.15), _shade(base, 0.8), 8)
    draw = ImageDraw.Draw(image)
    for _ in range(_count(700, s)):
        x, y = rng.uniform(0, 1) * s, rng.uniform(0, 1.05) * s
        h = rng.uniform(0.02, 0.06) * s
        lean = rng.uniform(-0.4, 0.4) * h
        color = _shade(base, rng.uniform(0.55, 1.35))
        draw.line([x, y, x + lean, y - h], fill=color, width=1)
    return image


def _paint_sand(rng: np.random.Generator, s: int) -> Image.Image:
    base = _jitter(rng, (222, 196, 140), 12)
    image = _noisy_base(rng, s, _shade(base, 1.05), _shade(base, 0.92), 7)
    draw = ImageDraw.Draw(image)
    for _ in range(_count(10, s)):  # wind ripples
        y = rng.uniform(0, 1) * s
        x = rng.uniform(-0.2, 0.6) * s
        draw.arc([x, y, x + rng.uniform(0.3, 0.6) * s, y + 0.05 * s], 190, 350, fill=_shade(base, 0.85), width=1)
    for _ in range(_count(900, s)):  # speckles
        x, y = rng.uniform(0, 1) * s, rng.uniform(0, 1) * s
        r = rng.uniform(0.3, 1.2) * s / 224
        draw.ellipse([x - r, y - r, x + r, y + r], fill=_shade(base, rng.uniform(0.55, 0.85)))
    return image


def _paint_snow(rng: np.random.Generator, s: int) -> Image.Image:
    base = _jitter(rng, (240, 244, 250), 5)
    image = _noisy_base(rng, s, base, _shade(base, 0.95), 4)
    draw = ImageDraw.Draw(image)
    for _ in range(_count(500, s)):
        x, y = rng.uniform(0, 1) * s, rng.uniform(0, 1) * s
        r = rng.uniform(0.4, 1.6) * s / 224
        blue = (int(rng.integers(180, 215)), int(rng.integers(200, 225)), int(rng.integers(235, 255)))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=blue)
    return image


def _paint_road(rng: np.random.Generator, s: int) -> Image.Image:
    base = _jitter(rng, (100, 100, 105), 12)
    image = _noisy_base(rng, s, _shade(base, 1.1), _shade(base, 0.9), 10)
    draw = ImageDraw.Draw(image)
    lane_y = rng.uniform(0.45, 0.65) * s
    dash = rng.uniform(0.08, 0.14) * s
    offset = rng.uniform(0, 2 * dash)
    line = (245, 245, 240) if rng.random() < 0.5 else (240, 200, 40)
    thickness = max(1, int(0.018 * s))
    x = -offset
    while x < s:
        draw.rectangle([x, lane_y, x + dash, lane_y + thickness], fill=line)
        x += 2 * dash
    for edge in (rng.uniform(0.08, 0.14), rng.uniform(0.90, 0.95)):  # solid edge lines
        y = edge * s
        draw.rectangle([0, y, s, y + thickness], fill=(235, 235, 230))
    for _ in range(_count(40, s)):  # cracks and patches
        x, y = rng.uniform(0, 1) * s, rng.uniform(0, 1) * s
        draw.line([x, y, x + rng.uniform(-0.05, 0.05) * s, y + rng.uniform(-0.02, 0.02) * s], fill=_shade(base, 0.7))
    return image


def _paint_forest(rng: np.random.Generator, s: int) -> Image.Image:
    base = _jitter(rng, (30, 75, 40), 10)
    image = _noisy_base(rng, s, _shade(base, 0.8), _shade(base, 1.1), 6)
    draw = ImageDraw.Draw(image)
    for _ in range(_count(14, s)):
        x = rng.uniform(0, 1) * s
        w = rng.uniform(0.03, 0.06) * s
        top = rng.uniform(0.1, 0.5) * s
        trunk = _jitter(rng, (85, 55, 30), 15)
        draw.rectangle([x - w / 2, top, x + w / 2, s], fill=trunk)
        crown = (int(rng.integers(20, 70)), int(rng.integers(85, 150)), int(rng.integers(25, 65)))
        r = rng.uniform(0.08, 0.16) * s
        draw.ellipse([x - r, top - 1.3 * r, x + r, top + 0.5 * r], fill=crown)
    return image


_BACKGROUND_PAINTERS = {
    "water": _paint_water,
    "grass": _paint_grass,
    "sand": _paint_sand,
    "snow": _paint_snow,
    "road": _paint_road,
    "forest": _paint_forest,
}


def _draw_distractors(scene: Scene, image: Image.Image, rng: np.random.Generator) -> None:
    s = image.size[0]
    draw = ImageDraw.Draw(image)
    # Sun and cloud share the top corners; the ball goes to a bottom corner away from the object.
    sun_left = rng.random() < 0.5
    cloud_center = rng.random() < 0.5
    if "sun" in scene.distractors:
        cx, cy, r = (0.16 if sun_left else 0.84) * s, 0.16 * s, 0.055 * s
        for k in range(8):
            angle = k * math.pi / 4
            draw.line(
                [cx + 1.3 * r * math.cos(angle), cy + 1.3 * r * math.sin(angle),
                 cx + 1.8 * r * math.cos(angle), cy + 1.8 * r * math.sin(angle)],
                fill=(250, 200, 20), width=max(1, s // 112),
            )
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(252, 215, 30))
    if "cloud" in scene.distractors:
        if cloud_center:
            cx = 0.5 * s
        else:
            cx = (0.82 if sun_left else 0.18) * s
        cy, w = 0.14 * s, 0.2 * s
        white = (250, 250, 252)
        for dx, dy, rx, ry in ((-0.3, 0.1, 0.28, 0.22), (0.0, -0.1, 0.32, 0.3), (0.3, 0.1, 0.28, 0.22)):
            ex, ey = cx + dx * w, cy + dy * w
            draw.ellipse([ex - rx * w, ey - ry * w, ex + rx * w, ey + ry * w], fill=white)
    if "ball" in scene.distractors:
        if scene.position == "left":
            right = True
        elif scene.position == "right":
            right = False
        else:
            right = rng.random() < 0.5
        cx, cy, r = (0.86 if right else 0.14) * s, 0.86 * s, 0.045 * s
        box = [cx - r, cy - r, cx + r, cy + r]
        for k, color in enumerate(((230, 40, 40), (250, 250, 250), (40, 90, 220), (250, 210, 30))):
            draw.pieslice(box, k * 90, (k + 1) * 90, fill=color)


class _Pen:
    """Draws each primitive on the image and on the mask, so the mask is exactly the object."""

    def __init__(self, image: Image.Image, mask: Image.Image, x0: float, y0: float, scale: float, flip: bool):
        self.image = ImageDraw.Draw(image)
        self.mask = ImageDraw.Draw(mask)
        self.x0, self.y0, self.scale, self.flip = x0, y0, scale, flip

    def _xy(self, x: float, y: float) -> tuple[float, float]:
        # Shape coordinates are in units of the object width; y grows downward.
        if self.flip:
            x = 1.0 - x
        return self.x0 + x * self.scale, self.y0 + y * self.scale

    def polygon(self, points: list[tuple[float, float]], fill: tuple[int, int, int]) -> None:
        xy = [self._xy(x, y) for x, y in points]
        self.image.polygon(xy, fill=fill)
        self.mask.polygon(xy, fill=1)

    def ellipse(self, x0: float, y0: float, x1: float, y1: float, fill: tuple[int, int, int]) -> None:
        (ax, ay), (bx, by) = self._xy(x0, y0), self._xy(x1, y1)
        box = [min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)]
        self.image.ellipse(box, fill=fill)
        self.mask.ellipse(box, fill=1)

    def rectangle(self, x0: float, y0: float, x1: float, y1: float, fill: tuple[int, int, int]) -> None:
        self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], fill)


_WINDOW = (175, 215, 240)


def _draw_boat(pen: _Pen, c: tuple[int, int, int]) -> None:
    pen.rectangle(0.48, 0.02, 0.52, 0.56, (90, 60, 30))  # mast
    pen.polygon([(0.54, 0.06), (0.54, 0.52), (0.92, 0.52)], _shade(c, 1.55))  # sail
    pen.polygon([(0.46, 0.12), (0.46, 0.52), (0.15, 0.52)], _shade(c, 1.35))  # jib
    pen.polygon([(0.0, 0.56), (1.0, 0.56), (0.82, 0.8), (0.18, 0.8)], c)  # hull
    pen.rectangle(0.05, 0.56, 0.95, 0.6, _shade(c, 0.6))  # gunwale stripe


def _draw_car(pen: _Pen, c: tuple[int, int, int]) -> None:
    pen.polygon([(0.22, 0.2), (0.32, 0.02), (0.7, 0.02), (0.82, 0.2)], c)  # cabin
    pen.polygon([(0.28, 0.19), (0.35, 0.06), (0.49, 0.06), (0.49, 0.19)], _WINDOW)
    pen.polygon([(0.53, 0.19), (0.53, 0.06), (0.68, 0.06), (0.76, 0.19)], _WINDOW)
    pen.rectangle(0.0, 0.2, 1.0, 0.42, c)  # body
    pen.rectangle(0.93, 0.24, 1.0, 0.29, (250, 235, 150))  # headlight
    for cx in (0.24, 0.76):  # wheels with hubs
        pen.ellipse(cx - 0.11, 0.32, cx + 0.11, 0.54, (20, 20, 20))
        pen.ellipse(cx - 0.045, 0.385, cx + 0.045, 0.475, (170, 170, 170))


def _draw_bird(pen: _Pen, c: tuple[int, int, int]) -> None:
    pen.polygon([(0.0, 0.3), (0.2, 0.4), (0.18, 0.52), (0.0, 0.6)], _shade(c, 0.7))  # tail
    pen.ellipse(0.1, 0.25, 0.75, 0.65, c)  # body
    pen.ellipse(0.6, 0.1, 0.9, 0.4, c)  # head
    pen.polygon([(0.88, 0.2), (1.0, 0.27), (0.88, 0.32)], (245, 160, 20))  # beak
    pen.ellipse(0.75, 0.18, 0.8, 0.23, (10, 10, 10))  # eye
    pen.polygon([(0.25, 0.42), (0.58, 0.4), (0.4, 0.08)], _shade(c, 0.6))  # raised wing
    pen.rectangle(0.38, 0.63, 0.41, 0.72, (200, 130, 20))  # legs
    pen.rectangle(0.5, 0.63, 0.53, 0.72, (200, 130, 20))


def _draw_house(pen: _Pen, c: tuple[int, int, int]) -> None:
    pen.rectangle(0.1, 0.45, 0.9, 1.0, c)  # walls
    pen.polygon([(0.0, 0.47), (0.5, 0.05), (1.0, 0.47)], _shade(c, 0.55))  # roof
    pen.rectangle(0.68, 0.12, 0.78, 0.3, (110, 60, 40))  # chimney
    pen.rectangle(0.42, 0.7, 0.58, 1.0, (90, 55, 30))  # door
    pen.rectangle(0.17, 0.56, 0.33, 0.7, _WINDOW)
    pen.rectangle(0.67, 0.56, 0.83, 0.7, _WINDOW)


def _draw_fish(pen: _Pen, c: tuple[int, int, int]) -> None:
    pen.polygon([(0.68, 0.3), (1.0, 0.05), (0.92, 0.3), (1.0, 0.55)], _shade(c, 0.7))  # tail fin
    pen.polygon([(0.3, 0.1), (0.42, 0.0), (0.55, 0.12)], _shade(c, 0.7))  # dorsal fin
    pen.ellipse(0.0, 0.08, 0.75, 0.52, c)  # body
    pen.polygon([(0.35, 0.32), (0.5, 0.3), (0.42, 0.42)], _shade(c, 1.4))  # side fin
    pen.ellipse(0.1, 0.2, 0.17, 0.27, (10, 10, 10))  # eye


def _draw_flower(pen: _Pen, c: tuple[int, int, int]) -> None:
    green = (40, 120, 40)
    pen.rectangle(0.47, 0.45, 0.53, 1.25, green)  # stem
    pen.ellipse(0.52, 0.8, 0.85, 0.92, green)  # leaves
    pen.ellipse(0.15, 0.95, 0.48, 1.07, green)
    cx, cy, ring, r = 0.5, 0.4, 0.24, 0.16
    for k in range(6):
        angle = k * math.pi / 3
        px, py = cx + ring * math.cos(angle), cy + ring * math.sin(angle)
        pen.ellipse(px - r, py - r, px + r, py + r, c)
    pen.ellipse(cx - 0.12, cy - 0.12, cx + 0.12, cy + 0.12, (250, 200, 40))  # centre


# (draw function, height in units of the object width, may be mirrored)
_SHAPES = {
    "boat": (_draw_boat, 0.8, True),
    "car": (_draw_car, 0.54, True),
    "bird": (_draw_bird, 0.72, True),
    "house": (_draw_house, 1.0, False),
    "fish": (_draw_fish, 0.55, True),
    "flower": (_draw_flower, 1.25, False),
}


def _draw_object(scene: Scene, image: Image.Image, mask: Image.Image, rng: np.random.Generator) -> None:
    s = image.size[0]
    draw_fn, aspect, can_flip = _SHAPES[scene.object_class]
    flip = bool(rng.random() < 0.5) and can_flip
    width = _SIZE_FRACTION[scene.size] * rng.uniform(0.9, 1.1) * s
    height = aspect * width
    lo, hi = _MARGIN * s, (1 - _MARGIN) * s
    # Horizontal: jittered around the position's anchor, then pulled inside the central 85 %.
    cx = (_POSITION_CENTER[scene.position] + rng.uniform(-0.04, 0.04)) * s
    x0 = min(max(cx - width / 2, lo), hi - width)
    # Vertical: the object stands on the ground in the lower part, below the sky distractors.
    bottom = rng.uniform(0.78, 0.88) * s
    y0 = max(bottom - height, lo)
    y0 = min(y0, hi - height)
    draw_fn(_Pen(image, mask, x0, y0, width, flip), _jitter(rng, _RGB[scene.color], 12))
