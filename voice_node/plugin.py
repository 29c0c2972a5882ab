"""What the core's registry learns of the voice node (entry point `scantalk.nodes:voice`): the
node, and `scantalk voice warm`."""

from __future__ import annotations

import argparse

from scantalk.contract import NodeName
from scantalk.registry import Command, NodeSpec
from voice_node.settings import VoiceSettings


def run(settings: VoiceSettings) -> None:
    from voice_node.node import main

    main(settings)


def warm(_args: argparse.Namespace, settings: VoiceSettings) -> int:
    from voice_node.warm import warm_cache

    print(warm_cache(settings))
    return 0


NODE = NodeSpec(
    NodeName.VOICE,
    VoiceSettings,
    run,
    extra="voice",
    commands=(
        Command(
            ("voice", "warm"),
            "pre-synthesise the catalog's names and the phrases into the audio cache",
            warm,
        ),
    ),
)
