"""What the core's registry learns of the classifier node (entry point `scantalk.nodes:classifier`):
the node, and `scantalk model info|eval`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from classifier_node.settings import ClassifierSettings
from scantalk.contract import NodeName
from scantalk.registry import Command, NodeSpec


def run(settings: ClassifierSettings) -> None:
    from classifier_node.node import main

    main(settings)


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_path", metavar="MODEL_DIR", type=Path)


def _eval_arguments(parser: argparse.ArgumentParser) -> None:
    _model_arguments(parser)
    parser.add_argument("images", metavar="IMAGES_DIR", type=Path, help="one folder per label")
    parser.add_argument("--json", action="store_true", help="the result as JSON")


def info(args: argparse.Namespace, settings: ClassifierSettings) -> int:
    from classifier_node.model import Model

    print(json.dumps(Model(args.model_path, settings.inference_threads).describe(), indent=2))
    return 0


def evaluate(args: argparse.Namespace, settings: ClassifierSettings) -> int:
    from classifier_node.evaluation import evaluate, report
    from classifier_node.model import Model

    model = Model(args.model_path, settings.inference_threads)
    result = evaluate(model, args.images, settings.thresholds)
    print(json.dumps(result, indent=2) if args.json else report(result))
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
            "per-class accuracy, confusion matrix and latency on labelled photos "
            "(one sub-folder per label, and nothing/)",
            evaluate,
            _eval_arguments,
        ),
    ),
)
