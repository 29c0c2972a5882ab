"""Hostile payloads on every topic a node subscribes to, on a real broker: no node dies, every
refusal is counted in `rejected`, and a lane still records a valid scan and speaks a valid say.

A whole lane (camera, classifier, voice, bridge) runs once for the module; hypothesis sends it
random bytes, odd JSON and near-valid payloads built from the contract's own dataclasses with one
field mutated. `SCANTALK_FUZZ_EXAMPLES` sets how many (60 by default, for CI; e.g. 2000 for a
long run). The camera runs on a photo of the empty counter with its gate on: its subscriptions are
live, and its frames show nothing, so it neither scans nor competes with the fuzzed frames.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import cv2
import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from PIL import Image

from bridge.homeassistant import birth_topic
from scantalk.commands.broker import Broker, free_port
from scantalk.contract import (
    ONLINE,
    ClassifierConfig,
    ContractError,
    FrameInfo,
    NodeName,
    Payload,
    SayRequest,
    Scan,
    Spoken,
    TaughtAction,
    TaughtChange,
    Topics,
)
from scantalk.processes import die_with_parent, stop_process
from scantalk.scene import photo_frame
from testbench.bus import Bus, Heard, wait_online
from testbench.environ import clean_environ

EXAMPLES = int(os.environ.get("SCANTALK_FUZZ_EXAMPLES", "60"))
STATION = "lane-1"
T = Topics(STATION)
CAMERA, CLASSIFIER, VOICE, BRIDGE = (
    NodeName.CAMERA, NodeName.CLASSIFIER, NodeName.VOICE, NodeName.BRIDGE
)  # fmt: skip
NODES = (BRIDGE, VOICE, CLASSIFIER, CAMERA)
"""The nodes that subscribe; the scale reads only its serial line
(tests/scale_node/test_scale.py feeds it garbage there)."""
HA_STATUS = birth_topic("homeassistant")

SUBSCRIBERS: dict[str, tuple[NodeName, ...]] = {
    T.scan: (CAMERA, BRIDGE),
    T.classifier_config_state: (CAMERA,),
    T.frame: (CLASSIFIER,),
    T.classifier_config: (CLASSIFIER,),
    T.taught: (CLASSIFIER,),
    T.say: (VOICE, BRIDGE),
    T.repeat: (VOICE,),
    T.spoken: (BRIDGE,),
    HA_STATUS: (BRIDGE,),
}
"""Every topic a node of the lane subscribes to, and who listens (see each node's `subscribe`)."""
TOPICS = sorted(SUBSCRIBERS)
PAYLOADS: dict[str, type[Payload]] = {
    T.scan: Scan,
    T.classifier_config_state: ClassifierConfig,
    T.classifier_config: ClassifierConfig,
    T.taught: TaughtChange,
    T.say: SayRequest,
    T.spoken: Spoken,
}
STATION_CHECKED = {T.scan: (CAMERA, BRIDGE), T.taught: (CLASSIFIER,), T.say: (VOICE,)}
"""Who refuses a valid payload of another station (`Refused.check_station`)."""
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"BM", b"GIF8", b"RIFF")
MAX_BYTES = 64 * 1024


# --- the lane ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Lane:
    bus: Bus
    env: dict[str, str]
    processes: dict[NodeName, subprocess.Popen[bytes]]
    logs: Path
    config: dict[str, Any]
    """The classifier's config state before any fuzzing (restored after it)."""
    empty_jpeg: bytes

    def dead(self) -> list[NodeName]:
        return [name for name, p in self.processes.items() if p.poll() is not None]

    def log_tail(self, name: NodeName, lines: int = 40) -> str:
        text = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def failures(self, name: NodeName) -> Counter[str]:
        """The node's tracebacks in its log, by where each ended and with what exception."""
        found: Counter[str] = Counter()
        where = ""
        for line in (self.logs / f"{name}.log").read_text(errors="replace").splitlines():
            if line.startswith("  File "):
                where = line.strip()
            elif where and not line.startswith(" "):
                found[f"{line.partition(':')[0]} at {where}"] += 1
                where = ""
        return found

    def counters(self, name: NodeName) -> Counter[str]:
        """The node's counters in the last stats it sent."""
        heard = self.bus.matching(T.stats(name))
        return Counter(heard[-1].json()["counters"]) if heard else Counter()


@pytest.fixture(scope="module")
def lane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lane]:
    root = tmp_path_factory.mktemp("fuzz")
    photos = root / "photos"
    photos.mkdir()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(photos / "empty.png")  # the bare counter
    empty_jpeg = cv2.imencode(".jpg", photo_frame(photos / "empty.png")[:, :, ::-1])[1].tobytes()
    with Broker(free_port(), root / "broker") as broker:
        env = clean_environ()
        env.update(
            SCANTALK_MQTT_PORT=str(broker.port),
            SCANTALK_DATA_DIR=str(root / "data"),
            SCANTALK_STATS_INTERVAL="1",
            SCANTALK_CAMERA_SOURCE=str(photos),
            SDL_AUDIODRIVER="disk",
            SDL_DISKAUDIOFILE=str(root / "speaker.raw"),
        )
        bus = Bus(broker.port, ["scantalk/#"])  # the wire format, on purpose
        processes: dict[NodeName, subprocess.Popen[bytes]] = {}
        try:
            for name in NODES:
                with (root / f"{name}.log").open("ab") as log:
                    processes[name] = subprocess.Popen(
                        [sys.executable, "-m", "scantalk", "node", name],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        preexec_fn=die_with_parent,
                    )
            wait_online(bus, *NODES, station=STATION)
            for name in NODES:  # counters before any fuzzing
                bus.wait_for(T.stats(name), timeout=30)
            (state,) = bus.wait_for(T.classifier_config_state, timeout=30)[-1:]
            yield Lane(bus, env, processes, root, state.json(), empty_jpeg)
        finally:
            for process in processes.values():
                stop_process(process)
            bus.close()


# --- payloads ---------------------------------------------------------------------------------

DIGITS = "<digits>"
"""Stands for a number written out in more digits than `json.dumps` would write."""
SPECIAL_NUMBERS = [
    10**400, -(10**400), 2**63, -(2**64), 1e308, -1e308, 5e-324, -0.0,
    float("nan"), float("inf"), float("-inf"), 0, -1, 1, 302, True, False,
]  # fmt: skip
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(SPECIAL_NUMBERS),
    st.text(max_size=40),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),  # lone surrogates
)
json_values = st.recursive(
    json_leaves,
    lambda kids: (
        st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=12), kids, max_size=5)
    ),
    max_leaves=25,
)
other_stations = st.sampled_from(["lane-2", "+", "#", "", "lane-1/x", "lane-1\n", "x" * 65]) | (
    st.text(max_size=70).filter(lambda s: s != STATION)
)


OVERFLOWING_SCAN = (
    Scan("overflow", STATION, "banana", "Banana", "4011", 0.5, "fuzz", "", [])
    .to_json()
    .replace(b'"confidence": 0.5', b'"confidence": 1' + b"0" * 400)
)
"""A valid scan but for its confidence: an integer past the largest float."""
HUGE_STABLE_FRAMES = (
    b'{"schema": "scantalk.classifier-config/1", "stable_frames": 1' + b"0" * 400 + b"}"
)
"""A whole number past the largest float, where the setting wants one: a number, not a crash."""


def fields(heard: Heard) -> dict[str, Any]:
    """A JSON object heard on the bus; empty if it is not one (the test sends those, too)."""
    try:
        obj = heard.json()
    except (ValueError, RecursionError):
        return {}
    return obj if isinstance(obj, dict) else {}


def bases(topic: str) -> dict[str, Any]:
    """A valid payload of the topic's type, as a dict, that changes nothing the test relies on."""
    scan_id = str(uuid.uuid4())
    if topic == T.scan:
        return Scan(scan_id, STATION, "banana", "Banana", "4011", 0.9, "fuzz", "", []).to_dict()
    if topic == T.say:
        return SayRequest(STATION, "fuzz", "en").to_dict()
    if topic == T.spoken:
        return Spoken(STATION, "fuzz", "espeak-ng", False, 12.5, scan_id=scan_id).to_dict()
    if topic == T.taught:
        return TaughtChange(STATION, "fuzz", TaughtAction.FORGOTTEN, "fuzz").to_dict()
    return {"schema": ClassifierConfig.SCHEMA}  # a change of nothing; the state, too


@st.composite
def near_valid(draw: st.DrawFn, topic: str, config: dict[str, Any]) -> bytes:
    """A valid payload with one thing wrong (or, now and then, nothing: an extra field).
    `config`: the classifier's config fields in force, the base of a config or its state."""
    obj = bases(topic)
    if topic in (T.classifier_config, T.classifier_config_state):
        # Every field, with the values in force now: a mutation of one is a refusal, or no change.
        obj.update(config)
    key = draw(st.sampled_from(sorted(obj)))
    how = draw(
        st.sampled_from(
            ["drop", "value", "number", "digits", "long", "extra", "schema", "station", "time"]
        )
    )
    digits = b""
    if how == "drop":
        del obj[key]
    elif how == "value":
        obj[key] = draw(json_values)
    elif how == "number":
        obj[key] = draw(st.sampled_from(SPECIAL_NUMBERS))
    elif how == "digits":  # past float range, or past Python's 4300-digit limit for int
        obj[key] = DIGITS
        digits = draw(st.sampled_from([b"", b"-"])) + b"1" + b"0" * draw(st.integers(300, 20_000))
    elif how == "long":
        obj[key] = draw(st.sampled_from(["x", "é", "🍌", " "])) * draw(st.integers(129, 16_000))
    elif how == "extra":
        obj[draw(st.text(max_size=20).filter(lambda k: k not in obj))] = draw(json_values)
    elif how == "schema":
        tags = [p.SCHEMA for p in PAYLOADS.values()] + ["scantalk.scan/2", "", None, 1]
        obj["schema"] = draw(st.sampled_from(tags) | st.text(max_size=30))
    elif how == "station":
        obj["station"] = draw(other_stations)
    else:
        obj["time"] = draw(
            st.sampled_from(["", "now", "2026-13-01T00:00:00Z", "9999-12-31T23:59:59+14:00",
                             "0001-01-01T00:00:00", "2026-11-26T06:00:00", "1970-01-01T00:00:00Z"])
            | st.text(max_size=40)
        )  # fmt: skip
    data = json.dumps(obj, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    return data.replace(json.dumps(DIGITS).encode(), digits) if digits else data


@st.composite
def hostile_bytes(draw: st.DrawFn) -> bytes:
    """Bytes no JSON reader expects: random, invalid UTF-8, deep, huge numbers, large."""
    kind = draw(st.sampled_from(["binary", "utf8", "deep", "digits", "large", "json", "text"]))
    if kind == "binary":
        return draw(st.binary(max_size=300))
    if kind == "utf8":  # invalid UTF-8 inside otherwise plausible JSON
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80"]))
        return b'{"schema": "' + bad + b'", "text": "' + bad + b'"}'
    if kind == "deep":
        n = draw(st.integers(1, 100_000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        return opener * n + b"0" + closer * n
    if kind == "digits":  # past float range, and past Python's 4300-digit limit
        n = draw(st.integers(300, 20_000))
        return b'{"schema": "scantalk.scan/1", "confidence": 1' + b"0" * n + b"}"
    if kind == "large":
        n = draw(st.integers(1, MAX_BYTES))
        return random.Random(draw(st.integers(0, 2**32))).randbytes(n)
    if kind == "json":  # valid JSON of any shape
        value = draw(json_values)
        return json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    return draw(st.text(max_size=200)).encode()


MQTT_TEXT = st.characters(exclude_categories=["Cc", "Cs", "Cn"])
"""What MQTT allows in a string (user properties): no control characters, surrogates or
non-characters. The broker disconnects a client that sends others: they never reach a node."""


@st.composite
def frames(draw: st.DrawFn, jpeg: bytes) -> tuple[bytes, list[tuple[str, str]]]:
    """Frame bytes (garbage, or a damaged `jpeg`) with hostile metadata."""
    kind = draw(st.sampled_from(["garbage", "truncated", "flipped", "jpeg"]))
    if kind == "garbage":
        data = draw(hostile_bytes())
    elif kind == "truncated":
        data = jpeg[: draw(st.integers(0, len(jpeg) - 1))]
    elif kind == "flipped":
        damaged = bytearray(jpeg)
        for _ in range(draw(st.integers(1, 20))):
            damaged[draw(st.integers(0, len(damaged) - 1))] = draw(st.integers(0, 255))
        data = bytes(damaged)
    else:
        data = jpeg
    names = [f.name for f in dataclasses.fields(FrameInfo)]
    props = draw(
        st.lists(
            st.tuples(
                st.sampled_from(names) | st.text(MQTT_TEXT, min_size=1, max_size=20),
                st.sampled_from(["", "nan", "inf", "-1", "1e9", "9" * 400, "9" * 5000, "x"])
                | st.text(MQTT_TEXT, max_size=200),
            ),
            max_size=4,
        )
    )
    return data, props


Sent = tuple[str, bytes, list[tuple[str, str]]]
"""A message: topic, payload, user properties."""


def messages(config: dict[str, Any], jpeg: bytes) -> st.SearchStrategy[Sent]:
    """A message for any subscribed topic; `config` and `jpeg` as `near_valid` and `frames`."""

    def for_topic(topic: str) -> st.SearchStrategy[Sent]:
        if topic == T.frame:
            return frames(jpeg).map(lambda f: (topic, f[0], f[1]))
        payloads = hostile_bytes() | st.sampled_from([b"", b"online", b" online\n", b"offline"])
        if topic in PAYLOADS:
            payloads = near_valid(topic, config) | hostile_bytes()
        return payloads.map(lambda p: (topic, p, []))

    return st.sampled_from(TOPICS).flatmap(for_topic)


def sure_rejections(topic: str, payload: bytes, props: list[tuple[str, str]]) -> list[NodeName]:
    """The nodes that must count this message in `rejected`, by the contract alone."""
    if topic == T.frame:
        try:
            FrameInfo.from_properties(dict(props))
        except ContractError:
            return [CLASSIFIER]  # read before the frame
        return [] if payload.startswith(IMAGE_MAGIC) else [CLASSIFIER]
    cls = PAYLOADS.get(topic)
    if cls is None or (topic == T.classifier_config_state and not payload):
        return []  # any payload is a press, or Home Assistant's birth; empty state: cleared
    try:
        parsed = cls.from_json(payload)
    except ContractError:
        return list(SUBSCRIBERS[topic])
    except Exception:  # the contract itself fails: test_contract_refuses_only_by_contract_error
        return []
    if getattr(parsed, "station", STATION) != STATION:
        return list(STATION_CHECKED.get(topic, ()))
    return []


# --- the properties ---------------------------------------------------------------------------


SOME_CONFIG = {"threshold": 0.6, "stable_frames": 3, "language": "en"}


@settings(max_examples=max(EXAMPLES, 200), deadline=None, database=None)
@given(
    message=st.sampled_from(sorted(PAYLOADS)).flatmap(
        lambda t: st.tuples(st.just(t), near_valid(t, SOME_CONFIG) | hostile_bytes())
    )
)
@example(message=(T.scan, OVERFLOWING_SCAN))
@example(message=(T.classifier_config, b'{"schema": "scantalk.classifier-config/1", '
                                       b'"threshold": 1' + b"0" * 400 + b"}"))  # fmt: skip
def test_contract_refuses_only_by_contract_error(message: tuple[str, bytes]) -> None:
    """Whatever comes in, `from_json` returns a payload or raises `ContractError`: anything
    else escapes the handlers' refusal (`errors`, not `rejected`; fatal in the bridge)."""
    topic, payload = message
    with contextlib.suppress(ContractError):
        PAYLOADS[topic].from_json(payload)


@pytest.mark.timeout(180 + EXAMPLES // 5)
def test_hostile_payloads_leave_every_node_working(lane: Lane) -> None:
    bus = lane.bus
    config = {k: v for k, v in lane.config.items() if k not in ("schema", "error")}
    before = {name: lane.counters(name) for name in NODES}
    acks_before = len(rejected_acks(bus))
    owed: Counter[NodeName] = Counter()
    owed_scans = 0
    sent: list[tuple[str, bytes]] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: nothing fails in here
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(message=messages(config, lane.empty_jpeg))
    @example(message=(T.scan, OVERFLOWING_SCAN, []))
    @example(message=(T.say, b"[" * 50_000 + b"]" * 50_000, []))
    @example(message=(T.classifier_config, b"\xff\xfe\x00", []))
    @example(message=(T.classifier_config, HUGE_STABLE_FRAMES, []))
    @example(message=(T.frame, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, [("width", "x")]))
    def send(message: Sent) -> None:
        nonlocal owed_scans
        if lane.dead():  # reported below, with the node's log; nothing more to learn
            return
        topic, payload, props = message
        sent.append((topic, payload[:300]))
        if topic == T.frame:
            properties = Properties(PacketTypes.PUBLISH)
            if props:
                properties.UserProperty = props
            bus.client.publish(topic, payload, qos=0, properties=properties).wait_for_publish(10)
        else:
            bus.publish(topic, payload, qos=1)
        refusing = sure_rejections(topic, payload, props)
        owed.update(refusing)
        owed_scans += topic == T.scan and BRIDGE in refusing

    send()

    # No node died, and each still says it is online.
    died = lane.dead()
    assert not died, "\n\n".join(
        f"{name} exited with {lane.processes[name].returncode}; last sent: {sent[-3:]!r}\n"
        f"{lane.log_tail(name)}"
        for name in died
    )
    for name in NODES:
        assert bus.matching(T.status(name))[-1].payload == ONLINE, f"{name} is not online"

    # Every payload the contract refuses was counted as rejected by each node that took it
    # (a frame may instead be dropped for a newer one: `dropped`).
    def counted(name: NodeName) -> int:
        now, then = lane.counters(name), before[name]
        grown = now["rejected"] - then["rejected"]
        return grown + (now["dropped"] - then["dropped"] if name is CLASSIFIER else 0)

    for name in NODES:

        def enough(name: NodeName = name) -> bool:
            return counted(name) >= owed[name]

        try:
            bus.wait_until(enough, "", timeout=30)
        except AssertionError:
            raise AssertionError(
                f"{name} counted {counted(name)} rejections of at least {owed[name]}: "
                f"{lane.counters(name)}"
            ) from None
    bus.wait_until(
        lambda: len(rejected_acks(bus)) - acks_before >= owed_scans,
        f"the bridge to ack {owed_scans} scans as rejected",
        timeout=30,
    )
    # …and nothing else: a handler that fails otherwise (`errors`) did not refuse, it broke.
    errors = {name: lane.counters(name)["errors"] - before[name]["errors"] for name in NODES}
    assert not any(errors.values()), "\n".join(
        f"{name} counted {n} errors: {lane.failures(name)}" for name, n in errors.items() if n
    )

    restore_config(lane)
    scan_is_recorded(lane)
    say_is_spoken(lane)


def rejected_acks(bus: Bus) -> list[Heard]:
    return bus.matching(T.inventory_ack, lambda h: h.json().get("status") == "rejected")


def restore_config(lane: Lane) -> None:
    """Put back the classifier's config as it was (a fuzzed change could be valid)."""
    bus, wanted = lane.bus, {k: v for k, v in lane.config.items() if k != "settle_frames"}
    change = {k: v for k, v in wanted.items() if k not in ("error",)}
    heard = len(bus.matching(T.classifier_config_state))
    bus.publish(T.classifier_config, json.dumps(change).encode())

    def restored(h: Heard) -> bool:
        state = fields(h)
        return all(state.get(k) == v for k, v in wanted.items())

    bus.wait_until(
        lambda: any(restored(h) for h in bus.matching(T.classifier_config_state)[heard:]),
        f"the classifier's config back to {wanted}",
        timeout=30,
    )


def scan_is_recorded(lane: Lane) -> None:
    bus = lane.bus
    scan = Scan(str(uuid.uuid4()), STATION, "banana", "Banana", "4011", 0.9, "fuzz", "", [])
    bus.publish(T.scan, scan.to_json())
    bus.wait_for(
        T.inventory_ack,
        lambda h: h.json().get("scan_id") == scan.scan_id and h.json()["status"] == "delivered",
        timeout=30,
    )
    listing = subprocess.run(
        [sys.executable, "-m", "scantalk", "records", "--json"],
        env=lane.env,
        capture_output=True,
        text=True,
        check=True,
    )
    records = [json.loads(line) for line in listing.stdout.splitlines()]
    assert scan.scan_id in {r["scanId"] for r in records}
    # Whatever the fuzzing got stored is a record the hub side may rely on: every one holds to
    # the published record schema (the listing adds where and when it was delivered).
    schema = json.loads((files("scantalk") / "schemas" / "inventory-record.json").read_text())
    for record in records:
        body = {k: v for k, v in record.items() if k not in ("deliveredAt", "destination")}
        jsonschema.validate(body, schema)


def say_is_spoken(lane: Lane, attempts: int = 10) -> None:
    """A valid say is spoken: asked again (new words) while the rate limit still holds it back."""
    bus = lane.bus
    for attempt in range(attempts):
        text = f"Check {attempt + 1}"
        bus.publish(T.say, SayRequest(STATION, text, "en").to_json())

        def said(h: Heard, text: str = text) -> bool:
            return fields(h).get("text") == text

        try:
            bus.wait_for(T.spoken, said, timeout=3)
            return
        except AssertionError:
            continue
    raise AssertionError(f"the voice said none of {attempts} valid says:\n{lane.log_tail(VOICE)}")
