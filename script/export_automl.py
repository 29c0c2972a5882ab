"""Export the default produce model in Azure Machine Learning AutoML's layout, for testing the
AutoML loader on a real recogniser (no Azure account needed, and nothing trained here).

An AutoML multi-class image model is `model.onnx` plus `labels.json`. What this copies, from
Microsoft's "Make predictions with ONNX on computer vision models from AutoML" (Azure Machine
Learning, multi-class tab; https://learn.microsoft.com/azure/machine-learning/
how-to-inference-onnx-automl-image-models):

- input `input1`, float `(batch, 3, height, width)`, height and width being `valid_crop_size`;
- output `output1`, `(batch, num_classes)`: logits, without softmax;
- `labels.json`: a JSON list, indexed by class id;
- its input: RGB, resized to `valid_resize_size` (default 256), centre crop to
  `valid_crop_size` (default 224), 0-1, ImageNet mean [0.485, 0.456, 0.406] and std
  [0.229, 0.224, 0.225]; with `enable_onnx_normalization` the graph normalises and takes
  RGB 0-255. Neither the resize size nor the normalisation is stored in the file.

The graph wraps `scantalk/models/produce/model.onnx` (EfficientNet-Lite0, ImageNet, which
expects RGB in [-1, 1] at 224): AutoML's input is turned back into that range, resized inside
the graph when the crop is not 224, and the produce probabilities p, the share of ImageNet's
full softmax, become logits: log p per produce class, and log(1 - sum p) for one class `other`
(everything ImageNet knows that is no produce), so a softmax gives back exactly p. The
catalog marks `other` as never a scan (`announce=no`). Like an AutoML export, it has no
`features` output, so nothing can be taught on top of it.

    python script/export_automl.py OUT_DIR [--crop 224|256] [--onnx-normalization]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from scantalk.settings import DEFAULT_MODEL_DIR

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LITE0_SIZE = 224
OTHER = "other"
FLOOR = 1e-9
"""Smallest probability given a logit (log 0 is minus infinity)."""


def export(out: Path, crop: int = 224, onnx_normalization: bool = False) -> Path:
    """Write `model.onnx`, `labels.json` and `catalog.csv` to `out`."""
    proto = onnx.load(str(DEFAULT_MODEL_DIR / "model.onnx"))
    graph = proto.graph
    (inner,) = [i.name for i in graph.input]
    if onnx_normalization:  # 0-255 in: x / 127.5 - 1
        scale, offset = np.full(3, 1 / 127.5), np.full(3, -1.0)
    else:  # x = (v/255 - mean) / std, and Lite0 wants 2 v/255 - 1 = 2 (x std + mean) - 1
        scale, offset = 2 * np.array(STD), 2 * np.array(MEAN) - 1
    constants = {
        "automl_scale": scale.reshape(1, 3, 1, 1),
        "automl_offset": offset.reshape(1, 3, 1, 1),
        "automl_floor": np.array(FLOOR),
        "automl_one": np.array(1.0),
    }
    if crop != LITE0_SIZE:
        constants["automl_size"] = np.array([1, 1, LITE0_SIZE / crop, LITE0_SIZE / crop])
    graph.initializer.extend(
        numpy_helper.from_array(value.astype(np.float32), name) for name, value in constants.items()
    )
    scaled = "automl_scaled" if crop != LITE0_SIZE else inner
    pre = [
        helper.make_node("Mul", ["input1", "automl_scale"], ["automl_times"]),
        helper.make_node("Add", ["automl_times", "automl_offset"], [scaled]),
    ]
    if crop != LITE0_SIZE:
        pre.append(helper.make_node("Resize", [scaled, "", "automl_size"], [inner], mode="linear"))
    post = [
        helper.make_node("ReduceSum", ["probabilities"], ["automl_sum"], keepdims=1),
        helper.make_node("Sub", ["automl_one", "automl_sum"], ["automl_rest"]),
        helper.make_node("Concat", ["probabilities", "automl_rest"], ["automl_p"], axis=1),
        helper.make_node("Max", ["automl_p", "automl_floor"], ["automl_kept"]),
        helper.make_node("Log", ["automl_kept"], ["output1"]),
    ]
    nodes = [*pre, *graph.node, *post]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.input[:]
    graph.input.append(
        helper.make_tensor_value_info("input1", TensorProto.FLOAT, ["batch", 3, crop, crop])
    )
    del graph.output[:]
    labels = [*DEFAULT_MODEL_DIR.joinpath("labels.txt").read_text().split(), OTHER]
    graph.output.append(
        helper.make_tensor_value_info("output1", TensorProto.FLOAT, ["batch", len(labels)])
    )
    del proto.metadata_props[:]  # AutoML's exports carry no image metadata
    onnx.checker.check_model(proto)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out / "model.onnx"))
    (out / "labels.json").write_text(json.dumps(labels))
    shutil.copy(DEFAULT_MODEL_DIR / "catalog.csv", out / "catalog.csv")
    with (out / "catalog.csv").open("a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow([OTHER, "", "no"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--crop", type=int, default=224, help="valid_crop_size (default 224)")
    parser.add_argument(
        "--onnx-normalization", action="store_true", help="as enable_onnx_normalization"
    )
    args = parser.parse_args()
    path = export(args.out_dir, args.crop, args.onnx_normalization) / "model.onnx"
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB), labels.json and catalog.csv")


if __name__ == "__main__":
    main()
