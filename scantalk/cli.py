"""The `scantalk` command: `up`, `node <name>`, `records`."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence

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
    for sub in (up, node, records):
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
        return show_records(settings, pending_only=args.pending, as_json=args.json)
    except SettingError as exc:
        print(f"scantalk: {exc}", file=sys.stderr)
        return 2
    except BrokerError as exc:
        print(f"scantalk: {exc}", file=sys.stderr)
        return 1


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
