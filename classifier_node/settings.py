"""The classifier's settings: the shared ones, the scan decision's thresholds, inference, and
the optional /image API."""

from __future__ import annotations

from dataclasses import dataclass

from classifier_node.decision import Thresholds
from scantalk.settings import NON_EMPTY, Number, Settings, setting


@dataclass(frozen=True)
class ClassifierSettings(Settings):
    threshold: float = setting(0.6, Number(float, 0.01, 1), "confidence needed for a scan")
    stable_frames: int = setting(3, Number(int, 1, 100), "frames a label must stay on top")
    empty_below: float = setting(
        0.1, Number(float, 0, 1), "presence (produce share) below which the scan area is empty"
    )
    inference_threads: int = setting(2, Number(int, 1, 64), "onnxruntime threads")
    http_host: str = setting("127.0.0.1", NON_EMPTY, "address the /image API listens on")
    http_port: int | None = setting(
        None, Number(int, 1, 65535), "port of the Custom Vision-compatible /image API; unset: off"
    )

    @property
    def thresholds(self) -> Thresholds:
        """The scan decision's starting thresholds; `…/classifier/config` may change them."""
        return Thresholds(
            threshold=self.threshold, stable_frames=self.stable_frames, empty_below=self.empty_below
        )
