"""Make the int8 variant of a produce model (onnxruntime static quantisation).

    .venv/bin/python script/quantize_produce.py [--source DIR --target DIR]

By default it reads `scantalk/models/produce` and writes `scantalk/models/produce-int8` in this
checkout.

Why this scheme: onnxruntime's u8s8 integer kernels on x86-64 with AVX2 but
without VNNI multiply with `vpmaddubsw`, which adds two u8*s8 products into a *saturating*
int16. With full 8-bit weights (|w| up to 127) two products reach 2*255*127 = 64770 and clip at
32767, so such a CPU answers differently from AVX512-VNNI or ARM64 (which accumulate in int32).
The scheme here keeps the integer maths exact on every ISA: dense convolutions are U8U8
(widened to int16 before `vpmaddwd`, summed in int32), depthwise ones keep s8 weights and run in
MLAS's depthwise kernel, which sums in int32 (both checked exact on this machine at the
extremes, 255*255 and 255*127). What remains between CPUs is at most a rounding step of the float
requantisation, and the difference to fp32 is quantisation error alone
(`tests/classifier_node/test_int8.py`).
Measured against fp32 on 76 frames (lite0), top-1 agreement: this scheme 93.4 %; QDQ u8s8 with
`reduce_range` 84.2 %; QDQ u8u8 89.5 % but 5-20x slower (u8 depthwise weights fall to a slow
kernel); the old full-range u8s8, which saturates here, 69.7 %.

Calibration uses tuxpaint photos that are *not* in the evaluation
(`classifier_node.evaluation.photos`): cartoon fruit, desserts, plants, animals and an empty
counter, composited as the camera shows them, preprocessed by the classifier's own code.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from classifier_node import evaluation
from classifier_node.model import Model
from scantalk.scene import TUXPAINT_STAMPS, empty_scene, photo_frame

MODELS = Path(__file__).resolve().parent.parent / "scantalk" / "models"
SOURCE, TARGET = MODELS / "produce", MODELS / "produce-int8"
CALIBRATION_FOLDERS = ["food/fruit/cartoon", "food/dessert", "plants", "animals", "vehicles"]
PER_FOLDER = 24
OP_TYPES = ["Conv", "Add", "Clip"]
"""The convolutional trunk, nearly all the compute. Pooling, the classifier (Gemm), Softmax and
the Gathers of the produce columns stay float: the `features` output is the float average of the
last activation, and the logits keep float precision (one step of an 8-bit logit moves a
probability by ~10 %)."""


def calibration_photos() -> list[Path]:
    evaluated = evaluation.photos()
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


def weight_types(model: onnx.ModelProto) -> dict:
    """Per-channel overrides for the Conv weights: s8 for depthwise convolutions (one input
    channel a group), u8 for the dense ones. onnxruntime 1.32 stores per-channel QOperator Conv
    weights as int8 whatever `weight_type` says, so u8 is set per weight."""
    overrides = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            kind = QuantType.QInt8 if group > 1 else QuantType.QUInt8
            overrides[node.input[1]] = [{"axis": 0, "quant_type": kind}]
    return overrides


def quantize(source: Path, target: Path) -> Path:
    """Quantise `source/model.onnx` into `target/` (with labels and catalog)."""
    target.mkdir(parents=True, exist_ok=True)
    prepared = target / "prepared.onnx"
    quant_pre_process(str(source / "model.onnx"), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(target / "model.onnx"),
        Frames(Model(source)),
        quant_format=QuantFormat.QOperator,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QUInt8,
        reduce_range=False,
        calibrate_method=CalibrationMethod.MinMax,
        op_types_to_quantize=OP_TYPES,
        extra_options={"TensorQuantOverrides": weight_types(onnx.load(str(prepared)))},
    )
    prepared.unlink()
    for name in ("labels.txt", "catalog.csv"):
        shutil.copy(source / name, target / name)
    return target / "model.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="fp32 model folder")
    parser.add_argument("--target", type=Path, default=TARGET, help="int8 model folder to write")
    args = parser.parse_args()
    path = quantize(args.source, args.target)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
