"""Load an image-classification ONNX model with onnxruntime and run it on camera frames.

Colour order and value range come from the model's own metadata (the keys Azure Custom Vision
exports carry: `Image.BitmapPixelFormat`, `Image.NominalPixelRange`), input size from its input
shape; preprocessing follows Custom Vision's: shorter side resized, centre crop.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from scantalk.contract import ContractError, Guess
from scantalk.settings import SettingError

# value range name -> (scale, offset) applied to 0..255 pixel values
PIXEL_RANGES = {
    "NominalRange_0_255": (1.0, 0.0),
    "NominalRange_16_235": (1.0, 0.0),
    "Normalized_0_1": (1 / 255, 0.0),
    "Normalized_1_1": (1 / 127.5, -1.0),
}


class Model:
    """One loaded model: its labels, its preprocessing, and one reused inference session."""

    def __init__(self, model_dir: Path, threads: int = 2) -> None:
        onnx_path, labels_path = model_dir / "model.onnx", model_dir / "labels.txt"
        if not onnx_path.is_file() or not labels_path.is_file():
            raise SettingError(
                "SCANTALK_MODEL_DIR",
                str(model_dir),
                "a directory holding model.onnx and labels.txt",
            )
        self.name = model_dir.resolve().name
        self.labels = [
            line.strip() for line in labels_path.read_text().splitlines() if line.strip()
        ]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        meta = self.session.get_modelmeta().custom_metadata_map
        self.bgr = meta.get("Image.BitmapPixelFormat", "Bgr8") == "Bgr8"
        pixel_range = meta.get("Image.NominalPixelRange", "NominalRange_0_255")
        if pixel_range not in PIXEL_RANGES:
            raise SettingError(
                "SCANTALK_MODEL_DIR", str(model_dir), f"unknown pixel range {pixel_range}"
            )
        self.scale, self.offset = PIXEL_RANGES[pixel_range]
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.height, self.width = model_input.shape[2], model_input.shape[3]
        outputs = self.session.get_outputs()[0].shape
        if isinstance(outputs[-1], int) and outputs[-1] != len(self.labels):
            raise SettingError(
                "SCANTALK_MODEL_DIR",
                str(model_dir),
                f"labels.txt has {len(self.labels)} labels but the model outputs {outputs[-1]}",
            )

    @staticmethod
    def decode(jpeg: bytes) -> np.ndarray:
        """JPEG (or PNG) bytes to a BGR image; a corrupt frame is a `ContractError`."""
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ContractError(f"frame of {len(jpeg)} bytes is not a decodable image")
        return image

    def preprocess(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        scale = max(self.height / h, self.width / w)
        resized = cv2.resize(
            bgr,
            (max(self.width, round(w * scale)), max(self.height, round(h * scale))),
            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        )
        top = (resized.shape[0] - self.height) // 2
        left = (resized.shape[1] - self.width) // 2
        crop = resized[top : top + self.height, left : left + self.width]
        if not self.bgr:
            crop = crop[:, :, ::-1]
        tensor = crop.astype(np.float32) * self.scale + self.offset
        return np.ascontiguousarray(tensor.transpose(2, 0, 1)[None])

    def predict(self, bgr: np.ndarray, top: int = 3) -> list[Guess]:
        """The `top` most likely labels, best first."""
        probabilities = self.session.run(None, {self.input_name: self.preprocess(bgr)})[0][0]
        best = np.argsort(probabilities)[::-1][:top]
        return [Guess(self.labels[i], round(float(probabilities[i]), 4)) for i in best]
