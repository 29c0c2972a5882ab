"""The `scantalk` command: `up`, `node <name>`, `records`."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dotenv import dotenv_values

from scantalk.broker import BrokerError
from scantalk.contract import NODES
from scantalk.settings import SettingError, Settings

NODE_MODULES = {
    "camera": "camera_node.node",
    "classifier": "classifier_node.node",
    "voice": "voice_node.node",
    "bridge": "bridge.node",
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="scantalk", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run a whole lane: broker and the four nodes")
    up.add_argument("--demo", action="store_true", help="camera shows the demo photos")
    node = commands.add_parser("node", help="run one node")
    node.add_argument("name", choices=NODES)
    records = commands.add_parser("records", help="list the inventory records the bridge stored")
    records.add_argument("--pending", action="store_true", help="only those not yet delivered")
    records.add_argument("--json", action="store_true", help="one JSON record per line")
    model = commands.add_parser("model", help="inspect or evaluate a model directory")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    info = model_commands.add_parser("info", help="inputs, outputs, preprocessing, labels")
    info.add_argument("model_path", metavar="MODEL_DIR")
    evaluate = model_commands.add_parser(
        "eval", help="per-class accuracy, confusion matrix and latency on labelled photos"
    )
    evaluate.add_argument("model_path", metavar="MODEL_DIR")
    evaluate.add_argument(
        "images", metavar="IMAGES_DIR", help="one sub-folder per label, and nothing/"
    )
    evaluate.add_argument("--json", action="store_true", help="the result as JSON")
    voice = commands.add_parser("voice", help="the voice's audio cache")
    voice_commands = voice.add_subparsers(dest="voice_command", required=True)
    warm = voice_commands.add_parser(
        "warm", help="pre-synthesise the catalog's names and the phrases into the audio cache"
    )
    for sub in (up, node, records, evaluate, warm):
        Settings.add_arguments(
            sub.add_argument_group("settings (flags win over SCANTALK_* variables)")
        )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "demo", False):
        args.camera_source = "demo"
    # Secrets such as the IoT Hub connection string may sit in an (ignored) .env file.
    environ = {k: v for k, v in dotenv_values(".env").items() if v is not None} | dict(os.environ)
    try:
        settings = Settings.load(environ, args)
        if args.command == "up":
            from scantalk import stack

            explicit = args.mqtt_port is not None or "SCANTALK_MQTT_PORT" in environ
            return stack.up(stack.choose_port(settings, explicit))
        if args.command == "node":
            importlib.import_module(NODE_MODULES[args.name]).main(settings)
            return 0
        if args.command == "model":
            return model_command(args, settings)
        if args.command == "voice":
            from voice_node.warm import warm_cache

            print(warm_cache(settings))
            return 0
        return show_records(settings, pending_only=args.pending, as_json=args.json)
    except SettingError as exc:
        print(f"scantalk: {exc}", file=sys.stderr)
        return 2
    except BrokerError as exc:
        print(f"scantalk: {exc}", file=sys.stderr)
        return 1


def model_command(args: argparse.Namespace, settings: Settings) -> int:
    from classifier_node.decision import Thresholds
    from classifier_node.evaluation import evaluate, report
    from classifier_node.model import Model

    model = Model(Path(args.model_path), threads=settings.inference_threads)
    if args.model_command == "info":
        print(json.dumps(model.describe(), indent=2))
        return 0
    thresholds = Thresholds(settings.threshold, settings.stable_frames, settings.empty_below)
    result = evaluate(model, Path(args.images), thresholds)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


def show_records(settings: Settings, pending_only: bool, as_json: bool) -> int:
    from bridge.node import outbox_path
    from bridge.outbox import Outbox

    path = outbox_path(settings)
    if not path.exists():
        print(f"no records yet ({path} does not exist)", file=sys.stderr)
        return 0
    outbox = Outbox(path)
    for stored in outbox.records(pending_only):
        r = stored.record
        if as_json:
            print(
                json.dumps(
                    {
                        **r.to_dict(),
                        "deliveredAt": stored.delivered_at,
                        "destination": stored.destination,
                    }
                )
            )
        else:
            state = (
                f"{stored.destination} {stored.delivered_at}" if stored.delivered_at else "pending"
            )
            print(
                f"{r.scanned_at}  {r.station_id}  {r.display_name:<20} plu={r.plu or '-':<5} "
                f"conf={r.confidence:.2f}  {r.scan_id}  {state}"
            )
    outbox.close()
    return 0
