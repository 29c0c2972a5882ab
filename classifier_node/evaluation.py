"""`scantalk model eval`: how well a model, with the scan decision, does on labelled photos.

The images folder holds one sub-folder per label, plus `nothing` for pictures that must not
become a scan (an empty counter, a hand, things the model does not know). Each picture is judged
as one frame is at the lane: a confident label, or no scan.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from pathlib import Path

from classifier_node.decision import Thresholds, judge
from classifier_node.model import Model
from scantalk.latency import summary
from scantalk.scene import IMAGE_SUFFIXES, photo_frame

NOTHING = "nothing"


def evaluate(model: Model, images_dir: Path, thresholds: Thresholds) -> dict:
    confusion: Counter[tuple[str, str]] = Counter()
    latencies = []
    for folder in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        truth = folder.name
        if truth != NOTHING and truth not in model.labels:
            raise ValueError(
                f"{folder}: {truth!r} is not one of the model's labels nor {NOTHING!r}"
            )
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            rgb = photo_frame(path)
            started = time.perf_counter()
            reading = model.read(rgb)
            latencies.append((time.perf_counter() - started) * 1000)
            verdict = judge(reading, thresholds)
            confusion[truth, verdict if verdict in model.labels else NOTHING] += 1
    classes = sorted({t for t, _ in confusion}, key=lambda c: (c == NOTHING, c))
    predicted = sorted({p for _, p in confusion} | set(classes), key=lambda c: (c == NOTHING, c))
    per_class: dict[str, dict[str, float]] = {}
    for c in classes:
        images = sum(n for (t, _), n in confusion.items() if t == c)
        per_class[c] = {
            "images": images,
            "correct": confusion[c, c],
            "accuracy": round(confusion[c, c] / images, 4),
        }
    total = sum(confusion.values())
    produce = [c for c in classes if c != NOTHING]
    return {
        "model": model.name,
        "images": total,
        "accuracy": round(sum(confusion[c, c] for c in classes) / total, 4),
        "produce_accuracy": _share(sum(confusion[c, c] for c in produce), produce, per_class),
        "false_scans": sum(n for (t, p), n in confusion.items() if t == NOTHING and p != NOTHING),
        "per_class": per_class,
        "confusion": {
            "labels": predicted,
            "rows": {t: [confusion[t, p] for p in predicted] for t in classes},
        },
        "latency_ms": summary(latencies),
        "thresholds": dataclasses.asdict(thresholds),
    }


def _share(correct: int, classes: list[str], per_class: dict) -> float:
    images = sum(per_class[c]["images"] for c in classes)
    return round(correct / images, 4) if images else 0.0


def report(result: dict) -> str:
    """The evaluation as text for a person."""
    lines = [
        f"model {result['model']}: {result['images']} images, accuracy {result['accuracy']:.1%}, "
        f"produce {result['produce_accuracy']:.1%}, false scans {result['false_scans']}",
        f"latency (preprocess + inference): median {result['latency_ms']['median']} ms, "
        f"p99 {result['latency_ms']['p99']} ms",
        "",
        f"{'class':<18}{'images':>7}{'correct':>9}{'accuracy':>10}",
    ]
    for name, row in result["per_class"].items():
        lines.append(f"{name:<18}{row['images']:>7}{row['correct']:>9}{row['accuracy']:>10.0%}")
    labels = result["confusion"]["labels"]
    width = max(len(label) for label in labels) + 1
    lines += [
        "",
        "confusion (rows: truth, columns: judged)",
        " " * width + "".join(f"{i:>4}" for i in range(len(labels))),
    ]
    for name, counts in result["confusion"]["rows"].items():
        lines.append(f"{name:<{width}}" + "".join(f"{n or '.':>4}" for n in counts))
    lines.append("columns: " + ", ".join(f"{i} {label}" for i, label in enumerate(labels)))
    return "\n".join(lines)
