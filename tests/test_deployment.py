"""The IoT Edge manifest, checked by parsing (no Docker engine runs here)."""

from __future__ import annotations

import dataclasses
import json
import re

from scantalk.settings import REPO, Settings

KNOWN_SETTINGS = {Settings.env_name(f.name) for f in dataclasses.fields(Settings)}


def manifest() -> dict:
    return json.loads((REPO / "deployment.template.json").read_text())


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
    for name in ("camera_node", "classifier_node", "voice_node", "bridge"):
        env = modules[name]["env"]
        assert env["SCANTALK_MQTT_HOST"]["value"] == "mosquitto", name
        assert set(env) <= KNOWN_SETTINGS, name


def test_manifest_holds_no_secrets_only_variables():
    text = (REPO / "deployment.template.json").read_text()
    assert "SharedAccessKey" not in text
    credentials = manifest()["modulesContent"]["$edgeAgent"]["properties.desired"]["runtime"]
    for value in credentials["settings"]["registryCredentials"]["scantalk"].values():
        assert re.fullmatch(r"\$\{[A-Z_]+\}", value)
