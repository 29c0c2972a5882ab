"""Make the int8 variant of the default produce model (onnxruntime static quantisation).

    PYTHONPATH=. .venv/bin/python script/quantize_produce.py

From the checkout root: `testbench` is not installed, so `PYTHONPATH=.` finds it, as pytest's
`pythonpath` does. It reads `scantalk/models/produce` and writes `scantalk/models/produce-int8`
in this checkout.

Calibration uses tuxpaint photos that are *not* in the evaluation set (`testbench.eval_set`):
cartoon fruit, desserts, plants, animals and an empty counter, composited as the camera shows
them, so the reported accuracy is not measured on the calibration pictures.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from classifier_node.model import Model
from scantalk.scene import TUXPAINT_STAMPS, empty_scene, photo_frame
from testbench import eval_set

MODELS = Path(__file__).resolve().parent.parent / "scantalk" / "models"
SOURCE, TARGET = MODELS / "produce", MODELS / "produce-int8"
CALIBRATION_FOLDERS = ["food/fruit/cartoon", "food/dessert", "plants", "animals", "vehicles"]
PER_FOLDER = 24


def calibration_photos() -> list[Path]:
    evaluated = eval_set.photos()
    photos = []
    for folder in CALIBRATION_FOLDERS:
        found = sorted(p for p in (TUXPAINT_STAMPS / folder).rglob("*.png") if p not in evaluated)
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
