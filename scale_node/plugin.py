"""What the core's registry learns of the scale node (entry point `scantalk.nodes:scale`)."""

from __future__ import annotations

from scale_node.settings import ScaleSettings
from scantalk.contract import NodeName
from scantalk.registry import NodeSpec


def run(settings: ScaleSettings) -> None:
    from scale_node.node import main

    main(settings)


NODE = NodeSpec(NodeName.SCALE, ScaleSettings, run, extra="scale")
