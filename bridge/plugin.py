"""What the core's registry learns of the bridge (entry point `scantalk.nodes:bridge`): the
node, `scantalk records` and `scantalk discovery`, and Home Assistant's channels, which the
bridge publishes and reads beside the contract's."""

from __future__ import annotations

import argparse

from bridge import homeassistant
from bridge.settings import BridgeSettings
from scantalk.contract import NodeName
from scantalk.registry import Command, NodeSpec


def run(settings: BridgeSettings) -> None:
    from bridge.node import main

    main(settings)


def _records_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pending", action="store_true", help="only those not yet delivered")
    parser.add_argument("--json", action="store_true", help="one JSON record per line")


def records(args: argparse.Namespace, settings: BridgeSettings) -> int:
    from bridge.records import show_records

    return show_records(settings.outbox_path, pending_only=args.pending, as_json=args.json)


NODE = NodeSpec(
    NodeName.BRIDGE,
    BridgeSettings,
    run,
    extra="bridge",
    commands=(
        Command(
            ("records",),
            "list the inventory records the bridge stored",
            records,
            _records_arguments,
        ),
        Command(
            ("discovery",),
            "publish (or --remove) Home Assistant discovery",
            homeassistant.run,
            homeassistant.arguments,
        ),
    ),
    channels=homeassistant.CHANNELS,
    messages=homeassistant.asyncapi_messages,
)
