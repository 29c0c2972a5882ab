"""What the core's registry learns of the classifier node (entry point `scantalk.nodes:classifier`):
the node, `scantalk model info|eval`, and `scantalk teach|taught|forget`."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from classifier_node.settings import ClassifierSettings
from scantalk.catalog import UNITS
from scantalk.contract import PLU_PATTERN, NodeName, TaughtAction, Unit
from scantalk.phrases import PHRASES, base_language
from scantalk.registry import Command, NodeSpec

if TYPE_CHECKING:  # onnxruntime loads only when a command runs
    from classifier_node.model import Model

CAMERA_SHOT_EVERY_S = 0.7
"""Between photos taken from the camera: time to turn the item."""


def _plu(text: str) -> str:
    if not re.fullmatch(PLU_PATTERN.strip("^$"), text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a price look-up code (4 or 5 digits)")
    return text


def run(settings: ClassifierSettings) -> None:
    from classifier_node.node import main

    main(settings)


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_path", metavar="MODEL_DIR", type=Path)


def _eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model_path", metavar="MODEL_DIR", type=Path, nargs="?",
        help="default: the lane's model (SCANTALK_MODEL_DIR)",
    )  # fmt: skip
    parser.add_argument(
        "--photos", type=Path,
        help="labelled photos instead of the built-in scenes: one sub-folder per label, "
        "and nothing/ for photos that must not become a scan",
    )  # fmt: skip
    parser.add_argument(
        "--taught", action="store_true",
        help="also teach the evaluation's unknown-produce items from teaching scenes, and "
        "judge them on test scenes composed differently",
    )  # fmt: skip
    parser.add_argument(
        "--learn", action="store_true",
        help="also the learning curve: learn from a simulated shopper's answers on as many "
        "other stagings, then run the test stagings again",
    )  # fmt: skip
    parser.add_argument(
        "--stagings", type=int, default=6, help="test stagings per photo (default: 6)"
    )
    parser.add_argument(
        "--seed", type=int, default=2026,
        help="of the stagings (default: 2026, the README's; tune thresholds on another)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="the result as JSON")


def info(args: argparse.Namespace, settings: ClassifierSettings) -> int:
    from classifier_node.model import Model

    model = Model.of_lane(settings, args.model_path)
    print(json.dumps(model.describe(), indent=2))
    return 0


def evaluate(args: argparse.Namespace, settings: ClassifierSettings) -> int:
    from classifier_node.evaluation import evaluate, evaluate_photos, report
    from classifier_node.model import Model

    model = Model.of_lane(settings, args.model_path, taught=False)
    if args.photos:
        result = evaluate_photos(model, args.photos, settings.thresholds)
    else:
        result = evaluate(
            model, settings.thresholds, taught=args.taught, stagings=args.stagings,
            learn=args.learn, seed=args.seed,
        )  # fmt: skip
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


def _teach_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("label", metavar="LABEL", help="the item's label, e.g. fuji_apple")
    parser.add_argument(
        "photos", metavar="PHOTO_OR_FOLDER", type=Path, nargs="*",
        help="5-20 photos of the item (cut-outs with transparency are put on a counter)",
    )  # fmt: skip
    parser.add_argument(
        "--from-camera", action="store_true",
        help="take the photos from the running camera: turn the item between shots",
    )  # fmt: skip
    parser.add_argument("--count", type=int, default=10, help="photos to take from the camera")
    parser.add_argument(
        "--name", help="the name in the lane's language (default: the label, tidied)"
    )
    for language in sorted(PHRASES):
        parser.add_argument(f"--name-{language}", metavar="NAME", help=f"the name in {language}")
    parser.add_argument("--plu", type=_plu, help="price look-up code (4 or 5 digits), e.g. 4131")
    parser.add_argument(
        "--unit", choices=UNITS, default="each", help="how it is sold: each, or kg (by weight)"
    )


def teach(args: argparse.Namespace, settings: ClassifierSettings) -> int:
    from classifier_node.model import Model
    from classifier_node.teaching import teach
    from scantalk.catalog import Product

    if bool(args.photos) == args.from_camera:
        print("teach: give photos or --from-camera (one of them)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    model = Model.of_lane(settings)
    if args.from_camera:
        images = _camera_photos(settings, model, args.count)
    else:
        images = _photos(args.photos)
    names = {
        lang: getattr(args, f"name_{lang}") for lang in PHRASES if getattr(args, f"name_{lang}")
    }
    if args.name:
        names[base_language(settings.language)] = args.name
    product = Product(args.label, plu=args.plu, names=names, unit=Unit(args.unit))
    try:
        teach(model, product, images)
    except ValueError as exc:
        print(f"teach: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    print(
        f"taught {args.label} ({product.name(settings.language)}) from {len(images)} photos "
        f"in {elapsed:.1f} s; stored in {model.folder.taught_dir}"
    )
    return _tell_classifier(settings, args.label, TaughtAction.TAUGHT, model.name, len(images))


def _forget_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("label", metavar="LABEL")


def forget(args: argparse.Namespace, settings: ClassifierSettings) -> int:
    """Forget what staff taught of an item and what the lane learned of it from answers."""
    from classifier_node import learning, teaching
    from classifier_node.model import Model

    model = Model.of_lane(settings)
    undone = [
        what
        for what, done in (
            ("taught", teaching.forget(model, args.label)),
            ("learned from answers", learning.forget(model, args.label)),
        )
        if done
    ]
    if not undone:
        known = ", ".join(model.prototypes.labels) or "none"
        print(
            f"forget: {args.label} was neither taught nor learned on this lane "
            f"(taught or learned: {known})", file=sys.stderr,
        )  # fmt: skip
        return 1
    print(f"forgot {args.label} ({' and '.join(undone)})")
    return _tell_classifier(settings, args.label, TaughtAction.FORGOTTEN, model.name, 0)


def taught(args: argparse.Namespace, settings: ClassifierSettings) -> int:
    """What this lane knows beyond its model: items staff taught, and what it learned from
    shoppers' answers (from how many, how many agree, since when)."""
    from classifier_node import learning, teaching
    from classifier_node.model import Model

    model = Model.of_lane(settings)
    staff = teaching.staff_taught(model)
    learned = learning.summary(model)
    if args.json:
        print(json.dumps({"taught": list(staff.labels), "learned": learned}, indent=2))
        return 0
    print(f"taught by staff: {', '.join(staff.labels) or 'none'}")
    if not learned:
        print("learned from answers: nothing yet")
    for row in learned:
        state = "enrolled" if row["enrolled"] else "not enrolled"
        print(
            f"learned {row['label']}: {row['answers']} answers, {row['consistent']} consistent, "
            f"{row['held_for_staff']} held for staff; {state}; since {row['since']}, "
            f"last {row['last']}"
        )
    return 0


def _taught_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="as JSON")


def _photos(paths: list[Path]) -> list:
    from scantalk.scene import IMAGE_SUFFIXES, photo_frame

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(path)
    return [photo_frame(path) for path in files]


def _camera_photos(settings: ClassifierSettings, model: Model, count: int) -> list:
    from scantalk.runtime import Peer

    print(f"taking {count} photos from the camera; turn the item between shots", file=sys.stderr)
    timeout = count * CAMERA_SHOT_EVERY_S + 30
    with Peer(settings, "teach") as peer:
        frames = peer.receive(settings.topics.frame, count, CAMERA_SHOT_EVERY_S, timeout)
    if len(frames) < count:
        print(f"teach: only {len(frames)} frames came from the camera", file=sys.stderr)
    return [model.decode(frame) for frame in frames]


def _tell_classifier(
    settings: ClassifierSettings, label: str, action: TaughtAction, model: str, photos: int
) -> int:
    """Publish the change, so a running classifier picks it up; without a broker, the
    classifier reads it at its next start."""
    from scantalk.contract import TaughtChange
    from scantalk.runtime import Peer

    change = TaughtChange(settings.station, label, action, model, photos)
    try:
        with Peer(settings, "teach") as peer:
            peer.publish(settings.topics.taught, change)
    except ConnectionError as exc:
        print(f"{exc}: a running classifier picks this up at its next start", file=sys.stderr)
    return 0


NODE = NodeSpec(
    NodeName.CLASSIFIER,
    ClassifierSettings,
    run,
    extra="classifier",
    commands=(
        Command(
            ("model", "info"),
            "a model directory's inputs, outputs, preprocessing and labels",
            info,
            _model_arguments,
        ),
        Command(
            ("model", "eval"),
            "placements of known, taught and unknown items and of non-produce, on composed "
            "camera scenes, through the lane's own decision",
            evaluate,
            _eval_arguments,
        ),
        Command(
            ("teach",),
            "teach an item from a few photos or from the camera, without the cloud",
            teach,
            _teach_arguments,
        ),
        Command(
            ("forget",),
            "forget an item taught on this lane, or learned from shoppers' answers",
            forget,
            _forget_arguments,
        ),
        Command(
            ("taught",),
            "list the items taught on this lane and learned from shoppers' answers",
            taught,
            _taught_arguments,
        ),
    ),
)
