"""Small ONNX models shaped like Azure's exports, built with onnx's helper API: Custom Vision's
three output layouts, and Azure Machine Learning AutoML's image classifiers.

Each scores label i by how much channel i of its input stands out from the frame's mean colour,
so whether the classifier feeds the channels in the order (and range) the model asks for shows
in the answer. A "nothing there" label (`Negative`, `background`) scores a constant instead:
on a grey counter it leads with 0.96 and leaves the others crumbs, as real exports do.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

LABELS = ["blue", "green", "red"]  # channel i of a BGR tensor scores label i
NOTHING = ("Negative", "background")
NOTHING_SHARE = 0.96
"""What a "nothing there" label gets of a grey frame, beside two item labels."""

LAYOUTS = ("classic", "label-and-probabilities", "single")
"""The output layouts of real Custom Vision exports: `classic` (ONNX 1.2: string `classLabel`
and a `loss` label -> probability map), `label-and-probabilities` (newer: string `classLabel`
beside a float `loss` [N, labels]) and `single` (one float output)."""
AUTOML = "automl"
"""Azure Machine Learning AutoML's: `input1` (RGB, 0-1 then ImageNet mean/std, or 0-255 with
`onnx_normalization`), `output1` logits, `labels.json`; no metadata."""
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def build(
    folder: Path,
    *,
    layout: str,
    pixel_format: str = "Bgr8",
    pixel_range: str = "NominalRange_0_255",
    size: int | None = None,
    labels: list[str] = LABELS,
    onnx_normalization: bool = False,
) -> Path:
    """Write `model.onnx` and `labels.txt` (`labels.json` for AUTOML) in one of the layouts;
    `size`: the input's, by default 32 (AutoML: its default crop, 224)."""
    automl = layout == AUTOML
    size = size or (224 if automl else 32)
    classic, labelled = layout == "classic", layout not in ("single", AUTOML)
    folder.mkdir(parents=True, exist_ok=True)
    unit = not automl and not pixel_range.startswith("NominalRange")
    scale = 25.5 if unit else 0.1  # logits per unit of 0-255 colour difference
    nothing = [label in NOTHING for label in labels]
    weights = np.zeros((3, len(labels)), np.float32)
    for i in range(min(3, len(labels))):
        if not nothing[i]:
            weights[:, i] = scale * (np.eye(3)[i] - 1 / 3)  # channel i above the mean
    items = len(labels) - sum(nothing)
    bias = np.array(
        [math.log(NOTHING_SHARE * items / (1 - NOTHING_SHARE)) if n else 0.0 for n in nothing],
        np.float32,
    )
    initializers = [
        helper.make_tensor("weights", TensorProto.FLOAT, weights.shape, weights.ravel()),
        helper.make_tensor("bias", TensorProto.FLOAT, bias.shape, bias),
    ]
    nodes = []
    source = "data"
    if automl:
        source = "input1"
        if not onnx_normalization:  # undo ImageNet's normalisation, back to 0-255
            std = np.array(STD, np.float32).reshape(1, 3, 1, 1) * 255
            mean = np.array(MEAN, np.float32).reshape(1, 3, 1, 1) * 255
            initializers += [
                helper.make_tensor("std", TensorProto.FLOAT, std.shape, std.ravel()),
                helper.make_tensor("mean", TensorProto.FLOAT, mean.shape, mean.ravel()),
            ]
            nodes += [
                helper.make_node("Mul", ["input1", "std"], ["scaled"]),
                helper.make_node("Add", ["scaled", "mean"], ["pixels"]),
            ]
            source = "pixels"
    nodes += [
        helper.make_node("ReduceMean", [source], ["mean_colour"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["mean_colour", "weights"], ["weighted"]),
        helper.make_node("Add", ["weighted", "bias"], ["logits"]),
    ]
    if automl:
        nodes.append(helper.make_node("Identity", ["logits"], ["output1"]))
        outputs = [helper.make_tensor_value_info("output1", TensorProto.FLOAT, [None, len(labels)])]
    else:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=1))
        outputs = []
    if labelled:
        nodes += [
            helper.make_node("ArgMax", ["probs"], ["best"], axis=1, keepdims=0),
            helper.make_node("Gather", ["label_names", "best"], ["classLabel"], axis=0),
        ]
        initializers.append(
            helper.make_tensor(
                "label_names",
                TensorProto.STRING,
                [len(labels)],
                [s.encode() for s in labels],  # type: ignore[misc]  # onnx's stub: numbers only
            )
        )
        outputs = [helper.make_tensor_value_info("classLabel", TensorProto.STRING, [None])]
    if classic:
        nodes.append(
            helper.make_node(
                "ZipMap", ["probs"], ["loss"], domain="ai.onnx.ml", classlabels_strings=labels
            )
        )
        outputs.append(
            helper.make_value_info(
                "loss",
                helper.make_sequence_type_proto(
                    helper.make_map_type_proto(
                        TensorProto.STRING, helper.make_tensor_type_proto(TensorProto.FLOAT, [])
                    )
                ),
            )
        )
    elif not automl:
        name = "loss" if labelled else "model_output"
        nodes.append(helper.make_node("Identity", ["probs"], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, len(labels)]))
    graph = helper.make_graph(
        nodes,
        "automl-like" if automl else "custom-vision-like",
        [helper.make_tensor_value_info(
            "input1" if automl else "data", TensorProto.FLOAT, [None, 3, size, size]
        )],
        outputs,
        initializers,
    )  # fmt: skip
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 1)],
    )
    model.ir_version = 8
    if not automl:  # AutoML's exports carry no image metadata
        for key, value in {
            "Image.BitmapPixelFormat": pixel_format,
            "Image.NominalPixelRange": pixel_range,
            "Image.ColorSpaceGamma": "SRGB",
        }.items():
            model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "model.onnx"))
    if automl:
        (folder / "labels.json").write_text(json.dumps(labels))
    else:
        (folder / "labels.txt").write_text("".join(f"{label}\n" for label in labels))
    return folder
