"""What a blind shopper hears, placement by placement: a whole lane on real parts (the camera
node reading a scripted video, its gate, the classifier, espeak-ng through SDL's disk driver),
the audio captured, and a table printed for anyone to rerun (`pytest -s` shows it).

The script: a banana, and another put down at once; a lemon swapped for a strawberry with no
empty counter between; a hand passing over the counter; broccoli on a counter of its own
brightness; a mushroom the model does not know (it takes it for a maraca); a custard apple,
which has no price code.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from scantalk.contract import Earcon, Topics
from scantalk.scene import BACKGROUND, FRAME_SIZE, ITEM_SHARE, TUXPAINT_FOOD
from testbench.bus import Bus, Heard, wait_online
from testbench.scenes import write_video

T = Topics("lane-1")
FPS = 15
HAND = TUXPAINT_FOOD.parent / "symbols" / "shapes" / "hand.png"


@dataclass
class Placement:
    what: str
    photo: Path | None
    seconds: float
    expect: list[str]
    """What the shopper must hear, in order; [] for silence."""
    empty_after: float = 1.0
    counter: tuple[int, int, int] | None = None
    """The counter's colour under it, where not the usual grey."""
    cut_short_ok: bool = False
    """Its name may be cut short: its item was replaced."""
    passing: bool = False
    """It moves across the counter from left to right, never at rest (a hand)."""
    start: float = 0.0
    """Seconds into the video."""
    heard: list[tuple[str, float, float, bool]] = field(default_factory=list)
    """(text, ms from placement to its first audio, ms it played, cut short)."""
    at: float = 0.0
    """Wall-clock time its item first showed."""


class Speaker:
    """What reaches the lane's speaker: SDL's disk driver writes into a named pipe, read here
    as it plays (in real time), each chunk stamped on arrival. A file would be rewritten each
    time the voice reopens its audio device after a silence."""

    RATE = 22050

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.chunks: list[tuple[float, np.ndarray]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            with self.path.open("rb") as pipe:  # blocks until the device opens
                while data := pipe.read(4410):
                    samples = np.frombuffer(data[: len(data) // 2 * 2], np.int16)
                    self.chunks.append((time.time(), samples))

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):  # wake a reader waiting for a writer
            os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
        self._thread.join(timeout=5)

    def loud_ms(self, start: float, end: float) -> int:
        """Milliseconds of sound, not silence, that arrived between `start` and `end` (wall
        clock), in 10 ms windows."""
        chunks = [c for t, c in self.chunks if start <= t <= end]
        if not chunks:
            return 0
        samples = np.concatenate(chunks).astype(np.int32)
        windows = samples[: len(samples) // 220 * 220].reshape(-1, 220)
        return int(np.count_nonzero(np.abs(windows).max(axis=1) > 1000)) * 10


def photo(name: str) -> Path:
    return TUXPAINT_FOOD / name


def script() -> list[Placement]:
    return [
        Placement("banana", photo("fruit/banana.png"), 1.5, ["Banana"], empty_after=0.6),
        Placement("banana, at once again", photo("fruit/banana.png"), 1.5, ["Banana, again"]),
        Placement(
            "lemon", photo("fruit/lemon.png"), 1.5, ["Lemon"], empty_after=0, cut_short_ok=True
        ),
        Placement("strawberry, swapped in", photo("fruit/strawberry.png"), 1.5, ["Strawberry"]),
        Placement("a hand passing over", HAND, 1.5, [], passing=True),
        Placement(
            "broccoli on a counter as bright",
            photo("vegetables/broccoli.png"),
            1.5,
            ["Broccoli"],
            counter=_as_bright_as(photo("vegetables/broccoli.png")),
        ),
        Placement(
            "a mushroom it does not know",
            photo("vegetables/mushroom.png"),
            1.5,
            ["Unsure, use lookup."],
            empty_after=2.0,
        ),
        Placement(
            "custard apple (no PLU)",
            photo("fruit/cherimoya.png"),
            1.5,
            ["Custard apple, no code: key in or weigh"],
        ),
    ]


def _cutout(path: Path) -> Image.Image:
    item = Image.open(path).convert("RGBA")
    scale = min(FRAME_SIZE[1] * ITEM_SHARE / item.height, FRAME_SIZE[0] * ITEM_SHARE / item.width)
    size = (round(item.width * scale), round(item.height * scale))
    return item.resize(size, Image.Resampling.LANCZOS)


def _as_bright_as(path: Path) -> tuple[int, int, int]:
    """A grey counter of the item's own mean brightness."""
    item = np.asarray(_cutout(path), np.float32)
    seen = item[..., 3] > 128
    grey = item[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    level = round(float(grey[seen].mean()))
    return level, level, level


def frame(counter: tuple[int, int, int], path: Path | None, across: float = 0.5) -> np.ndarray:
    """A BGR frame of the counter, with the item (or hand) on it, its centre `across` the
    frame's width."""
    canvas = Image.new("RGB", FRAME_SIZE, counter)
    if path is not None:
        item = _cutout(path)
        x = round(across * FRAME_SIZE[0] - item.width / 2)
        canvas.paste(item, (x, (FRAME_SIZE[1] - item.height) // 2), item)
    return np.asarray(canvas)[:, :, ::-1].copy()


def video(placements: list[Placement], path: Path) -> float:
    """Write the walk-through at FPS; returns its length in seconds. Each placement's `start`
    is set: when its item first shows."""
    frames: list[tuple[str, np.ndarray]] = []

    def hold(image: np.ndarray, seconds: float) -> None:
        frames.extend(("", image) for _ in range(round(seconds * FPS)))

    hold(frame(BACKGROUND, None), 1.0)
    for p in placements:
        counter = p.counter or BACKGROUND
        if p.counter:
            hold(frame(counter, None), 1.0)  # the other counter first: its own change of scene
        p.start = len(frames) / FPS
        if p.passing:
            steps = round(p.seconds * FPS)
            frames.extend(("", frame(counter, p.photo, (i + 0.5) / steps)) for i in range(steps))
        else:
            hold(frame(counter, p.photo), p.seconds)
        hold(frame(counter, None), p.empty_after)
    write_video(path, frames, FPS)
    return len(frames) / FPS


def _wall(h: Heard) -> float:
    return datetime.fromisoformat(h.json()["time"]).timestamp()


def listen(bus: Bus, placements: list[Placement], video_start: float, end: float) -> None:
    """Give each placement what the shopper heard while it lay there, from the bus: each
    request (its `time`) plus the voice's latency to first audio, and how long it played."""
    bounds = [video_start + p.start for p in placements] + [video_start + end]
    spoken = [h.json() for h in bus.matching(T.spoken)]
    for p, (start, until) in zip(placements, itertools.pairwise(bounds), strict=True):
        p.at = start
        for say in bus.matching(T.say, lambda h, a=start, b=until: a <= _wall(h) < b):
            request = say.json()
            text = request["text"]
            done = next((s for s in spoken if _answers(s, request, start)), None)
            if done is None:
                continue
            first_ms = (_wall(say) - start) * 1000 + done["latency_ms"]
            p.heard.append((text, first_ms, done["duration_ms"], done["interrupted"]))
            spoken.remove(done)


def _answers(spoken: dict, request: dict, since: float) -> bool:
    """Whether a `spoken` event is the voice's answer to a say `request` made after `since`."""
    return (
        spoken["text"] == request["text"]
        and spoken.get("scan_id") == request.get("scan_id")
        and datetime.fromisoformat(spoken["time"]).timestamp() >= since
    )


def table(placements: list[Placement], speaker: Speaker) -> str:
    rows = [
        f"{'placement':<34}{'first sound':>12}  heard (ms from placement to its audio, ms played, "
        "ms of sound at the speaker)"
    ]
    for p in placements:
        first = min((ms for _, ms, _, _ in p.heard), default=None)
        said = "; ".join(
            f"{text} ({ms:.0f}, {played:.0f}, "
            f"{speaker.loud_ms(p.at + ms / 1000 - 0.3, p.at + (ms + played) / 1000 + 0.3)}"
            f"{', cut' if cut else ''})"
            for text, ms, played, cut in p.heard
        )
        rows.append(f"{p.what:<34}{f'{first:.0f} ms' if first else '-':>12}  {said or 'silence'}")
    return "\n".join(rows)


def test_what_a_blind_shopper_hears_placement_by_placement(bus, node_env, start_node, tmp_path):
    placements = script()
    length = video(placements, tmp_path / "walkthrough.avi")
    speaker = Speaker(tmp_path / "speaker.pipe")
    try:
        env = {**node_env, "SDL_DISKAUDIOFILE": str(speaker.path)}
        for name in ("voice", "classifier"):
            start_node(name, env, SCANTALK_SAY_STARTUP="no")
        wait_online(bus, "voice", "classifier")
        start_node(
            "camera", env, SCANTALK_CAMERA_SOURCE=str(tmp_path / "walkthrough.avi"),
            SCANTALK_CAMERA_FPS=str(FPS),
        )  # fmt: skip
        (first,) = bus.wait_for(T.frame)  # the first frame read: always news
        # Opening the video reads its frame 0 to check it plays: the first frame sent is frame 1.
        captured = datetime.fromisoformat(first.properties["captured_at"]).timestamp()
        video_start = captured - 1 / FPS
        last = placements[-1].expect[-1]
        (done,) = bus.wait_for(T.spoken, lambda h: h.json()["text"] == last)
        bus.wait_until(lambda: time.time() > _wall(done) + 0.5, "the last words to drain")
    finally:
        speaker.close()
    listen(bus, placements, video_start, length)
    print("\n" + table(placements, speaker))

    before = [h.json()["text"] for h in bus.matching(T.say) if _wall(h) < placements[0].at]
    assert before == [], f"the bare counter at the start was heard as {before}"

    for p in placements:
        words = [text for text, *_ in p.heard if text not in list(Earcon)]
        assert words == p.expect, f"{p.what}: heard {words}, not {p.expect}"
        for text, first_ms, played, cut in p.heard:
            if text not in list(Earcon) and not p.cut_short_ok:
                assert not cut, f"{p.what}: {text} was cut short"
            # Sound really reached the speaker while the voice said it played.
            start = p.at + first_ms / 1000
            loud = speaker.loud_ms(start - 0.3, start + played / 1000 + 0.3)
            assert loud >= min(40, played / 2), f"{p.what}: {text}: {loud} ms of sound"
    # Every placement of produce was heard at once, before its name: its earcon. (A swapped-in
    # item is no new placement to the ear: its name comes at once instead.)
    for p in placements:
        if p.expect and p.what != "strawberry, swapped in":
            assert p.heard[0][0] == Earcon.DETECTED, f"{p.what}: no earcon first"
