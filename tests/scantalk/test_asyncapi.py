"""The topic contract as a published AsyncAPI document: committed as generated, valid for the
official validator, its schemas as strict as the parser, and kept by a running lane."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from scantalk import contract
from scantalk.commands.asyncapi import document, render
from scantalk.commands.broker import Broker
from scantalk.contract import (
    ClassifierConfig,
    ContractError,
    NodeName,
    Payload,
    Prediction,
    SayRequest,
    Topics,
)
from scantalk.processes import stop_process
from testbench.bus import Bus, Heard, wait_online
from testbench.environ import clean_environ

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "asyncapi.yaml"
VALIDATOR = ROOT / "node_modules" / ".bin" / "asyncapi"
REGENERATE = "docs/asyncapi.yaml is stale: .venv/bin/scantalk contract > docs/asyncapi.yaml"
BASE = "urn:scantalk:asyncapi"
TOPICS = Topics("lane-1")
DOCUMENT = document()


@pytest.fixture
def doc() -> dict[str, Any]:
    return DOCUMENT


def schema_validator(doc: dict[str, Any], pointer: str) -> Draft7Validator:
    """A validator for the schema at `pointer` in the document, its `$ref`s resolved there."""
    resource = Resource.from_contents(doc, default_specification=DRAFT7)
    registry = Registry().with_resource(BASE, resource)
    return Draft7Validator({"$ref": f"{BASE}#{pointer}"}, registry=registry)


def payload_errors(doc: dict[str, Any], message: str, value: Any) -> list[str]:
    validator = schema_validator(doc, f"/components/messages/{message}/payload")
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(value)]


# --- the document itself ----------------------------------------------------------------------


def test_the_committed_document_is_what_the_code_generates():
    assert DOC.read_text() == render(), REGENERATE


def test_scantalk_contract_prints_the_document():
    result = subprocess.run(
        [sys.executable, "-m", "scantalk", "contract"],
        env=clean_environ(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == render()


def test_the_official_validator_accepts_the_document(tmp_path):
    assert VALIDATOR.exists(), "no AsyncAPI validator: run script/setup (npm ci)"
    # No analytics and no first-run notice: a disabled config of our own, and a home of our own.
    config = tmp_path / "asyncapi-analytics.json"
    config.write_text('{"analyticsEnabled": "false", "infoMessageShown": "true", "userID": "-"}')
    env = {
        **clean_environ(),
        "HOME": str(tmp_path),
        "CI": "true",
        "ASYNCAPI_METRICS_CONFIG_PATH": str(config),
    }
    result = subprocess.run(
        [str(VALIDATOR), "validate", str(DOC), "--fail-severity=warn"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def all_payload_classes() -> list[type[Payload]]:
    found, todo = [], list(Payload.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return [cls for cls in found if cls.__module__ == contract.__name__]


def test_every_payload_of_the_contract_is_a_message(doc):
    messages = doc["components"]["messages"]
    for cls in all_payload_classes():
        assert messages[cls.__name__]["title"] == cls.SCHEMA
        assert messages[cls.__name__]["payload"] == {"$ref": f"#/components/schemas/{cls.__name__}"}


def test_every_topic_of_the_contract_is_a_channel(doc):
    addresses = {channel["address"] for channel in doc["channels"].values()}
    every = Topics("+")
    topics = [p.fget(every) for p in vars(Topics).values() if isinstance(p, property) and p.fget]
    topics.remove(every.statuses)  # a filter over every node's: their topics follow
    for node in NodeName:
        topics += [
            t.replace(f"/{node}/", "/{node}/") for t in (every.status(node), every.stats(node))
        ]
    assert len(topics) > 10
    for topic in topics:
        assert topic.replace("+", "{station}") in addresses, topic


def examples_of(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, message in doc["components"]["messages"].items():
        for example in message.get("examples", []):
            yield name, example


def test_every_message_has_an_example_that_its_schemas_accept(doc):
    messages = doc["components"]["messages"]
    assert {name for name, _ in examples_of(doc)} == set(messages)
    for name, example in examples_of(doc):
        if "payload" in example:
            assert payload_errors(doc, name, example["payload"]) == [], (name, example["name"])
        if "headers" in example:
            validator = schema_validator(doc, f"/components/messages/{name}/headers")
            assert list(validator.iter_errors(example["headers"])) == [], (name, example["name"])


def test_every_json_example_is_a_payload_the_parser_accepts(doc):
    classes = {cls.__name__: cls for cls in all_payload_classes()}
    for name, example in examples_of(doc):
        if name in classes:
            classes[name].from_dict(example["payload"])


def _scan(**changes: Any) -> dict[str, Any]:
    example = DOCUMENT["components"]["messages"]["Scan"]["examples"][0]
    return {**example["payload"], **changes}


def _without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != key}


def _say(**changes: Any) -> dict[str, Any]:
    base = SayRequest("lane-1", "Banana", "en").to_dict()
    return json.loads(json.dumps({**base, **changes}))


def _config(**changes: Any) -> dict[str, Any]:
    return {"schema": ClassifierConfig.SCHEMA, **changes}


def _prediction(**changes: Any) -> dict[str, Any]:
    base = json.loads(Prediction("lane-1", "f-1", "produce", 40.0, []).to_json())
    return {**base, **changes}


def _question(**changes: Any) -> dict[str, Any]:
    example = DOCUMENT["components"]["messages"]["Question"]["examples"][0]
    return {**example["payload"], **changes}


def _answer(**changes: Any) -> dict[str, Any]:
    example = DOCUMENT["components"]["messages"]["Answer"]["examples"][0]
    return {**example["payload"], **changes}


def _candidates(count: int) -> list[dict[str, Any]]:
    return [
        {"label": f"item_{k}", "display_name": f"Item {k}", "plu": None, "key": k}
        for k in range(1, count + 1)
    ]


MALFORMED = [
    ("Question", _question(candidates=[]), "no candidates"),
    ("Question", _question(candidates=_candidates(4)), "four candidates"),
    ("Question", _without(_question(), "expires_at"), "no expiry"),
    ("Answer", _without(_answer(), "question_id"), "an answer to no question"),
    ("Answer", _answer(choice=2), "a key for a label"),
    ("Answer", _answer(source=""), "an answer from no one"),
    ("Scan", _without(_scan(), "scan_id"), "missing scan_id"),
    ("Scan", _scan(confidence="high"), "confidence as a string"),
    ("Scan", _scan(confidence=1.5), "confidence above 1"),
    ("Scan", _scan(scan_id=""), "empty scan_id"),
    ("Scan", _scan(label="x" * 129), "label over 128 characters"),
    ("Scan", _scan(station="lane 1"), "station with a space"),
    ("Scan", _scan(plu=4011), "plu as a number"),
    ("Scan", _scan(alternatives=[{"label": "lemon", "confidence": 0.1}] * 21), "21 alternatives"),
    ("Scan", _scan(alternatives=[{"label": "lemon"}]), "alternative without confidence"),
    ("Scan", _scan(schema="scantalk.scan/2"), "another contract's tag"),
    ("Scan", _without(_scan(), "schema"), "no tag"),
    ("SayRequest", _say(text="x" * 201), "text over 200 characters"),
    ("SayRequest", _say(text="   "), "blank text"),
    ("SayRequest", _say(kind="shout"), "unknown kind"),
    ("ClassifierConfig", _config(settle_frames=0), "settle_frames 0"),
    ("ClassifierConfig", _config(language="fr"), "a language without phrases"),
    ("SayRequest", _say(text="Ba\x00nana"), "a NUL in text"),
    ("Scan", _scan(display_name="\x1b[2JBanana"), "an escape sequence in a name"),
    ("Scan", _without(_scan(), "time"), "a scan without its time"),
    ("SayRequest", _without(_say(), "time"), "a speech request without its time"),
    ("ClassifierConfig", _config(settle_frames=1001), "settle_frames over the most"),
    ("ClassifierConfig", _config(stable_frames=True), "a boolean as a whole number"),
    ("ClassifierConfig", _config(threshold="0.9"), "a number as a string"),
    ("Prediction", _prediction(station="x" * 1001), "text over MAX_TEXT"),
    ("Prediction", _prediction(top={"label": "banana"}), "an object for a list"),
    ("Prediction", [], "not an object"),
]


@pytest.mark.parametrize(("message", "payload", "what"), MALFORMED, ids=[m[2] for m in MALFORMED])
def test_what_the_parser_rejects_the_schema_rejects(doc, message, payload, what):
    cls = getattr(contract, message)
    with pytest.raises(ContractError):
        cls.from_dict(payload)
    assert payload_errors(doc, message, payload), f"the schema allows {what}"


ACCEPTED = [
    ("Question", _question(candidates=_candidates(1)), "one candidate"),
    ("Answer", _answer(choice=None), "none of these"),
    ("Scan", _scan(confidence=1), "a whole number for a float"),
    ("Scan", _scan(plu=None), "no plu"),
    ("Scan", _scan(frame_id=""), "empty frame id"),
    ("Scan", _scan(checkout="7"), "an unknown field"),
    ("Answer", _without(_answer(), "time"), "an answer without its time (a keypad's)"),
    ("ClassifierConfig", _config(language="de-AT", request_id="r1"), "a regional tag, an id"),
    ("ClassifierConfig", _config(), "a change of nothing"),
    ("ClassifierConfig", _config(threshold=None, language="de"), "null for unchanged"),
]


@pytest.mark.parametrize(("message", "payload", "what"), ACCEPTED, ids=[m[2] for m in ACCEPTED])
def test_what_the_parser_accepts_the_schema_accepts(doc, message, payload, what):
    getattr(contract, message).from_dict(payload)
    assert payload_errors(doc, message, payload) == [], what


# --- conformance: a whole lane on a real broker says only what the document allows -----------


def parameters_of(address: str, topic: str, doc: dict[str, Any]) -> dict[str, str] | None:
    """The parameters of a channel address a topic matches (each a single level), or None."""
    wanted, levels = address.split("/"), topic.split("/")
    if len(wanted) != len(levels):
        return None
    values = {}
    for want, level in zip(wanted, levels, strict=True):
        if want.startswith("{"):
            values[want[1:-1]] = level
        elif want != level:
            return None
    declared = doc["components"]["parameters"]
    if any(level not in declared[name].get("enum", [level]) for name, level in values.items()):
        return None
    return values


def _sent(doc: dict[str, Any], channel: str, binding: str) -> set[Any]:
    """A binding's values over the operations that send on a channel."""
    return {
        op["bindings"]["mqtt"].get(binding)
        for op in doc["operations"].values()
        if op["action"] == "send" and op["channel"] == {"$ref": f"#/channels/{channel}"}
    }


def message_problems(doc: dict[str, Any], channel: str, heard: Heard) -> list[str]:
    """What in a message heard on a channel its message object does not allow."""
    (ref,) = doc["channels"][channel]["messages"].values()
    name = ref["$ref"].rsplit("/", 1)[1]
    message = doc["components"]["messages"][name]
    problems = []
    if "headers" in message:
        validator = schema_validator(doc, f"/components/messages/{name}/headers")
        problems += [f"header {e.message[:200]}" for e in validator.iter_errors(heard.properties)]
    content = message.get("contentType", doc["defaultContentType"])
    if content == "application/json":
        try:
            problems += payload_errors(
                doc, name, json.loads(heard.payload) if heard.payload else ""
            )
        except ValueError as exc:
            problems.append(f"not JSON: {exc}")
    elif content == "text/plain":
        problems += payload_errors(doc, name, heard.payload.decode(errors="replace"))
    # Only a message published retained can reach a subscriber from the broker's store.
    if heard.retain and True not in _sent(doc, channel, "retain"):
        problems.append("retained where the document says it is not")
    expiries = _sent(doc, channel, "messageExpiryInterval")
    if heard.expiry is not None and not any(e and heard.expiry <= e for e in expiries):
        problems.append(f"expiry {heard.expiry} s where the document says {expiries}")
    if heard.expiry is None and None not in expiries:
        problems.append(f"no expiry where the document says {expiries}")
    return problems


def conformance_problems(doc: dict[str, Any], heard: list[Heard]) -> dict[str, str]:
    """By topic, the first message heard that no channel of the document allows, and why."""
    found: dict[str, str] = {}
    for message in heard:
        channels = [
            key
            for key, channel in doc["channels"].items()
            if parameters_of(channel["address"], message.topic, doc) is not None
        ]
        if not channels:
            found.setdefault(message.topic, "no channel of the document has this topic")
            continue
        problems = [message_problems(doc, key, message) for key in channels]
        if all(problems):
            found.setdefault(message.topic, f"{channels}: {problems} in {message.payload[:300]!r}")
    return found


@pytest.fixture
def everything(broker: Broker) -> Iterator[Bus]:
    """Ears on every topic of the broker, not only ScanTalk's."""
    listener = Bus(broker.port, ["#"])
    yield listener
    listener.close()


def _scan_id_is(scan_id: str) -> Any:
    return lambda h: h.json().get("scan_id") == scan_id


def test_a_running_lane_publishes_only_what_the_document_allows(
    broker, everything, node_env, start_node, photo_dir, doc, scale
):
    bus = everything
    for name in ("bridge", "voice", "classifier"):
        start_node(name, node_env)
    start_node("scale", node_env, SCANTALK_SCALE_PORT=str(scale.link))
    wait_online(bus, "bridge", "voice", "classifier", "scale")
    scale.kg = 0.5
    bus.wait_for(TOPICS.weight, lambda h: h.json()["weight_kg"] == 0.5, timeout=10)
    camera = start_node(
        "camera",
        node_env,
        SCANTALK_CAMERA_SOURCE=str(photo_dir("fruit/banana.png")),
        SCANTALK_CAMERA_FPS="20",
        SCANTALK_CAMERA_DWELL="600",
        SCANTALK_CAMERA_GATE="no",
    )
    (scan,) = bus.wait_for(TOPICS.scan, timeout=30)
    scan_id = scan.json()["scan_id"]
    bus.wait_for(TOPICS.say, _scan_id_is(scan_id), timeout=10)
    bus.wait_for(TOPICS.spoken, _scan_id_is(scan_id), timeout=10)
    bus.wait_for(TOPICS.snapshot, timeout=10)
    scale.kg = 0.7  # a second banana: the scan's next revision
    bus.wait_for(TOPICS.scan, lambda h: h.json()["revision"] == 2, timeout=10)
    bus.wait_for(
        TOPICS.inventory_ack,
        lambda h: h.json()["scan_id"] == scan_id and h.json()["status"] == "delivered",
        timeout=10,
    )
    for node in NodeName:
        bus.wait_for(TOPICS.stats(node), timeout=10)
    discovery = len(bus.wait_for("homeassistant/+/+/+/config", timeout=10))

    # What others send: an operator's change, a checkout's button, Home Assistant's birth.
    bus.publish(TOPICS.classifier_config, ClassifierConfig(threshold=0.85).to_json())
    bus.wait_for(TOPICS.classifier_config_state, lambda h: h.json()["threshold"] == 0.85)
    bus.publish(TOPICS.repeat, b"repeat")
    bus.wait_for(TOPICS.spoken, _scan_id_is(scan_id), count=2, timeout=10)
    bus.publish("homeassistant/status", b"online")
    bus.wait_for("homeassistant/+/+/+/config", count=2 * discovery, timeout=10)
    stop_process(camera)
    bus.wait_for(TOPICS.status(NodeName.CAMERA), lambda h: h.payload == contract.OFFLINE)

    # What the broker keeps for a newcomer: only what the document says is retained. Retained
    # messages come before anything published after the subscription, such as the probe.
    late = Bus(broker.port, ["#"])
    try:
        late.publish("probe", b"probe")
        late.wait_for("probe")
        retained = [h for h in late.heard if h.retain]
    finally:
        late.close()
    assert {TOPICS.status(NodeName.CAMERA), TOPICS.snapshot} <= {h.topic for h in retained}

    heard = [*(h for h in bus.heard if h.topic != "probe"), *retained]
    assert conformance_problems(doc, heard) == {}
    assert {h.topic for h in heard} >= {TOPICS.frame, TOPICS.prediction, TOPICS.scan}


def test_the_conformance_check_catches_what_the_document_does_not_allow(doc):
    """The check above would fail a node that strays: an unknown topic, an unknown node, a
    payload against its schema, a frame without its expiry."""
    scan = json.dumps(_scan()).encode()
    bad = [
        Heard("scantalk/lane-1/classifier/debug", b"{}", {}, False),
        Heard("scantalk/lane-1/printer/status", b"online", {}, False),
        Heard(TOPICS.status(NodeName.VOICE), b"asleep", {}, False),
        Heard(TOPICS.scan, json.dumps(_scan(confidence=2)).encode(), {}, False),
        Heard(TOPICS.scan, b"not json", {}, False),
        Heard(TOPICS.frame, b"\xff\xd8", {"width": "wide"}, False, expiry=2),
        Heard(TOPICS.frame, b"\xff\xd8", {}, False),
        Heard(TOPICS.scan, scan, {}, False, expiry=60),
    ]
    for message in bad:
        assert conformance_problems(doc, [message]), message
    good = [
        Heard(TOPICS.scan, scan, {}, False),
        Heard(TOPICS.frame, b"\xff\xd8", {"width": "640"}, False, expiry=1),
        Heard(TOPICS.status(NodeName.VOICE), b"offline", {}, False),
        Heard("homeassistant/sensor/lane-1/last_scan/config", b"", {}, True),
    ]
    assert conformance_problems(doc, good) == {}
