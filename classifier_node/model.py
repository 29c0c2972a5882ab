"""Load an image-classification ONNX model with onnxruntime and run it on camera frames.

A model directory (`scantalk.model_folder`) holds `model.onnx`, `labels.txt` and optionally
`catalog.csv`. Azure Custom Vision ONNX exports load unchanged, whichever layout they have:

- the older kind (ONNX 1.2): input `data` [N,3,H,W]; outputs `classLabel` (string) and `loss`,
  a label -> probability map per image;
- newer kinds: a string `classLabel` beside a float [N, labels] output (`loss`,
  `model_output`, `model_outputs0`), or the float output alone;
- our own models: `probabilities` [N, labels], plus `features` [N, width], the penultimate
  layer, which teaching compares (`classifier_node.prototypes`). A model without a `features`
  output (Custom Vision exports do not expose one) recognises its own labels only.

Colour order and value range come from the model's own metadata (`Image.BitmapPixelFormat`
Bgr8/Rgb8, `Image.NominalPixelRange`), input size from its input shape; preprocessing follows
Custom Vision's: shorter side resized, centre crop.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, UnidentifiedImageError

from classifier_node.decision import Reading
from classifier_node.prototypes import Prototypes
from classifier_node.settings import FRAME_MAX_BYTES, FRAME_MAX_SIDE
from scantalk.contract import ContractError, Guess
from scantalk.model_folder import PROTOTYPES, ModelFolder

# value range name -> (scale, offset) applied to 0..255 pixel values
PIXEL_RANGES = {
    "NominalRange_0_255": (1.0, 0.0),
    "NominalRange_16_235": (219 / 255, 16.0),
    "Normalized_0_1": (1 / 255, 0.0),
    "Normalized_1_1": (1 / 127.5, -1.0),
}
DEFAULT_SIZE = 224
"""Input size for models whose input shape leaves it open."""
PROBABILITY_NAMES = ("probabilities", "loss", "model_output", "model_outputs0")
"""Names exports give their per-label probabilities, most telling first."""
FEATURES = "features"
FRAME_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP")
"""Image formats a frame may be: what cameras and Custom Vision's /image API send, and none of
Pillow's rarer decoders."""


@dataclass(frozen=True)
class Preprocessing:
    """How a frame becomes the model's input tensor."""

    height: int
    width: int
    bgr: bool
    pixel_range: str

    def describe(self) -> str:
        order = "BGR" if self.bgr else "RGB"
        return (
            f"{order}, {self.pixel_range}, shorter side resized then centre crop to "
            f"{self.width}x{self.height}"
        )


class Model:
    """One loaded model: its labels, its preprocessing, and one reused inference session."""

    def __init__(
        self,
        model_dir: Path,
        threads: int = 2,
        data_dir: Path | None = None,
        *,
        max_bytes: int = FRAME_MAX_BYTES,
        max_side: int = FRAME_MAX_SIDE,
    ) -> None:
        """`data_dir`: the lane's, where its taught items are; None: the model's labels only.
        `max_bytes`, `max_side`: the largest frame `decode` accepts (`SCANTALK_FRAME_MAX_*`)."""
        self.model_dir, self.data_dir = model_dir, data_dir
        self.max_bytes, self.max_side = max_bytes, max_side
        self.folder = ModelFolder.open(model_dir, data_dir)
        self.name, self.labels = self.folder.name, self.folder.labels
        self.announced = np.array(self.folder.announced, dtype=bool)
        """Per label: is it ever a scan? Others (`background`, `hand`, `Negative`) count as
        nothing."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(self.folder.onnx), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelFolder.unusable(model_dir, f"a valid ONNX model ({exc})") from exc
        meta = self.session.get_modelmeta().custom_metadata_map
        pixel_range = meta.get("Image.NominalPixelRange", "NominalRange_0_255")
        if pixel_range not in PIXEL_RANGES:
            raise ModelFolder.unusable(
                model_dir, f"a known Image.NominalPixelRange, not {pixel_range}"
            )
        self.scale, self.offset = PIXEL_RANGES[pixel_range]
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        h, w = model_input.shape[2:4]
        self.preprocessing = Preprocessing(
            height=h if isinstance(h, int) else DEFAULT_SIZE,
            width=w if isinstance(w, int) else DEFAULT_SIZE,
            # Custom Vision exports are BGR unless they say otherwise.
            bgr=meta.get("Image.BitmapPixelFormat", "Bgr8") == "Bgr8",
            pixel_range=pixel_range,
        )
        outputs = {o.name: o for o in self.session.get_outputs()}
        # The older Custom Vision kind: a label -> probability map in `loss`.
        loss = outputs.get("loss")
        self.map_output = "loss" if loss and loss.type.startswith("seq(map") else None
        self.output = self.map_output or self._probability_output(model_dir, outputs)
        features = outputs.get(FEATURES)
        self.features_output = FEATURES if features and features.type == "tensor(float)" else None
        self.prototypes = Prototypes.empty()
        self.reload_taught()

    def _probability_output(self, model_dir: Path, outputs: dict) -> str:
        """The float output with one value per label (string outputs such as `classLabel` are
        the export's own top label: we rank them ourselves)."""
        floats = [o for o in outputs.values() if o.type == "tensor(float)" and o.name != FEATURES]
        fits = [o for o in floats if (o.shape or [None])[-1] in (len(self.labels), None)]
        fits.sort(
            key=lambda o: PROBABILITY_NAMES.index(o.name) if o.name in PROBABILITY_NAMES else 9
        )
        if not fits:
            sizes = ", ".join(f"{o.name} {o.shape}" for o in floats) or "no float output"
            raise ModelFolder.unusable(
                model_dir, f"an output of {len(self.labels)} values as labels.txt has ({sizes})"
            )
        return fits[0].name

    def reload_taught(self) -> None:
        """Read the lane's taught items again (after `scantalk teach` or `forget`)."""
        if self.data_dir is None:
            return
        self.folder = ModelFolder.open(self.model_dir, self.data_dir)
        taught_dir = self.folder.taught_dir
        assert taught_dir is not None
        self.prototypes = Prototypes.load(taught_dir / PROTOTYPES)

    @property
    def can_learn(self) -> bool:
        """Whether items can be taught: the model must expose its features."""
        return self.features_output is not None

    @property
    def kind(self) -> str:
        return "custom-vision-map" if self.map_output else "probabilities"

    def decode(self, data: bytes) -> np.ndarray:
        """JPEG (or PNG) bytes to an RGB image, decoded no larger than the model needs.

        A frame is checked before any pixel is decoded: its size in bytes
        (`SCANTALK_FRAME_MAX_BYTES`), then its width and height as its header gives them
        (`SCANTALK_FRAME_MAX_SIDE`), so a small file that claims a huge picture (a
        decompression bomb) costs nothing. Pillow's own bomb guard stays as a second line.
        JPEG's DCT scaling (`draft`) decodes a 640x480 frame at 320x240 for a 224 model: faster,
        and the resize after it has less to do. A frame refused or corrupt is a `ContractError`.
        """
        if len(data) > self.max_bytes:
            raise ContractError(
                f"frame of {len(data)} bytes is larger than SCANTALK_FRAME_MAX_BYTES="
                f"{self.max_bytes}: refused undecoded"
            )
        try:
            image = Image.open(io.BytesIO(data), formats=FRAME_FORMATS)  # reads the header only
            w, h = image.size
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise self._undecodable(data, exc) from exc
        if w > self.max_side or h > self.max_side:
            raise ContractError(
                f"frame of {w}x{h} pixels is larger than SCANTALK_FRAME_MAX_SIDE="
                f"{self.max_side} a side: refused undecoded"
            )
        try:
            p = self.preprocessing
            scale = max(p.height / h, p.width / w)
            image.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))
            return np.asarray(image.convert("RGB"))
        except (OSError, ValueError, ZeroDivisionError, Image.DecompressionBombError) as exc:
            raise self._undecodable(data, exc) from exc

    @staticmethod
    def _undecodable(data: bytes, exc: Exception) -> ContractError:
        return ContractError(f"frame of {len(data)} bytes is not a decodable image ({exc})")

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """An RGB image to the model's input tensor [1, 3, H, W].

        Same result as resizing the shorter side and cropping the centre, but cropping first:
        a long thin image costs no more than a square one.
        """
        p = self.preprocessing
        h, w = rgb.shape[:2]
        crop_w, crop_h = (
            min(w, round(h * p.width / p.height)),
            min(h, round(w * p.height / p.width)),
        )
        top, left = (h - crop_h) // 2, (w - crop_w) // 2
        centre = rgb[top : top + max(crop_h, 1), left : left + max(crop_w, 1)]
        # Pillow rather than OpenCV: bilinear, antialiased when it shrinks, and no 150 MB of
        # OpenCV in the classifier's image for this one call.
        crop = np.asarray(
            Image.fromarray(centre).resize((p.width, p.height), Image.Resampling.BILINEAR)
        )
        if p.bgr:
            crop = crop[:, :, ::-1]
        tensor = np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32)
        if self.scale != 1.0 or self.offset:
            tensor *= self.scale
            tensor += self.offset
        return tensor[None]

    def run(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Inference on a preprocessed tensor: one probability per label, in `labels` order,
        and the features where the model has them."""
        names = [self.output] + ([self.features_output] if self.features_output else [])
        result = self.session.run(names, {self.input_name: tensor})
        features = np.asarray(result[1], np.float32).reshape(-1) if len(result) > 1 else None
        if self.map_output:
            scores = result[0][0]
            probabilities = np.array([scores.get(label, 0.0) for label in self.labels], np.float32)
        else:
            probabilities = np.asarray(result[0], np.float32).reshape(-1)
        return probabilities, features

    def classify(self, rgb: np.ndarray) -> np.ndarray:
        return self.run(self.preprocess(rgb))[0]

    def features(self, rgb: np.ndarray) -> np.ndarray:
        """The penultimate layer's features of an image, for teaching."""
        if self.features_output is None:
            raise ValueError(
                f"model {self.name} has no `{FEATURES}` output, so items cannot be taught on "
                "top of it (Custom Vision exports do not expose their features: teach with the "
                "default model, or add the item in Custom Vision)"
            )
        features = self.run(self.preprocess(rgb))[1]
        assert features is not None
        return features

    def read(self, rgb: np.ndarray) -> Reading:
        """One frame, from pixels to what the scan decision judges: the lane and the
        evaluation both go through here, so the README's figures are the lane's."""
        probabilities, features = self.run(self.preprocess(rgb))
        announced = np.where(self.announced, probabilities, 0)
        presence = float(announced.sum())
        prototypes = self.prototypes
        similarity = (
            prototypes.similarity(features)
            if features is not None and prototypes.labels
            else np.zeros(0, np.float32)
        )
        return Reading(
            labels=self.labels,
            share=announced / presence if presence > 0 else announced,
            presence=round(presence, 4),
            taught=prototypes.labels if len(similarity) else (),
            similarity=similarity,
            top=self.ranked(probabilities),
        )

    def ranked(self, probabilities: np.ndarray, top: int = 3) -> list[Guess]:
        """The `top` most likely labels, best first."""
        best = np.argsort(probabilities)[::-1][:top]
        return [Guess(self.labels[i], round(float(probabilities[i]), 4)) for i in best]

    def describe(self) -> dict:
        """What `scantalk model info` prints."""
        meta = self.session.get_modelmeta()
        return {
            "model": self.name,
            "kind": self.kind,
            "inputs": [
                {"name": i.name, "shape": i.shape, "type": i.type}
                for i in self.session.get_inputs()
            ],
            "outputs": [
                {"name": o.name, "shape": o.shape, "type": o.type}
                for o in self.session.get_outputs()
            ],
            "preprocessing": self.preprocessing.describe(),
            "metadata": dict(meta.custom_metadata_map),
            "labels": self.labels,
            "can_learn": self.can_learn,
            "taught": self.prototypes.labels,
        }
