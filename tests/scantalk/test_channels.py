"""The channel table is the one owner of each topic's QoS, retain flag, expiry, publishers
and readers: the nodes' publishes and subscriptions, the README's topic table and the
AsyncAPI document follow it (the broker's ACL: tests/deployment/test_edge_broker.py)."""

from __future__ import annotations

import json
import re

import pytest

from scantalk import contract
from scantalk.channels import CHANNELS, ROOT, channel_of
from scantalk.commands.asyncapi import document, record_schema
from scantalk.commands.broker_users import lane_channels
from scantalk.contract import ContractError, NodeName, Topics
from scantalk.runtime import Node
from scantalk.settings import Settings
from testbench import CHECKOUT

T = Topics("lane-1")
README = (CHECKOUT / "README.md").read_text()


def test_every_topic_of_the_contract_has_one_channel_and_each_channel_its_payload():
    topics = [getattr(T, name) for name, v in vars(Topics).items() if isinstance(v, property)]
    topics += [T.status(node) for node in NodeName] + [T.stats(node) for node in NodeName]
    assert {channel_of(t) for t in topics} == set(CHANNELS)
    for channel in lane_channels():
        message = getattr(contract, channel.message, None)
        documented = document()["components"]["messages"]
        assert message is not None or channel.message in documented, channel.key
        assert channel.publishers, f"{channel.key}: no one publishes it"


def test_the_readmes_topic_table_gives_each_channel_the_tables_qos_and_retain():
    rows = dict(re.findall(r"^\| `([a-z<>/_]+)` \| .* \| (\d(?:, retained)?) \|$", README, re.M))
    for channel in CHANNELS:
        path = channel.address.removeprefix(f"{ROOT}/{{station}}/").replace("{node}", "<node>")
        assert rows.get(path) == f"{channel.qos}{', retained' if channel.retain else ''}", path


def test_a_node_publishes_and_reads_only_what_the_table_gives_it():
    node = Node(NodeName.VOICE, Settings())
    node.subscribe(T.say, lambda _m: None)  # the voice's
    with pytest.raises(ContractError, match="voice node is no reader of scan"):
        node.subscribe(T.scan, lambda _m: None)
    with pytest.raises(ContractError, match="voice node publishes no scan"):
        node.publish(T.scan, b"{}")
    with pytest.raises(ContractError, match="no channel of the contract"):
        node.publish("scantalk/lane-1/voice/shout", b"hello")


def test_the_asyncapi_operations_carry_the_tables_qos_retain_and_expiry():
    doc = document()
    for channel in lane_channels():
        ref = f"#/channels/{channel.key}"
        sends = [
            op
            for op in doc["operations"].values()
            if op["channel"]["$ref"] == ref and op["action"] == "send"
        ]
        assert sends, channel.key
        for op in sends:
            binding = op["bindings"]["mqtt"]
            assert (binding["qos"], binding["retain"]) == (channel.qos, channel.retain)
            assert binding.get("messageExpiryInterval") == channel.expiry_s


def test_the_record_schema_is_generated_from_the_record():
    """The hub side's schema is the record dataclass's, not a third description of it."""
    path = CHECKOUT / "scantalk" / "schemas" / "inventory-record.json"
    committed = json.loads(path.read_text())
    assert committed == record_schema(), (
        "scantalk/schemas/inventory-record.json is stale: "
        "scantalk contract --record-schema > scantalk/schemas/inventory-record.json"
    )
