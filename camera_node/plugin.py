"""What the core's registry learns of the camera node (entry point `scantalk.nodes:camera`)."""

from __future__ import annotations

from camera_node.settings import CameraSettings
from scantalk.contract import NodeName
from scantalk.registry import NodeSpec


def run(settings: CameraSettings) -> None:
    from camera_node.node import main

    main(settings)


NODE = NodeSpec(NodeName.CAMERA, CameraSettings, run, extra="camera")
