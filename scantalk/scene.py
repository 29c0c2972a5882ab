"""Turn a photo into a camera frame of the scan area."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

TUXPAINT_STAMPS = Path("/usr/share/tuxpaint/stamps")
"""Photographs from Debian's `tuxpaint-stamps-default`: the demo's and the tests' real photos."""
TUXPAINT_FOOD = TUXPAINT_STAMPS / "food"
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
