"""Small ONNX models shaped like Azure Custom Vision's exports, built with onnx's helper API.

Each scores labels by the mean of one colour channel, so whether the classifier feeds the
channels in the order the model's metadata asks for shows in the answer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

LABELS = ["blue", "green", "red"]  # channel i of a BGR tensor scores label i


LAYOUTS = ("classic", "label-and-probabilities", "single")
"""The output layouts of real exports: `classic` (ONNX 1.2: string `classLabel` and a `loss`
label -> probability map), `label-and-probabilities` (newer: string `classLabel` beside a float
`loss` [N, labels]) and `single` (one float output)."""


def build(
    folder: Path,
    *,
    layout: str,
    pixel_format: str = "Bgr8",
    pixel_range: str = "NominalRange_0_255",
    size: int = 32,
    labels: list[str] = LABELS,
) -> Path:
    """Write `model.onnx` and `labels.txt` in one of the `LAYOUTS`."""
    classic, labelled = layout == "classic", layout != "single"
    folder.mkdir(parents=True, exist_ok=True)
    scale = 0.1 if pixel_range.startswith("NominalRange") else 25.0
    weights = np.eye(3, len(labels), dtype=np.float32) * scale
    nodes = [
        helper.make_node("ReduceMean", ["data"], ["mean"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["mean", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    initializers = [
        helper.make_tensor("weights", TensorProto.FLOAT, weights.shape, weights.ravel())
    ]
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
    else:
        outputs = []
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
    else:
        name = "loss" if labelled else "model_output"
        nodes.append(helper.make_node("Identity", ["probs"], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, len(labels)]))
    graph = helper.make_graph(
        nodes,
        "custom-vision-like",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [None, 3, size, size])],
        outputs,
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 1)],
    )
    model.ir_version = 8
    for key, value in {
        "Image.BitmapPixelFormat": pixel_format,
        "Image.NominalPixelRange": pixel_range,
        "Image.ColorSpaceGamma": "SRGB",
    }.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "model.onnx"))
    (folder / "labels.txt").write_text("".join(f"{label}\n" for label in labels))
    return folder
