"""Model comparison: placement accuracy against milliseconds per frame, per model.

    .venv/bin/python -m bench.classifier [MODEL_DIR ...] [--frames 200] [--threads 2] [--stagings 6]

Without arguments it compares the shipped models (`produce`, `produce-int8`). "pipeline" is
what the node does per frame (JPEG decode, preprocess, inference); "bare" is `session.run`
alone on the same tensor, measured in the same run, interleaved, as the baseline. Accuracy is
`scantalk model eval --taught` (composed placements through the lane's decision): known items,
taught items, unknown produce announced, and non-produce announced.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from classifier_node.evaluation import evaluate
from classifier_node.model import Model
from classifier_node.settings import ClassifierSettings
from scantalk.latency import percentile
from scantalk.scene import TUXPAINT_FOOD, Stage, cutout, stagings
from scantalk.settings import BUILT_IN_MODELS

PHOTO = TUXPAINT_FOOD / "fruit" / "banana.png"


def measure(model: Model, jpeg: bytes, frames: int) -> tuple[list[float], list[float]]:
    tensor = model.preprocess(model.decode(jpeg))
    bare, pipeline = [], []
    for _ in range(10):  # warm up both paths
        model.read(model.decode(jpeg))
    for _ in range(frames):
        started = time.perf_counter()
        model.run(tensor)
        bare.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        model.read(model.decode(jpeg))
        pipeline.append((time.perf_counter() - started) * 1000)
    return bare, pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="*", type=Path, metavar="MODEL_DIR")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stagings", type=int, default=6, help="test stagings per photo")
    args = parser.parse_args()
    models = args.models or [BUILT_IN_MODELS / "produce", BUILT_IN_MODELS / "produce-int8"]
    staging = stagings("testing", 1, seed=3)[0]
    jpeg = Stage(staging, seed=3).frame(cutout(PHOTO))
    thresholds = ClassifierSettings().thresholds
    rows = []
    for path in models:
        model = Model(path, args.threads)
        bare, pipeline = measure(model, jpeg, args.frames)
        result = evaluate(model, thresholds, taught=True, stagings=args.stagings)
        rows.append((path, model, bare, pipeline, result))
    print(
        f"{args.threads} thread(s), {args.frames} frames of 640x480 JPEG per model; accuracy on "
        f"composed placements (scantalk model eval --taught --stagings {args.stagings})"
    )
    print(
        f"{'model':<28}{'input':>6}{'MB':>6}{'bare':>7}{'pipe':>7}{'p99':>7}"
        f"{'known':>7}{'taught':>8}{'wrong':>6}{'unknown':>8}{'other':>6}"
    )
    for path, model, bare, pipeline, r in rows:
        size = (path / "model.onnx").stat().st_size / 1e6
        print(
            f"{str(path)[-28:]:<28}{model.preprocessing.width:>6}{size:>6.1f}"
            f"{statistics.median(bare):>7.2f}{statistics.median(pipeline):>7.2f}"
            f"{percentile(pipeline, 0.99):>7.2f}{r['known']:>7.1%}{r['taught']:>8.1%}"
            f"{r['wrong_names']:>6}{r['unknown_announced']:>8.1%}{r['nothing_announced']:>6}"
        )
    base = statistics.median(rows[0][3])
    for path, _, _, pipeline, _ in rows[1:]:
        print(
            f"{path.name}: {base / statistics.median(pipeline):.2f}x the speed of {rows[0][0].name}"
        )


if __name__ == "__main__":
    main()
