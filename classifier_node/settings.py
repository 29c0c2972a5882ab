"""The classifier's settings: the shared ones, the scan decision's thresholds, inference, and
the optional /image API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scantalk.contract import ClassifierConfig
from scantalk.settings import NON_EMPTY, PATH, YES_NO, Number, Settings, setting

if TYPE_CHECKING:
    from classifier_node.decision import Thresholds

FRAME_MAX_BYTES = 16 * 1024 * 1024
"""Largest frame the classifier decodes, in bytes: the brokers' packet limit (`max_packet_size`
in scantalk/commands/broker.conf and mosquitto/edge.conf), which a 4096x4096 frame at JPEG
quality 100 (about 15 MiB) still fits."""
FRAME_MAX_SIDE = 4096
"""Largest width or height of a frame the classifier decodes, in pixels."""


@dataclass(frozen=True)
class InputHints:
    """What a model's own files cannot say about its input, for the kinds that leave it open
    (Azure Machine Learning's AutoML exports)."""

    resize: int | None = None
    """AutoML's `valid_resize_size`: the shorter side before the centre crop; unset, the
    documented default (256) for the documented default crop (224)."""
    onnx_normalization: bool = False
    """The export was made with `enable_onnx_normalization`: its graph normalises, and it takes
    RGB 0-255."""


@dataclass(frozen=True)
class ClassifierSettings(Settings):
    # Their ranges are the contract's (ClassifierConfig), which the live changes, the state and
    # the schema share.
    threshold: float = setting(
        0.8, Number(float, *ClassifierConfig.bounds("threshold")),
        "share among the model's announced labels a scan needs",
    )  # fmt: skip
    presence: float = setting(
        0.6, Number(float, *ClassifierConfig.bounds("presence")),
        "presence of known produce a built-in label's scan needs",
    )  # fmt: skip
    similarity: float = setting(
        0.55, Number(float, *ClassifierConfig.bounds("similarity")),
        "similarity to a taught item's photos a scan needs",
    )  # fmt: skip
    stable_frames: int = setting(
        2, Number(int, *map(int, ClassifierConfig.bounds("stable_frames"))),
        "frames of evidence before a scan",
    )  # fmt: skip
    empty_below: float = setting(
        0.03, Number(float, *ClassifierConfig.bounds("empty_below")),
        "presence of known produce below which nothing is there",
    )  # fmt: skip
    inference_threads: int = setting(2, Number(int, 1, 64), "onnxruntime threads")
    frame_max_bytes: int = setting(
        FRAME_MAX_BYTES,
        Number(int, 1024, 256 * 1024 * 1024),
        "largest frame decoded, in bytes; a larger one is refused (counted as rejected)",
    )
    frame_max_side: int = setting(
        FRAME_MAX_SIDE,
        Number(int, 64, 16384),
        "largest frame width or height decoded, in pixels, read from the image header first",
    )
    model_resize: int | None = setting(
        None,
        Number(int, 16, 4096),
        "AutoML models: the valid_resize_size they were trained with (unset: 256 for a 224 crop)",
    )
    model_onnx_normalization: bool = setting(
        False,
        YES_NO,
        "AutoML models: exported with enable_onnx_normalization (they take RGB 0-255)",
    )
    answer_timeout: float = setting(
        8.0,
        Number(float, *ClassifierConfig.bounds("answer_timeout")),
        "seconds a question waits for the shopper's answer",
    )
    learn_from_answers: bool = setting(
        True, YES_NO, "learn items from shoppers' answers, and announce them once learned"
    )
    say_weight: bool = setting(
        True, YES_NO, "say the weight after the name of an item sold by weight"
    )
    weighed_min_kg: float = setting(
        0.01,
        Number(float, *ClassifierConfig.bounds("weighed_min_kg")),
        "stable weight from which something lies on the produce scale (where there is one)",
    )
    weigh_wait: float = setting(
        2.0,
        Number(float, *ClassifierConfig.bounds("weigh_wait")),
        "seconds an item sold by weight waits for a stable weight before it is announced without",
    )
    journal_max: int = setting(
        10_000,
        Number(int, 10, 10_000_000),
        "scans kept until the bridge acknowledges them; past it the oldest is let go (logged)",
    )
    model_max_mb: int = setting(
        200, Number(int, 1, 4096), "largest model archive a rollout downloads, in MB"
    )
    model_ca_file: Path | None = setting(
        None, PATH, "CA certificate (PEM) to trust for model downloads, besides the system's"
    )
    http_host: str = setting("127.0.0.1", NON_EMPTY, "address the /image API listens on")
    http_port: int | None = setting(
        None, Number(int, 1, 65535), "port of the Custom Vision-compatible /image API; unset: off"
    )

    @property
    def models_dir(self) -> Path:
        """Rolled-out models, one folder per version, and `active`, the version in force."""
        return self.data_dir / "models"

    @property
    def live_config_path(self) -> Path:
        """The values live changes set, kept over restarts."""
        return self.data_dir / f"classifier-config-{self.station}.json"

    @property
    def journal_path(self) -> Path:
        """Scans not yet acknowledged by the bridge, and the station's sequence number."""
        return self.data_dir / f"scans-{self.station}.sqlite"

    @property
    def input_hints(self) -> InputHints:
        return InputHints(self.model_resize, self.model_onnx_normalization)

    @property
    def thresholds(self) -> Thresholds:
        """The scan decision's starting thresholds; `…/classifier/config` may change them."""
        from classifier_node.decision import Thresholds  # numpy: only when a node runs

        return Thresholds(
            threshold=self.threshold,
            presence=self.presence,
            similarity=self.similarity,
            stable_frames=self.stable_frames,
            empty_below=self.empty_below,
        )
