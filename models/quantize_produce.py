"""Make the int8 variant of the default produce model (onnxruntime static quantisation).

    python models/quantize_produce.py

Calibration uses tuxpaint photos that are *not* in the evaluation set (`tuxpaint-eval.csv`):
cartoon fruit, desserts, plants, animals and an empty counter, composited as the camera shows
them, so the reported accuracy is not measured on the calibration pictures.
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from classifier_node.model import Model
from scantalk.scene import empty_scene, photo_frame

MODELS = Path(__file__).resolve().parent
SOURCE, TARGET = MODELS / "produce", MODELS / "produce-int8"
STAMPS = Path("/usr/share/tuxpaint/stamps")
CALIBRATION_FOLDERS = ["food/fruit/cartoon", "food/dessert", "plants", "animals", "vehicles"]
PER_FOLDER = 24


def calibration_photos() -> list[Path]:
    with (MODELS / "tuxpaint-eval.csv").open(newline="") as f:
        evaluated = {STAMPS / row["photo"] for row in csv.DictReader(f)}
    photos = []
    for folder in CALIBRATION_FOLDERS:
        found = sorted(p for p in (STAMPS / folder).rglob("*.png") if p not in evaluated)
        photos += found[:PER_FOLDER]
    return photos


class Frames(CalibrationDataReader):
    def __init__(self, model: Model) -> None:
        images = [empty_scene()] + [photo_frame(p) for p in calibration_photos()]
        self._feeds = iter({model.input_name: model.preprocess(image)} for image in images)

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


def main() -> None:
    TARGET.mkdir(exist_ok=True)
    prepared = TARGET / "prepared.onnx"
    quant_pre_process(str(SOURCE / "model.onnx"), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(TARGET / "model.onnx"),
        Frames(Model(SOURCE)),
        quant_format=QuantFormat.QOperator,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )
    prepared.unlink()
    for name in ("labels.txt", "catalog.csv"):
        shutil.copy(SOURCE / name, TARGET / name)
    size = (TARGET / "model.onnx").stat().st_size / 1e6
    print(f"wrote {TARGET / 'model.onnx'} ({size:.1f} MB)")


if __name__ == "__main__":
    main()
