"""Frame sources, chosen by one setting (`SCANTALK_CAMERA_SOURCE`).

- `demo`: real produce photos from Debian's `tuxpaint-stamps-default`, each shown for a while,
  then an empty scene;
- a folder of images (sorted, each shown for `SCANTALK_CAMERA_DWELL` seconds, then an empty
  scene for `SCANTALK_CAMERA_GAP` seconds), looping;
- a video file (looping, for demos), a device index or `/dev/video*` path, or a stream URL
  (`rtsp://`, `http://`), read with OpenCV.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from camera_node.settings import CameraSettings
from scantalk.scene import IMAGE_SUFFIXES, TUXPAINT_FOOD, empty_scene, photo_frame
from scantalk.settings import CameraSource, SettingError, SourceKind

DEMO_ITEMS = [
    "fruit/banana.png",
    "fruit/lemon.png",
    "fruit/apple_granny_smith.png",
    "vegetables/broccoli.png",
    "fruit/strawberry.png",
    "fruit/pineapple.png",
    "vegetables/yellowpepper.png",
    "fruit/pomegranate.png",
    "fruit/cherimoya.png",
]
REOPEN_AFTER = 3
"""Failed reads in a row after which a capture is closed and opened again."""


class Source(Protocol):
    def read(self) -> np.ndarray | None:
        """The next BGR frame, or None when none could be read this time."""

    def close(self) -> None: ...


class ImageSequence:
    """Still images, each held for a number of frames, then an empty scene; loops forever."""

    def __init__(self, images: list[np.ndarray], dwell_frames: int, gap_frames: int) -> None:
        """`images` are RGB; frames come out BGR, as from a camera."""
        empty = empty_scene((images[0].shape[1], images[0].shape[0]))
        self._frames: list[tuple[np.ndarray, int]] = []
        for image in images:
            self._frames.append((_bgr(image), dwell_frames))
            if gap_frames:
                self._frames.append((_bgr(empty), gap_frames))
        self._index, self._shown = 0, 0

    def read(self) -> np.ndarray:
        frame, count = self._frames[self._index]
        self._shown += 1
        if self._shown >= count:
            self._index, self._shown = (self._index + 1) % len(self._frames), 0
        return frame

    def close(self) -> None:
        pass


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, :, ::-1])


class CaptureSource:
    """A device, video file or stream through OpenCV; files loop so a demo clip never ends.

    When reads fail (a USB camera unplugged, a stream dropped) the capture is reopened, with a
    backoff the camera node applies between attempts, until the source is back.
    """

    def __init__(self, target: int | str, loop: bool, size: tuple[int, int]) -> None:
        self.target, self.loop, self.size = target, loop, size
        self.capture = self._open()
        if not self.capture.isOpened() or not self.capture.read()[0]:
            raise SettingError(
                "SCANTALK_CAMERA_SOURCE", target, "a camera, video or stream that opens"
            )
        self.failures = 0

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.target)
        if isinstance(self.target, int) or str(self.target).startswith("/dev/"):
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        return capture

    def read(self) -> np.ndarray | None:
        ok, frame = self.capture.read()
        if not ok and self.loop:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.capture.read()
        if ok:
            self.failures = 0
            return frame
        self.failures += 1
        if self.failures >= REOPEN_AFTER:
            self.capture.release()
            self.capture = self._open()
        return None

    def close(self) -> None:
        self.capture.release()


def open_source(settings: CameraSettings) -> Source:
    source = CameraSource.parse(settings.camera_source)
    spec = source.text
    dwell = max(1, round(settings.camera_dwell * settings.camera_fps))
    gap = round(settings.camera_gap * settings.camera_fps)
    if source.kind is SourceKind.DEMO:
        paths = [TUXPAINT_FOOD / item for item in DEMO_ITEMS]
        if not all(p.exists() for p in paths):
            raise SettingError(
                "SCANTALK_CAMERA_SOURCE",
                spec,
                "demo photos; install them: apt-get install tuxpaint-stamps-default",
            )
        return ImageSequence([photo_frame(p) for p in paths], dwell, gap)
    size = (settings.camera_width, settings.camera_height)
    if source.kind is SourceKind.DEVICE and spec.isdigit():
        return CaptureSource(int(spec), loop=False, size=size)
    if source.kind is SourceKind.STREAM:
        return CaptureSource(spec, loop=False, size=size)
    path = Path(spec)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise SettingError("SCANTALK_CAMERA_SOURCE", spec, "a folder holding images")
        return ImageSequence([photo_frame(p) for p in images], dwell, gap)
    if path.exists():
        return CaptureSource(spec, loop=source.kind is SourceKind.PATH, size=size)
    raise SettingError(
        "SCANTALK_CAMERA_SOURCE",
        spec,
        "demo, a device index, a video file, a stream URL or a folder",
    )
