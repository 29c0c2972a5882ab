"""Camera frames of the scan area, composed from real photos.

`photo_frame` puts one photo on the plain demo counter. `Staging` and `placement` compose
frames the way a lane camera sees produce: several counters and lights, the item at other
scales, rotations and positions, partly hidden by the shopper's hand, JPEG-compressed; the
evaluation (`scantalk model eval`), the tests and the teaching photos are all made with it.
Teaching and testing use different stagings (`TEACHING`, `TESTING`), so a taught item is
always judged on scenes composed differently from the ones it was taught with.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

TUXPAINT_STAMPS = Path("/usr/share/tuxpaint/stamps")
"""Photographs from Debian's `tuxpaint-stamps-default`: the demo's and the tests' real photos."""
TUXPAINT_FOOD = TUXPAINT_STAMPS / "food"
HAND = TUXPAINT_STAMPS / "symbols" / "shapes" / "hand.png"
"""A hand's silhouette, tinted to skin, for a shopper's hand over the item."""
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
"""Files a folder of photos may hold."""
FRAME_SIZE = (640, 480)
BACKGROUND = (200, 200, 200)
"""A plain light-grey counter top, as RGB."""
ITEM_SHARE = 0.75
"""A cut-out item fills this share of the frame's height, as an item held over the scanner."""


def empty_scene(size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """The empty scan area, as an RGB image."""
    return np.asarray(Image.new("RGB", size, BACKGROUND))


def cutout(path: Path) -> Image.Image:
    """A photo as RGBA: a cut-out keeps its alpha, an ordinary photo is opaque."""
    with Image.open(path) as image:
        return image.convert("RGBA")


def photo_frame(path: Path, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """An RGB image of a photo: a cut-out (with alpha) is placed on the empty counter, scaled up
    to a realistic size; an ordinary photo is used as it is."""
    with Image.open(path) as image:
        if "A" not in image.getbands() and "transparency" not in image.info:
            return np.asarray(image.convert("RGB"))
        item = image.convert("RGBA")
    scale = min(size[1] * ITEM_SHARE / item.height, size[0] * ITEM_SHARE / item.width)
    size_scaled = (round(item.width * scale), round(item.height * scale))
    item = item.resize(size_scaled, Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", size, BACKGROUND)
    canvas.paste(item, ((size[0] - item.width) // 2, (size[1] - item.height) // 2), item)
    return np.asarray(canvas)


# --- composed scenes --------------------------------------------------------------------------


def _counter(kind: str, size: tuple[int, int], seed: int) -> np.ndarray:
    """A counter top as float RGB, made from noise: no photo of the evaluation leaks in."""
    w, h = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base: np.ndarray
    if kind == "grey":
        base = np.full((h, w, 3), BACKGROUND, np.float32)
    elif kind == "white":
        base = np.full((h, w, 3), (238, 236, 232), np.float32)
    elif kind == "steel":  # brushed: fine horizontal streaks
        streaks = rng.normal(0, 9, (h, 1)) + rng.normal(0, 3, (h, w))
        base = (170 + streaks)[..., None] * np.array([1.0, 1.01, 1.04], np.float32)
    elif kind == "wood":  # grain: waves along x, bent by noise
        bend = np.cumsum(rng.normal(0, 0.4, h))[:, None]
        grain = np.sin((x + bend * 8) / 7.0 + np.sin(y / 40.0) * 2) * 18
        base = (150 + grain)[..., None] * np.array([1.0, 0.72, 0.45], np.float32)
    elif kind == "belt":  # dark rubber conveyor with ribs
        ribs = (np.sin(y / 3.0) > 0.8) * 12
        base = (48 + ribs + rng.normal(0, 4, (h, w)))[..., None] * np.ones(3, np.float32)
    elif kind == "gravel":  # speckled stone
        speckle = rng.normal(0, 22, (h // 3 + 1, w // 3 + 1)).repeat(3, 0).repeat(3, 1)[:h, :w]
        base = (150 + speckle)[..., None] * np.array([1.0, 0.97, 0.92], np.float32)
    else:
        raise ValueError(f"unknown counter {kind!r}")
    return np.broadcast_to(base, (h, w, 3)).astype(np.float32)


@dataclass(frozen=True)
class Staging:
    """How one placement is shown to the camera."""

    counter: str
    light: float
    """Brightness gain of the whole scene."""
    tint: tuple[float, float, float]
    """Colour cast of the light, per RGB channel."""
    scale: float
    """Item height as a share of the frame's height."""
    angle: float
    """Rotation of the item, degrees."""
    offset: tuple[float, float]
    """Item centre's offset from the frame centre, as shares of the frame."""
    hand: bool
    """A shopper's hand covers part of the item while it rests."""
    quality: int
    """JPEG quality the camera sends at."""


WARM, COOL, NEUTRAL = (1.08, 1.0, 0.88), (0.9, 0.98, 1.1), (1.0, 1.0, 1.0)


def stagings(kind: str, count: int, seed: int = 0) -> list[Staging]:
    """`count` stagings of one kind: `teaching` (plain counters, upright, centred, no hand:
    how an operator photographs an item to teach it) or `testing` (every other counter,
    lights, scales, rotations and positions, sometimes a hand; never a teaching counter)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        if kind == "teaching":
            out.append(
                Staging(
                    counter=("grey", "white")[i % 2],
                    light=float(rng.uniform(0.9, 1.1)),
                    tint=NEUTRAL,
                    scale=float(rng.uniform(0.55, 0.75)),
                    angle=float(rng.uniform(-15, 15)),
                    offset=(float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.05, 0.05))),
                    hand=False,
                    quality=90,
                )
            )
        elif kind == "testing":
            out.append(
                Staging(
                    counter=("steel", "wood", "belt", "gravel")[i % 4],
                    light=float(rng.uniform(0.7, 1.25)),
                    tint=(WARM, COOL, NEUTRAL)[int(rng.integers(3))],
                    scale=float(rng.uniform(0.4, 0.8)),
                    angle=float(rng.uniform(-180, 180)),
                    offset=(float(rng.uniform(-0.15, 0.15)), float(rng.uniform(-0.12, 0.12))),
                    hand=i % 3 == 2,
                    quality=int(rng.integers(60, 90)),
                )
            )
        else:
            raise ValueError(f"unknown staging kind {kind!r}")
    return out


class Stage:
    """Composes frames of one staging: the counter is made once, items are placed on it."""

    NOISE_FRAMES = 4
    """Sensor noise patterns cycled through, so no two frames in a row are alike."""

    def __init__(self, staging: Staging, size: tuple[int, int] = FRAME_SIZE, seed: int = 0) -> None:
        self.staging, self.size = staging, size
        self._counter = Image.fromarray(
            _counter(staging.counter, size, seed).clip(0, 255).astype(np.uint8)
        )
        rng = np.random.default_rng(seed + 1)
        shape = (size[1], size[0], 3)
        self._noise = [
            rng.standard_normal(shape, dtype=np.float32) * 2.5 for _ in range(self.NOISE_FRAMES)
        ]
        self._scenes: dict[tuple[int, float], tuple[Image.Image | None, np.ndarray]] = {}
        self._shown = 0

    def frame(self, item: Image.Image | None, visible: float = 1.0) -> bytes:
        """One JPEG frame: the item (RGBA) at rest, or sliding in from the right when
        `visible` < 1 (the share of its width inside the frame); None is the empty counter."""
        key = (id(item), visible)
        if key not in self._scenes:
            if len(self._scenes) > 8:  # a placement needs a handful; keep memory flat
                self._scenes.clear()
            # The item is kept with its scene: while cached, its id cannot pass to another.
            self._scenes[key] = (item, self._scene(item, visible))
        self._shown += 1
        noisy = self._scenes[key][1] + self._noise[self._shown % self.NOISE_FRAMES]
        out = io.BytesIO()
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(
            out, "JPEG", quality=self.staging.quality
        )
        return out.getvalue()

    def _scene(self, item: Image.Image | None, visible: float) -> np.ndarray:
        """The lit scene without noise, as float RGB."""
        s, (w, h) = self.staging, self.size
        canvas = self._counter.copy()
        if item is not None:
            placed = _sized(item, s.scale * h, s.angle)
            cx = w / 2 + s.offset[0] * w + (1 - visible) * (w / 2 + placed.width)
            cy = h / 2 + s.offset[1] * h
            corner = (round(cx - placed.width / 2), round(cy - placed.height / 2))
            canvas.paste(placed, corner, placed)
            if s.hand and visible >= 1:
                hand = _hand(placed.height * 0.7)
                canvas.paste(hand, (corner[0] + placed.width // 3, round(cy)), hand)
        return np.asarray(canvas, np.float32) * (s.light * np.array(s.tint, np.float32))


def _sized(item: Image.Image, height: float, angle: float) -> Image.Image:
    scale = height / max(item.height, item.width)
    resized = item.resize(
        (max(1, round(item.width * scale)), max(1, round(item.height * scale))),
        Image.Resampling.LANCZOS,
    )
    return resized.rotate(angle, Image.Resampling.BICUBIC, expand=True)


def _hand(height: float) -> Image.Image:
    """The hand silhouette at `height` pixels, skin-coloured, fingers reaching up."""
    with Image.open(HAND) as image:
        alpha = image.convert("RGBA").getchannel("A")
    scale = height / alpha.height
    alpha = alpha.resize((round(alpha.width * scale), round(height)), Image.Resampling.LANCZOS)
    hand = Image.new("RGBA", alpha.size, (224, 172, 138, 255))
    hand.putalpha(alpha)
    return hand


PLACEMENT = (("empty", 3), ("entering", 2), ("resting", 10), ("empty", 3))
"""A placement as the camera sees it: frames of each phase."""


def placement(stage: Stage, item: Image.Image | None) -> Iterator[tuple[str, bytes]]:
    """(phase, JPEG frame) for one placement of `item` (None: the counter stays empty)."""
    for phase, count in PLACEMENT:
        for i in range(count):
            if phase == "empty" or item is None:
                yield phase, stage.frame(None)
            elif phase == "entering":
                yield phase, stage.frame(item, visible=(i + 1) / (count + 1))
            else:
                yield phase, stage.frame(item)
