"""Load an image-classification ONNX model with onnxruntime and run it on camera frames.

A model directory (`scantalk.model_folder`) holds `model.onnx`, its labels and optionally
`catalog.csv`. Three kinds of model load unchanged:

- Azure Custom Vision exports (`labels.txt`), whichever layout they have: the older kind
  (ONNX 1.2: input `data`; outputs `classLabel` and `loss`, a label -> probability map), or
  newer kinds (a string `classLabel` beside a float [N, labels] output, or the float output
  alone). Colour order and value range come from the model's metadata
  (`Image.BitmapPixelFormat` Bgr8/Rgb8, `Image.NominalPixelRange`; without it, Custom Vision's
  BGR 0-255); the shorter side is resized and the centre cropped.
- Azure Machine Learning's AutoML image classifiers (`labels.json`): input `input1`, output
  `output1`, logits (softmax is ours). Preprocessing as Microsoft documents it ("Make
  predictions with ONNX on computer vision models from AutoML", multi-class): RGB, shorter side
  resized to `valid_resize_size` (default 256), centre crop to the input's size
  (`valid_crop_size`, default 224), 0-1, ImageNet mean and std. The resize size is in no file,
  nor whether the export normalises in its graph (`enable_onnx_normalization`, then RGB 0-255):
  both are settings (`InputHints`), never guessed from the shape.
- Our own models: `probabilities` [N, labels], plus `features` [N, width], the penultimate
  layer, which teaching compares (`classifier_node.prototypes`). A model without a `features`
  output (neither export kind has one) recognises its own labels only.

A model's "nothing there" class (Custom Vision's `Negative`, or a class the catalog marks
`empty`) is read with it: when it leads, the counter is empty.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, UnidentifiedImageError

from classifier_node.decision import Reading
from classifier_node.learning import OBSERVATIONS, with_learned
from classifier_node.prototypes import Prototypes
from classifier_node.settings import FRAME_MAX_BYTES, FRAME_MAX_SIDE, ClassifierSettings, InputHints
from scantalk.contract import ContractError, Guess
from scantalk.model_folder import LABELS_JSON, PROTOTYPES, ModelFolder
from scantalk.settings import SettingError

# value range name -> (scale, offset) applied to 0..255 pixel values
PIXEL_RANGES = {
    "NominalRange_0_255": (1.0, 0.0),
    "NominalRange_16_235": (219 / 255, 16.0),
    "Normalized_0_1": (1 / 255, 0.0),
    "Normalized_1_1": (1 / 127.5, -1.0),
}
DEFAULT_SIZE = 224
"""Input size for models whose input shape leaves it open."""
PROBABILITY_NAMES = ("probabilities", "loss", "model_output", "model_outputs0", "output1")
"""Names exports give their per-label scores, most telling first."""
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
"""AutoML's normalisation, RGB, of values in 0-1."""
AUTOML_CROP, AUTOML_RESIZE = 224, 256
"""AutoML's documented defaults of `valid_crop_size` and `valid_resize_size`."""
NO_HINTS = InputHints()
BLANK_GREY = 128
"""A frame of one grey, for the start-up check of what the model makes of a bare scene."""
FEATURES = "features"
FRAME_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP")
"""Image formats a frame may be: what cameras and Custom Vision's /image API send, and none of
Pillow's rarer decoders."""


class Kind(StrEnum):
    """How a model's output is read."""

    CUSTOM_VISION_MAP = "custom-vision-map"
    """Custom Vision's older export: a label -> probability map in `loss`."""
    PROBABILITIES = "probabilities"
    """One probability per label: newer Custom Vision exports and our own models."""
    AUTOML = "automl"
    """Azure Machine Learning AutoML: logits, one per label of `labels.json`."""


@dataclass(frozen=True)
class Preprocessing:
    """How a frame becomes the model's input tensor."""

    height: int
    width: int
    bgr: bool
    values: str
    """How pixel values are scaled, for people (`NominalRange_0_255`, `ImageNet mean/std`)."""
    scale: tuple[float, float, float]
    """Per input channel, times the 0-255 value ..."""
    offset: tuple[float, float, float]
    """... plus this."""
    crop: float = 1.0
    """Share of the shorter side the centre crop keeps: AutoML's crop / resize (224/256)."""

    @classmethod
    def ranged(cls, height: int, width: int, bgr: bool, pixel_range: str) -> Preprocessing:
        """Custom Vision's kind: one `Image.NominalPixelRange` for all channels."""
        scale, offset = PIXEL_RANGES[pixel_range]
        return cls(height, width, bgr, pixel_range, (scale,) * 3, (offset,) * 3)

    @classmethod
    def automl(cls, crop: int, hints: InputHints) -> Preprocessing:
        """AutoML's, as Microsoft documents it, with what the files cannot say from `hints`."""
        resize = hints.resize
        if resize is None and crop != AUTOML_CROP:
            raise SettingError(
                ClassifierSettings.env_name("model_resize"), "",
                f"the valid_resize_size this AutoML model was trained with: its crop is {crop}, "
                f"and only the default crop ({AUTOML_CROP}) has a documented resize "
                f"({AUTOML_RESIZE})",
            )  # fmt: skip
        resize = resize or AUTOML_RESIZE
        if resize < crop:
            raise SettingError(
                ClassifierSettings.env_name("model_resize"), resize,
                f"at least the model's crop ({crop}): AutoML resizes, then crops",
            )  # fmt: skip
        if hints.onnx_normalization:
            return cls(crop, crop, False, "NominalRange_0_255 (normalised in the graph)",
                       (1.0,) * 3, (0.0,) * 3, crop / resize)  # fmt: skip
        scale = tuple(1 / (255 * s) for s in IMAGENET_STD)
        offset = tuple(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True))
        return cls(crop, crop, False, "0-1, ImageNet mean/std", scale, offset, crop / resize)  # type: ignore[arg-type]

    @cached_property
    def _channels(self) -> tuple[np.ndarray, np.ndarray]:
        """`scale` and `offset` shaped for a [3, H, W] tensor, made once, not per frame."""
        shaped = np.array([self.scale, self.offset], np.float32)[:, :, None, None]
        return shaped[0], shaped[1]

    def normalise(self, tensor: np.ndarray) -> None:
        """Scale a [3, H, W] tensor of 0-255 values in place."""
        scale, offset = self._channels
        tensor *= scale
        tensor += offset

    def describe(self) -> str:
        order = "BGR" if self.bgr else "RGB"
        kept = "shorter side" if self.crop == 1 else f"centre {self.crop:.1%} of the shorter side"
        return f"{order}, {self.values}, {kept} resized to {self.width}x{self.height}"


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
        hints: InputHints = NO_HINTS,
        learned: bool = True,
    ) -> None:
        """`data_dir`: the lane's, where its taught items are; None: the model's labels only.
        `learned`: also the items learned from shoppers' answers (`classifier_node.learning`).
        `max_bytes`, `max_side`: the largest frame `decode` accepts (`SCANTALK_FRAME_MAX_*`).
        `hints`: what the model's files cannot say (`SCANTALK_MODEL_RESIZE` …)."""
        self.model_dir, self.data_dir, self.hints = model_dir, data_dir, hints
        self.learned = learned
        self.max_bytes, self.max_side = max_bytes, max_side
        self.folder = ModelFolder.open(model_dir, data_dir)
        self.name, self.labels = self.folder.name, self.folder.labels
        self.announced = np.array(self.folder.announced, dtype=bool)
        """Per label: is it ever a scan? Others (`background`, `hand`, `Negative`) count as
        nothing."""
        self.empty = np.array(self.folder.empty, dtype=bool)
        """Per label: the "nothing there" class, which, when it leads, means an empty counter."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # Idle pool threads sleep instead of spin-waiting for the next frame: spinning burnt
        # about 45 ms of CPU per frame for 7 ms of work on 2 cores, for 1-3 ms less wall time.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(self.folder.onnx), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelFolder.unusable(model_dir, f"a valid ONNX model ({exc})") from exc
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        outputs = {o.name: o for o in self.session.get_outputs()}
        # The older Custom Vision kind: a label -> probability map in `loss`.
        loss = outputs.get("loss")
        self.map_output = "loss" if loss and loss.type.startswith("seq(map") else None
        self.kind = (
            Kind.AUTOML if self.folder.labels_file == LABELS_JSON
            else Kind.CUSTOM_VISION_MAP if self.map_output
            else Kind.PROBABILITIES
        )  # fmt: skip
        self.preprocessing = self._preprocessing(model_input.shape[2:4])
        self.output = self.map_output or self._probability_output(model_dir, outputs)
        features = outputs.get(FEATURES)
        self.features_output = FEATURES if features and features.type == "tensor(float)" else None
        self.prototypes = Prototypes.empty()
        self.reload_taught()

    @cached_property
    def blank_presence(self) -> float:
        """What the model's items hold of a bare grey frame: near 1, an empty counter looks
        like an item to it unless it has a "nothing there" class. One inference, only when
        asked (the node's start, `model info`)."""
        return self.read(np.full((96, 128, 3), BLANK_GREY, np.uint8)).presence

    @classmethod
    def of_lane(
        cls, settings: ClassifierSettings, model_dir: Path | None = None, *, taught: bool = True
    ) -> Model:
        """The model as the lane's settings describe it; `model_dir`: another folder,
        `taught=False`: without the lane's taught items."""
        return cls(
            model_dir or settings.model_dir, settings.inference_threads,
            settings.data_dir if taught else None,
            max_bytes=settings.frame_max_bytes, max_side=settings.frame_max_side,
            hints=settings.input_hints, learned=settings.learn_from_answers,
        )  # fmt: skip

    def _preprocessing(self, size: list) -> Preprocessing:
        h, w = size
        if self.kind == Kind.AUTOML:
            if not isinstance(h, int) or h != w:
                raise ModelFolder.unusable(
                    self.model_dir, f"an AutoML model with a square input of fixed size, not {size}"
                )
            return Preprocessing.automl(h, self.hints)
        meta = self.session.get_modelmeta().custom_metadata_map
        pixel_range = meta.get("Image.NominalPixelRange", "NominalRange_0_255")
        if pixel_range not in PIXEL_RANGES:
            raise ModelFolder.unusable(
                self.model_dir, f"a known Image.NominalPixelRange, not {pixel_range}"
            )
        return Preprocessing.ranged(
            h if isinstance(h, int) else DEFAULT_SIZE,
            w if isinstance(w, int) else DEFAULT_SIZE,
            # Custom Vision exports are BGR unless they say otherwise.
            meta.get("Image.BitmapPixelFormat", "Bgr8") == "Bgr8",
            pixel_range,
        )

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
        """Read the lane's taught items again (after `scantalk teach` or `forget`, or an
        answer that taught one)."""
        if self.data_dir is None:
            return
        self.folder = ModelFolder.open(self.model_dir, self.data_dir)
        taught_dir = self.folder.taught_dir
        assert taught_dir is not None
        prototypes = Prototypes.load(taught_dir / PROTOTYPES)
        if self.learned:
            prototypes = with_learned(prototypes, taught_dir / OBSERVATIONS)
        self.prototypes = prototypes

    @property
    def can_learn(self) -> bool:
        """Whether items can be taught: the model must expose its features."""
        return self.features_output is not None

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
            scale = max(p.height / h, p.width / w) / p.crop
            image.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))
            return np.asarray(image.convert("RGB"))
        except (OSError, ValueError, ZeroDivisionError, Image.DecompressionBombError) as exc:
            raise self._undecodable(data, exc) from exc

    @staticmethod
    def _undecodable(data: bytes, exc: Exception) -> ContractError:
        return ContractError(f"frame of {len(data)} bytes is not a decodable image ({exc})")

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """An RGB image to the model's input tensor [1, 3, H, W].

        Same result as resizing the shorter side and cropping the centre (`crop` of it), but
        cropping first: a long thin image costs no more than a square one.
        """
        p = self.preprocessing
        h, w = rgb.shape[:2]
        crop_w, crop_h = (
            round(min(w, h * p.width / p.height) * p.crop),
            round(min(h, w * p.height / p.width) * p.crop),
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
        p.normalise(tensor)
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
        if self.kind == Kind.AUTOML:  # logits
            exp = np.exp(probabilities - probabilities.max())
            probabilities = exp / exp.sum()
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
        # The "nothing there" class leading is an empty counter, whatever crumbs items get.
        presence = 0.0 if self.empty[probabilities.argmax()] else float(announced.sum())
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
            candidates=self.ranked(announced, items_only=True),
            features=features,
        )

    def ranked(
        self, probabilities: np.ndarray, top: int = 3, *, items_only: bool = False
    ) -> list[Guess]:
        """The `top` most likely labels, best first; `items_only`: of the announced labels."""
        order = np.argsort(probabilities)[::-1]
        if items_only:
            order = order[self.announced[order]]
        return [Guess(self.labels[i], round(float(probabilities[i]), 4)) for i in order[:top]]

    @property
    def empty_labels(self) -> list[str]:
        """The model's "nothing there" classes."""
        return [label for label, empty in zip(self.labels, self.empty, strict=True) if empty]

    @property
    def sees_empty_counter(self) -> bool:
        """Whether the model can tell an empty counter: by its "nothing there" class, or by
        putting little probability on items when there are none (our produce model)."""
        return bool(self.empty.any()) or self.blank_presence < 0.5

    @property
    def empty_counter(self) -> str:
        """How this model tells an empty counter, for people."""
        if self.empty_labels:
            return f"when {' or '.join(self.empty_labels)} leads"
        if self.sees_empty_counter:
            return f"when its items hold little probability (a grey frame: {self.blank_presence})"
        return (
            f"by no rule: its items hold {self.blank_presence} of a grey frame and no class means "
            "nothing there. Add one (Custom Vision's Negative tag, or a class marked "
            "announce=empty in catalog.csv) and retrain"
        )

    def describe(self) -> dict:
        """What `scantalk model info` prints."""
        meta = self.session.get_modelmeta()
        return {
            "model": self.name,
            "kind": str(self.kind),
            "labels_file": self.folder.labels_file,
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
            "empty_labels": self.empty_labels,
            "not_items": [
                label
                for label, item, empty in zip(self.labels, self.announced, self.empty, strict=True)
                if not item and not empty
            ],
            "empty_counter": self.empty_counter,
            "can_learn": self.can_learn,
            "taught": self.prototypes.labels,
        }
