"""The topic contract as an AsyncAPI 3.0 document, generated from `scantalk.contract`.

`scantalk contract` prints it; `docs/asyncapi.yaml` is its committed copy, which the tests keep
equal to this output, check with the official AsyncAPI validator, and hold a running lane to.
Payload schemas follow the payload dataclasses' type hints by the rules `contract._convert`
applies, plus the limits their `validate()` methods add, so the document promises what the
parser accepts; descriptions are the docstrings of contract.py. Nothing depends on the clock or
the machine: the same code gives the same document.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import enum
import functools
import inspect
import itertools
import json
import sys
import types
import typing
from dataclasses import dataclass
from typing import Any

from scantalk import contract
from scantalk.channels import ANY_NODE, EACH_NODE, OUTSIDE, ROOT, STATUS, Channel, Use
from scantalk.commands.broker_users import USERS, grants
from scantalk.contract import (
    CONTROL_CHARACTERS,
    MAX_ITEMS,
    MAX_TEXT,
    AckStatus,
    Answer,
    CameraConfig,
    Candidate,
    ClassifierConfig,
    DecidedBy,
    FrameCause,
    FrameInfo,
    Guess,
    InventoryAck,
    InventoryRecord,
    ModelInfo,
    ModelRollout,
    NodeName,
    Payload,
    Prediction,
    Question,
    SayKind,
    SayRequest,
    Scan,
    SnapshotInfo,
    Spoken,
    Stats,
    TaughtAction,
    TaughtChange,
    Unit,
    UserProperties,
    VoiceConfig,
    Weight,
    WeightStatus,
    camel_case,
)
from scantalk.registry import Command, lane_channels, nodes
from scantalk.settings import Settings

HEADER = (
    "# The ScanTalk topic contract (AsyncAPI 3.0), generated from scantalk/contract.py: do not\n"
    "# edit. Regenerate with: .venv/bin/scantalk contract > docs/asyncapi.yaml\n"
)
BINDING_VERSION = "0.2.0"
EXAMPLE_TIME = "2026-11-26T09:00:00.000Z"
"""Every example's time: fixed, so the document is the same at every run."""
EXAMPLE_STATION = "lane-1"
STATION_PATTERN = contract.STATION_PATTERN

Schema = dict[str, Any]

# --- payload schemas: what `contract._convert` accepts, as JSON Schema -----------------------

_SIMPLE: dict[Any, Schema] = {
    str: {
        "type": "string",
        "maxLength": MAX_TEXT,
        "not": {"type": "string", "pattern": CONTROL_CHARACTERS},
    },
    int: {"type": "integer"},
    float: {"type": "number"},  # an int is accepted as a float
    bool: {"type": "boolean"},
    dict: {"type": "object"},
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def is_time(name: str) -> bool:
    """Fields that hold a time: `time`, `captured_at`, `scanned_at` (always RFC 3339, UTC)."""
    return name == "time" or name.endswith("_at")


@functools.cache  # parsed once: finding a class's source parses its whole module anyway
def _classes_in(module: str) -> dict[str, ast.ClassDef]:
    tree = ast.parse(inspect.getsource(sys.modules[module]))
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _class_node(cls: type) -> ast.ClassDef:
    return _classes_in(cls.__module__)[cls.__qualname__]


def class_doc(cls: type) -> str:
    """The docstring written in the class (a dataclass's generated signature does not count)."""
    return ast.get_docstring(_class_node(cls)) or ""


def attribute_docs(cls: type) -> dict[str, str]:
    """The string literal right after each attribute of a class: how contract.py documents
    fields and enum members."""
    body = _class_node(cls).body
    docs = {}
    for node, after in itertools.pairwise(body):
        target: ast.expr | None = None
        if isinstance(node, ast.AnnAssign):
            target = node.target
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if (
            isinstance(target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[target.id] = inspect.cleandoc(after.value.value)
    return docs


def _nullable(schema: Schema) -> Schema:
    if isinstance(schema.get("type"), str) and "enum" not in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _enum_doc(hint: type[enum.Enum]) -> str:
    members = attribute_docs(hint)
    lines = [f"`{m.value}`: {members[m.name]}" for m in hint if m.name in members]
    return "\n".join(line for line in [class_doc(hint), *lines] if line)


def value_schema(hint: Any, schemas: dict[str, Schema]) -> Schema:
    """The values `contract._convert` accepts for a type hint; nested dataclasses go into
    `schemas` and are referenced."""
    origin = typing.get_origin(hint)
    if origin is types.UnionType:  # `X | None`
        (inner,) = (a for a in typing.get_args(hint) if a is not type(None))
        return _nullable(value_schema(inner, schemas))
    if origin is list:
        (inner,) = typing.get_args(hint)
        return {"type": "array", "maxItems": MAX_ITEMS, "items": value_schema(inner, schemas)}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if hint.__name__ not in schemas:
            schemas[hint.__name__] = {}  # taken before it is built: a cycle ends here
            schemas[hint.__name__] = object_schema(hint, schemas)
        return _ref(hint.__name__)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"type": "string", "enum": [m.value for m in hint]}
    return dict(_SIMPLE[hint])


def _with_doc(schema: Schema, doc: str) -> Schema:
    if not doc:
        return schema
    if "$ref" in schema:  # siblings of `$ref` are ignored in JSON Schema draft 7
        return {"allOf": [schema], "description": doc}
    return {**schema, "description": doc}


def _field_doc(name: str, hint: Any, docs: dict[str, str]) -> str:
    doc = docs.get(name, "")
    inner = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    if isinstance(inner[0], type) and issubclass(inner[0], enum.Enum):
        doc = "\n".join(d for d in (doc, _enum_doc(inner[0])) if d)
    if is_time(name):
        doc = " ".join(d for d in (doc, f"RFC 3339, UTC, e.g. `{EXAMPLE_TIME}`.") if d)
    return doc


def object_schema(
    cls: type, schemas: dict[str, Schema], wire: dict[str, str] | None = None
) -> Schema:
    """A dataclass as `contract._build` reads it: fields without a default are required, and
    unknown keys are ignored. `wire` maps field names to keys where `to_dict` renames them."""
    hints = typing.get_type_hints(cls)
    docs = attribute_docs(cls)
    properties: dict[str, Schema] = {}
    required = []
    for f in dataclasses.fields(cls):
        key = (wire or {}).get(f.name, f.name)
        prop = {**value_schema(hints[f.name], schemas), **f.metadata.get("limits", {})}
        if is_time(f.name):
            prop["format"] = "date-time"
        if f.default is not dataclasses.MISSING:  # what a payload without the field means
            prop["default"] = f.default.value if isinstance(f.default, enum.Enum) else f.default
        properties[key] = _with_doc(prop, _field_doc(f.name, hints[f.name], docs))
        if contract.required(f):
            required.append(key)
    schema: Schema = {"type": "object", "description": class_doc(cls)}
    if required:
        schema["required"] = required
    # Consumers ignore unknown fields: v1 gains optional ones.
    return {**schema, "properties": properties, "additionalProperties": True}


def payload_schema(cls: type[Payload], example: Payload, schemas: dict[str, Schema]) -> Schema:
    """A JSON payload: its fields, under the keys its `to_dict` writes, and its `schema` tag."""
    keys = list(example.to_dict())
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    assert keys[0] == "schema", cls
    assert len(keys) == len(fields) + 1, cls
    wire = dict(zip(fields, keys[1:], strict=True))
    schema = object_schema(cls, schemas, wire)
    tag = {
        "const": cls.SCHEMA,
        "description": "The payload's kind and major version; a `/2` is another contract.",
    }
    notes = ["Unknown fields are to be ignored."]
    if any(is_time(name) for name in fields):
        notes.insert(0, "Times are RFC 3339, UTC (`format: date-time`).")
    return {
        "type": "object",
        "description": "\n\n".join([schema["description"], " ".join(notes)]),
        "required": ["schema", *schema.get("required", [])],
        "properties": {"schema": tag, **schema["properties"]},
        "additionalProperties": True,
    }


_TEXT_FORMS: dict[Any, Schema] = {
    int: {"pattern": r"^-?[0-9]+$", "description": "A whole number, as decimal text."},
    float: {
        "pattern": r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$",
        "description": "A number, as decimal text.",
    },
}


def headers_schema(cls: type[UserProperties]) -> Schema:
    """User properties as MQTT v5 carries them: every value is a string. A missing one takes
    its default (`from_properties`), so none is required."""
    hints = typing.get_type_hints(cls)
    docs = attribute_docs(cls)
    properties = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[f.name]
        form = _TEXT_FORMS.get(hint, {})
        if isinstance(hint, type) and issubclass(hint, enum.StrEnum):
            form = {"enum": [str(v) for v in hint]}
        doc = " ".join(d for d in (docs.get(f.name, ""), form.get("description", "")) if d)
        prop: Schema = {"type": "string", **{k: v for k, v in form.items() if k != "description"}}
        if is_time(f.name):
            prop["format"] = "date-time"
            doc = " ".join(d for d in (doc, "RFC 3339, UTC.") if d)
        properties[f.name] = _with_doc(prop, doc)
    note = (
        "MQTT v5 user properties, so every value is a string (numbers as decimal text); "
        "a missing one takes its default, and a JPEG without any is still valid."
    )
    return {
        "type": "object",
        "description": f"{class_doc(cls)}\n\n{note}",
        "properties": properties,
        "additionalProperties": True,
    }


# --- examples: instances of the contract's classes, so each is valid by construction ----------


def _scan() -> Scan:
    return Scan(
        scan_id="3f0c9a52-7f2e-4c1e-9b1d-5a8e2f6b7c41",
        station=EXAMPLE_STATION,
        label="banana",
        display_name="Banana",
        plu="4011",
        confidence=0.93,
        model="produce",
        frame_id="6745a2c0-412",
        alternatives=[Guess("lemon", 0.03), Guess("pineapple", 0.01)],
        time=EXAMPLE_TIME,
    )


def _question() -> Question:
    return Question(
        question_id="0d7c5b9e-6a41-4f3e-a2b8-9e4c1f7d3a25",
        station=EXAMPLE_STATION,
        candidates=[
            Candidate("lemon", "Lemon", "4053", 1),
            Candidate("lime", "Lime", "4048", 2),
        ],
        expires_at="2026-11-26T09:00:08.000Z",
        time=EXAMPLE_TIME,
    )


@dataclass(frozen=True)
class Example:
    """A message example: a real payload object, so it is valid by construction."""

    name: str
    summary: str
    payload: Payload


def examples() -> dict[type[Payload], list[Example]]:
    """Examples of every JSON payload, by class; a new payload class needs one here."""
    scan = _scan()
    station, time = EXAMPLE_STATION, EXAMPLE_TIME
    top = [Guess("banana", 0.93), *scan.alternatives]
    listed = [
        Example(
            "banana",
            "A banana in view",
            Prediction(station, scan.frame_id, "produce", 41.7, top, presence=0.97, time=time),
        ),
        Example("change", "Raise the threshold", ClassifierConfig(threshold=0.85)),
        Example(
            "state",
            "The values in force after that change",
            ClassifierConfig(
                threshold=0.85,
                presence=0.6,
                similarity=0.55,
                stable_frames=2,
                empty_below=0.03,
                language="en",
                settle_frames=7,
            ),
        ),
        Example(
            "produce",
            "The default model, as a lane loaded it",
            ModelInfo(station, "produce", "probabilities", "9f" * 32, 23, taught=2, loaded_at=time),
        ),
        Example(
            "int8",
            "Roll out the int8 model",
            ModelRollout(
                station,
                "https://models.example/produce-int8-3.zip",
                "4e" * 32,
                "produce-int8-3",
                time=time,
            ),
        ),
        Example(
            "slower",
            "Speak a little slower, from the lane's twin",
            VoiceConfig(rate=0.9, request_id="twin-12"),
        ),
        Example(
            "area",
            "Watch the left two thirds of the frame at 10 fps",
            CameraConfig(fps=10, roi=[0.0, 0.0, 0.67, 1.0], request_id="twin-12"),
        ),
        Example(
            "taught",
            "A loaf taught from five photos",
            TaughtChange(station, "sourdough", TaughtAction.TAUGHT, "produce", photos=5, time=time),
        ),
        Example("banana", "A banana, PLU 4011", scan),
        Example(
            "lemon-or-lime",
            "Not sure between lemon and lime: the shopper is asked",
            _question(),
        ),
        Example(
            "lime",
            "The shopper pressed 2 on the keypad",
            Answer(_question().question_id, station, "lime", "keypad", time=time),
        ),
        Example(
            "none",
            'Home Assistant\'s "none of these" button',
            Answer(_question().question_id, station, None, "homeassistant", time=time),
        ),
        Example(
            "lime",
            "The lime the shopper chose",
            dataclasses.replace(
                scan,
                scan_id="b8e1d0f4-2a6c-4f7e-8d3b-1c9a5e7f2d60",
                label="lime",
                display_name="Lime",
                plu="4048",
                confidence=0.41,
                alternatives=[Guess("lemon", 0.46)],
                decided_by=DecidedBy.SHOPPER,
                question_id=_question().question_id,
            ),
        ),
        Example(
            "banana",
            "A banana, settled on the scale",
            Weight(station, 1.234, True, WeightStatus.OK, time=time),
        ),
        Example(
            "moving",
            "Something is being placed",
            Weight(station, 0.62, False, WeightStatus.MOTION, time=time),
        ),
        Example(
            "unplugged",
            "The scale stopped answering",
            Weight(station, None, False, WeightStatus.NO_SCALE, time=time),
        ),
        Example(
            "banana",
            "Announce the banana",
            SayRequest(station, "Banana", "en", scan.scan_id, SayKind.ITEM, time=time),
        ),
        Example(
            "banana",
            "The banana, said from the audio cache",
            Spoken(
                station,
                "Banana",
                "espeak-ng",
                cache_hit=True,
                latency_ms=38.2,
                duration_ms=612.5,
                scan_id=scan.scan_id,
                time=time,
            ),
        ),
        Example(
            "delivered",
            "The banana's record reached its destination",
            InventoryAck(station, scan.scan_id, AckStatus.DELIVERED, "local", time=time),
        ),
        Example(
            "classifier",
            "The classifier after a few minutes",
            Stats(station, NodeName.CLASSIFIER, {"frames": 1804, "scans": 12}, time=time),
        ),
        Example(
            "banana",
            "The banana's inventory record",
            InventoryRecord.from_scan(scan, "lane-1-edge", "store-0042"),
        ),
    ]
    found: dict[type[Payload], list[Example]] = {}
    for example in listed:
        found.setdefault(type(example.payload), []).append(example)
    return found


# --- channels and operations --------------------------------------------------------------


def channels() -> tuple[Channel, ...]:
    """Every channel of the table, and the nodes' own (the bridge's Home Assistant topics)."""
    return lane_channels()


@dataclass(frozen=True)
class Op:
    """One user's part in a channel, as an AsyncAPI operation: `send` or `receive`."""

    name: str
    action: str
    use: Use


def operations(channel: Channel) -> list[Op]:
    """Each publisher's `send` and each reader's `receive`, named after the user and the
    channel: `cameraPublishesCameraFrame`, `classifierReceivesCameraFrame`."""
    key = channel.key[0].upper() + channel.key[1:]
    return [
        Op(f"{_user_name(use.user)}{verb}{key}", action, use)
        for action, verb, uses in (
            ("send", "Publishes", channel.publishers), ("receive", "Receives", channel.readers)
        )
        for use in uses
    ]  # fmt: skip


def _user_name(user: str) -> str:
    return {EACH_NODE: "node", "homeassistant": "homeAssistant"}.get(user, user)


# --- messages -------------------------------------------------------------------------------


def payload_classes() -> list[type[Payload]]:
    """Every JSON payload of the contract, in the order contract.py defines them."""
    return [
        c
        for c in vars(contract).values()
        if isinstance(c, type) and issubclass(c, Payload) and c is not Payload
    ]


def _summary(doc: str) -> str:
    return doc.split("\n\n")[0].replace("\n", " ")


def _wire(payload: Payload) -> Any:
    """A payload as it travels: plain JSON values (no enum members)."""
    return json.loads(payload.to_json())


NOT_ON_THE_BROKER = (
    "Not on the lane's broker: the bridge sends this body to Azure IoT Hub (device-to-cloud, "
    "message id = `scanId`) or keeps it in its local store; `scantalk/schemas/inventory-"
    "record.json` is the stricter schema the hub side may rely on (generated from the same "
    "dataclass: `scantalk contract --record-schema`)."
)
RECORD_SCHEMA_ID = "https://scantalk.example/schemas/inventory-record.json"


def record_schema() -> Schema:
    """The inventory record as the hub side may rely on it: every key the bridge writes (those
    of `NEWER` fields may be absent from older records), nothing else, and an item sold `each`
    is one piece (as `InventoryRecord.validate` checks)."""
    wire = {f.name: camel_case(f.name) for f in dataclasses.fields(InventoryRecord)}
    body = object_schema(InventoryRecord, {}, wire)
    required = [wire[f.name] for f in dataclasses.fields(InventoryRecord)
                if f.name not in InventoryRecord.NEWER]  # fmt: skip
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": RECORD_SCHEMA_ID,
        "title": "ScanTalk inventory record",
        "description": f"{class_doc(InventoryRecord)} {NOT_ON_THE_BROKER}",
        "type": "object",
        "required": ["schema", *required],
        "additionalProperties": False,
        "properties": {"schema": {"const": InventoryRecord.SCHEMA}, **body["properties"]},
        "if": {"properties": {"unit": {"const": Unit.EACH.value}}},
        "then": {"properties": {"quantity": {"const": 1}}},
    }


CORRELATION = {
    "scan_id": "Ties it to its scan: the scan's `scan_id`.",
    "question_id": "Ties it to its question: the question's `question_id`.",
    "request_id": "Ties a state to the change it answers: the change's `request_id`, echoed.",
    "version": "Ties the model state to the rollout it answers: `version`, or "
    "`rollout_version` when it failed.",
}


def _correlation(key: str | None, where: str) -> dict[str, Any]:
    if key is None:
        return {}
    location = f"$message.{where}#/{key}"
    return {"correlationId": {"description": CORRELATION[key], "location": location}}


def _json_message(
    cls: type[Payload], named: list[Example], schemas: dict[str, Schema]
) -> dict[str, Any]:
    schemas[cls.__name__] = payload_schema(cls, named[0].payload, schemas)
    doc = class_doc(cls)
    if cls is InventoryRecord:
        doc = f"{doc}\n\n{NOT_ON_THE_BROKER}"
    return {
        "name": cls.__name__,
        "title": cls.SCHEMA,
        **({"summary": _summary(doc)} if _summary(doc) != doc else {}),
        "description": doc,
        "contentType": "application/json",
        **_correlation(cls.CORRELATES, "payload"),
        "payload": _ref(cls.__name__),
        "examples": [
            {"name": e.name, "summary": e.summary, "payload": _wire(e.payload)} for e in named
        ],
    }


def _jpeg_message(
    name: str, title: str, summary: str, info: UserProperties, schemas: dict[str, Schema]
) -> dict[str, Any]:
    cls = type(info)
    schemas[cls.__name__] = headers_schema(cls)
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "description": "A plain JPEG, so `mosquitto_pub -f photo.jpg` sends a valid one; its "
        "metadata rides beside it as MQTT v5 user properties (the headers), all strings.",
        "contentType": "image/jpeg",
        **_correlation(cls.CORRELATES, "header"),
        "headers": _ref(cls.__name__),
        "payload": {"type": "string", "format": "binary", "description": "JPEG bytes."},
        "examples": [{"name": "banana", "headers": dict(info.to_properties())}],
    }


def _text_message(name: str, title: str, doc: str, values: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": doc,
        "contentType": "text/plain",
        "payload": {"type": "string", "enum": values},
        "examples": [{"name": value or "cleared", "payload": value} for value in values],
    }


def messages(schemas: dict[str, Schema]) -> dict[str, Any]:
    named = examples()
    found = {cls.__name__: _json_message(cls, named[cls], schemas) for cls in payload_classes()}
    online, offline = contract.ONLINE.decode(), contract.OFFLINE.decode()
    scan = _scan()
    frame = FrameInfo(scan.frame_id, EXAMPLE_TIME, 640, 480, 0.18, 0.42, FrameCause.CHANGE)
    return {
        "Frame": _jpeg_message(
            "Frame", "Camera frame", "A JPEG frame of the scan area.", frame, schemas
        ),
        "Snapshot": _jpeg_message(
            "Snapshot",
            "Scan snapshot",
            "The JPEG of the frame behind a scan.",
            SnapshotInfo(scan.scan_id, scan.label, scan.frame_id),
            schemas,
        ),
        **found,
        "Status": _text_message(
            "Status",
            "Node status",
            "`online` or `offline`; an empty retained payload clears it (`scantalk up` does "
            "at start, so a status left by an earlier run does not count).",
            [online, offline, ""],
        ),
        "Repeat": {
            "name": "Repeat",
            "title": "Repeat request",
            "summary": "Any payload: say the last item announcement again, now.",
            "contentType": "application/octet-stream",
            "payload": {"description": "Anything; not read."},
            "examples": [{"name": "button", "payload": "repeat"}],
        },
        **{name: m for spec in nodes().values() for name, m in spec.messages().items()},
    }


# --- the document ---------------------------------------------------------------------------

INFO = f"""\
The MQTT topics of a ScanTalk lane: a self-service checkout's camera, classifier, voice and
bridge nodes, talking over the lane's Mosquitto broker. Every topic of a lane is under
`scantalk/<station>/`; subscribe to `scantalk/+/…` to follow a whole store.

JSON payloads carry a `schema` tag, `scantalk.<kind>/1`. Consumers ignore unknown fields. v1
only gains optional fields; a field that is added has a default, and no field changes type or
meaning. A breaking change is v2: payloads tagged `scantalk.<kind>/2`, published under their own
root `scantalk2/<station>/…` beside v1 for as long as a setting keeps v1 on, described in its
own document.

Times are UTC, RFC 3339 with milliseconds (`{EXAMPLE_TIME}`). Text fields hold at most
{MAX_TEXT} characters and no control characters (U+0000-U+001F, U+007F-U+009F), and lists at
most {MAX_ITEMS} entries. Frames and snapshots are plain JPEG,
their metadata in MQTT v5 user properties.

MQTT client ids that start with `scantalk-` are reserved for the lane's own nodes and commands;
any other client (a checkout system, a dashboard) must choose another."""


def info() -> dict[str, Any]:
    return {
        "title": "ScanTalk topic contract",
        "version": "1.0.0",
        "description": INFO,
        "license": {"name": "Apache-2.0"},
    }


def _last_will() -> dict[str, Any]:
    return {
        "mqtt": {
            "lastWill": {
                "topic": STATUS.address,
                "qos": 1,
                "message": contract.OFFLINE.decode(),
                "retain": True,
            },
            "bindingVersion": BINDING_VERSION,
        }
    }


SESSIONS = (
    "Nodes connect with a clean start, except the bridge: its persistent session keeps scans "
    "queued while it is down. Each node's last will is `offline` on its status."
)


def servers() -> dict[str, Any]:
    login = [{"$ref": "#/components/securitySchemes/brokerUser"}]
    return {
        "development": {
            "host": "127.0.0.1:1883",
            "protocol": "mqtt",
            "protocolVersion": "5",
            "title": "Development lane",
            "description": "The lane's own broker, Mosquitto 2 speaking MQTT 5 "
            "(`mqtt://127.0.0.1:1883`; `scantalk up` takes a free port when 1883 is taken), "
            f"with no login. {SESSIONS}",
            "bindings": _last_will(),
        },
        "edge": {
            "host": "mosquitto:1883",
            "protocol": "mqtt",
            "protocolVersion": "5",
            "title": "Edge lane, inside the device",
            "description": "The `mosquitto` module of an IoT Edge lane (`mosquitto/edge.conf`), "
            "on the module network only: the nodes log in as their own users. The client id "
            f"is the user name. {SESSIONS}",
            "security": login,
            "bindings": _last_will(),
        },
        "edgeTls": {
            "host": "{host}:8883",
            "protocol": "secure-mqtt",
            "protocolVersion": "5",
            "title": "Edge lane, from the store's network",
            "description": "The same broker for clients off the device (a checkout system, Home "
            "Assistant): TLS, checked against the broker's CA; the server certificate names "
            "the host. Log in as `checkout` or `homeassistant`; the client id is the user name, "
            "so one login is one session (a second connection with it takes the session over).",
            "variables": {
                "host": {
                    "description": "The lane device's host name, as its certificate names it.",
                    "examples": ["lane-1.store-0042.example"],
                }
            },
            "security": login,
        },
    }


def security_schemes() -> dict[str, Any]:
    """The edge broker's users, each with what `mosquitto/acl` lets it do (generated from the
    same channel table)."""
    lines = []
    for user in USERS:
        granted = grants(user, channels())
        reads = [f"`{t}`" for t in granted.reads]
        if granted.everything:
            but = ", ".join(f"`{t}`" for t in granted.denied)
            reads.insert(0, f"`{ROOT}/#` but not {but}")
        writes = ", ".join(f"`{t}`" for t in granted.writes) or "nothing"
        who = OUTSIDE.get(user, f"the {user} node")
        lines.append(f"- `{user}`: {who}. Writes {writes}; reads {', '.join(reads) or 'nothing'}.")
    return {
        "brokerUser": {
            "type": "userPassword",
            "description": "A user of the edge broker (`scantalk broker passwd` writes the "
            "password file). Everything not granted is denied: a publish with reason code 0x87, "
            "a message the user may not read is not delivered. `+` is any station.\n\n"
            + "\n".join(lines),
        }
    }


def parameters() -> dict[str, Any]:
    return {
        "station": {
            "description": "The lane's station id (`SCANTALK_STATION`), matching "
            f"`{STATION_PATTERN}`.",
            "examples": [EXAMPLE_STATION],
        },
        "node": {"enum": [n.value for n in NodeName], "description": class_doc(NodeName)},
        "prefix": {
            "default": "homeassistant",
            "description": "Home Assistant's discovery prefix (`SCANTALK_DISCOVERY_PREFIX`).",
        },
        "component": {
            "description": "The entity's Home Assistant platform.",
            "examples": ["sensor", "event", "image", "number", "select", "button"],
        },
        "object": {"description": "The entity within its station.", "examples": ["last_scan"]},
    }


def _channel(channel: Channel) -> dict[str, Any]:
    names = [p.strip("{}") for p in channel.address.split("/") if p.startswith("{")]
    return {
        "address": channel.address,
        "title": channel.title,
        "description": channel.description,
        "parameters": {name: {"$ref": f"#/components/parameters/{name}"} for name in names},
        "messages": {
            channel.message: {"$ref": f"#/components/messages/{channel.message}"},
        },
    }


def _operation(channel: Channel, op: Op) -> dict[str, Any]:
    qos = channel.qos if op.use.qos is None else op.use.qos
    binding: dict[str, Any] = {"qos": qos}
    if op.action == "send":
        binding["retain"] = channel.retain
        if channel.expiry_s is not None:
            binding["messageExpiryInterval"] = channel.expiry_s
    summary = op.use.summary
    if op.use.node and op.use.node != ANY_NODE:
        summary = f"{summary} (`{op.use.node}`'s only)"
    return {
        "action": op.action,
        "channel": {"$ref": f"#/channels/{channel.key}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel.key}/messages/{channel.message}"}],
        "bindings": {"mqtt": {**binding, "bindingVersion": BINDING_VERSION}},
    }


def document() -> dict[str, Any]:
    """The contract as an AsyncAPI 3.0.0 document (plain dicts, lists and strings)."""
    schemas: dict[str, Schema] = {}
    found = messages(schemas)
    listed = channels()
    return {
        "asyncapi": "3.0.0",
        "info": info(),
        "defaultContentType": "application/json",
        "servers": servers(),
        "channels": {c.key: _channel(c) for c in listed},
        "operations": {op.name: _operation(c, op) for c in listed for op in operations(c)},
        "components": {
            "schemas": schemas,
            "messages": found,
            "parameters": parameters(),
            "securitySchemes": security_schemes(),
        },
    }


def render() -> str:
    """The document as YAML, after a comment that says it is generated."""
    import yaml  # here, not at the top: `scantalk --help` imports this module

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # a shared dict is written twice, not as an anchor

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        return dumper.represent_scalar(
            "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
        )

    Dumper.add_representer(str, text)
    body = yaml.dump(document(), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def arguments(parser: argparse.ArgumentParser) -> None:
    """The contract is the same for every lane: the document, or the record's schema."""
    parser.add_argument(
        "--record-schema",
        action="store_true",
        help="print the inventory record's JSON Schema (scantalk/schemas/inventory-record.json)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.record_schema:
        sys.stdout.write(json.dumps(record_schema(), indent=2, ensure_ascii=False) + "\n")
        return 0
    sys.stdout.write(render())
    return 0


COMMAND = Command(
    ("contract",), "print the topic contract as an AsyncAPI 3.0 document", run, arguments
)
