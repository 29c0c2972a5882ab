"""Camera footage made in the test from real tuxpaint photos: an item moving in and out of an
empty scene, as BGR frames or an MJPG video file."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from scantalk.contract import Topics
from scantalk.scene import BACKGROUND, FRAME_SIZE, TUXPAINT_FOOD, empty_scene, photo_frame
from testbench.bus import Bus, Heard

# (phase, frames): the item enters, rests, leaves; the counter is empty before and after.
PHASES = [("empty", 20), ("entering", 16), ("resting", 30), ("leaving", 16), ("empty", 30)]


def footage(
    photo: str = "fruit/banana.png", noise: float = 2.0, seed: int = 1
) -> list[tuple[str, np.ndarray]]:
    """(phase, BGR frame) pairs, with a little sensor noise on every frame."""
    width, height = FRAME_SIZE
    item = Image.open(TUXPAINT_FOOD / photo).convert("RGBA")
    scale = height * 0.6 / item.height
    item = item.resize(
        (round(item.width * scale), round(item.height * scale)), Image.Resampling.LANCZOS
    )
    rest_x = (width - item.width) // 2
    y = (height - item.height) // 2
    rng = np.random.default_rng(seed)
    frames = []
    for phase, count in PHASES:
        for i in range(count):
            canvas = Image.new("RGB", FRAME_SIZE, BACKGROUND)
            x = {
                "entering": width - (width - rest_x) * (i + 1) // count,
                "resting": rest_x,
                "leaving": rest_x - (rest_x + item.width) * (i + 1) // count,
            }.get(phase)
            if x is not None:
                canvas.paste(item, (x, y), item)
            rgb = np.asarray(canvas, np.float32) + rng.normal(0, noise, (height, width, 3))
            frames.append((phase, np.clip(rgb, 0, 255).astype(np.uint8)[:, :, ::-1].copy()))
    return frames


def write_video(path: Path, frames: list[tuple[str, np.ndarray]], fps: int = 15) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, FRAME_SIZE)
    for _, frame in frames:
        writer.write(frame)
    writer.release()
    return path


@functools.cache  # the same photo, the same frame: encoded once per test session
def photo_jpeg(photo: str | None) -> bytes:
    """A frame of the camera's demo scene as JPEG: a tuxpaint photo (`fruit/banana.png`) on the
    counter, or the empty counter for None."""
    rgb = empty_scene() if photo is None else photo_frame(TUXPAINT_FOOD / photo)
    return cv2.imencode(".jpg", rgb[:, :, ::-1])[1].tobytes()


def place(
    bus: Bus, photo: str = "fruit/banana.png", frames: int = 4, station: str = "lane-1"
) -> None:
    """A tuxpaint photo placed on the counter and taken away again: `frames` of each, each
    classified (its prediction heard) before the next is sent."""
    for data in (photo_jpeg(photo), photo_jpeg(None)):
        for _ in range(frames):
            frame_id = str(uuid.uuid4())
            bus.send_frame(data, frame_id, station)
            bus.wait_for(Topics(station).prediction, _frame_is(frame_id))


def _frame_is(frame_id: str) -> Callable[[Heard], bool]:
    return lambda h: bool(h.json()["frame_id"] == frame_id)
