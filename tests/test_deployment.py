"""The IoT Edge manifest, checked by parsing (no Docker engine runs here)."""

from __future__ import annotations

import dataclasses
import json
import re

from scantalk.registry import nodes
from testbench import CHECKOUT

MODULES = {"camera_node": "camera", "classifier_node": "classifier", "voice_node": "voice",
           "bridge": "bridge"}  # fmt: skip


def manifest() -> dict:
    return json.loads((CHECKOUT / "deployment.template.json").read_text())


def test_manifest_names_the_five_modules_and_routes_inventory_upstream():
    agent = manifest()["modulesContent"]["$edgeAgent"]["properties.desired"]
    assert set(agent["modules"]) == {
        "mosquitto",
        "camera_node",
        "classifier_node",
        "voice_node",
        "bridge",
    }
    routes = manifest()["modulesContent"]["$edgeHub"]["properties.desired"]["routes"]
    assert "FROM /messages/modules/bridge/outputs/inventory INTO $upstream" in routes.values()


def test_manifest_nodes_share_the_settings_names_and_reach_the_local_broker():
    modules = manifest()["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]
    registered = nodes()
    for module, node in MODULES.items():
        settings = registered[node].settings
        known = {settings.env_name(f.name) for f in dataclasses.fields(settings)}
        env = modules[module]["env"]
        assert env["SCANTALK_MQTT_HOST"]["value"] == "mosquitto", module
        assert set(env) <= known, module


def test_manifest_holds_no_secrets_only_variables():
    text = (CHECKOUT / "deployment.template.json").read_text()
    assert "SharedAccessKey" not in text
    credentials = manifest()["modulesContent"]["$edgeAgent"]["properties.desired"]["runtime"]
    for value in credentials["settings"]["registryCredentials"]["scantalk"].values():
        assert re.fullmatch(r"\$\{[A-Z_]+\}", value)
