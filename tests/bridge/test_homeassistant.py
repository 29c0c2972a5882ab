"""Home Assistant sees the lane: discovery configs on a real broker, their templates rendered as
Home Assistant renders them (Jinja2), availability, removal and re-publication."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time

import jinja2
import pytest

from bridge.homeassistant import THRESHOLD_RANGE, discovery, question_entity_id
from classifier_node.settings import ClassifierSettings
from scantalk.contract import (
    OFFLINE,
    ONLINE,
    Answer,
    Candidate,
    ClassifierConfig,
    Guess,
    NodeName,
    Question,
    SayRequest,
    Scan,
    Spoken,
    Stats,
    Topics,
    Unit,
    Weight,
    WeightStatus,
)
from testbench import homeassistant_keys as documented
from testbench.bus import Bus, wait_online

PREFIX = "homeassistant"
TOPICS = Topics("lane-1")
SCAN = Scan(
    scan_id="s-1", station="lane-1", label="banana", display_name="Banana", plu="4011",
    confidence=0.934, model="produce", frame_id="f-9",
    alternatives=[Guess("lemon", 0.02)], time="2026-11-26T09:00:00.000Z",
)  # fmt: skip


def render(template: str, payload: bytes, states: dict[str, dict] | None = None) -> str:
    """A template as Home Assistant renders it: Jinja2 with `value` and `value_json`, and
    `state_attr` reading the attributes of the entities in `states`."""
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined)
    env.filters["to_json"] = json.dumps
    env.globals["state_attr"] = lambda entity, name: (states or {}).get(entity, {}).get(name)
    try:
        value_json = json.loads(payload)
    except ValueError:
        value_json = None  # a command's value is plain text
    return env.from_string(template).render(value=payload.decode(), value_json=value_json)


def component_of(topic: str) -> str:
    return topic.split("/")[1]


@pytest.fixture
def hass(broker):
    listener = Bus(broker.port, [f"{PREFIX}/#"])
    yield listener
    listener.close()


def test_every_config_has_the_keys_its_component_requires_and_only_documented_ones():
    configs = discovery("lane-1", PREFIX)
    components = sorted(component_of(t) for t in configs)
    assert components == sorted(
        ["sensor"] * 8
        + ["event"] * 2
        + ["button"] * 5
        + ["image", "binary_sensor", "number"]
        + ["select"]
    )
    for topic, config in configs.items():
        component = component_of(topic)
        assert topic.startswith(f"{PREFIX}/{component}/lane-1/")
        assert topic.endswith("/config")
        assert any(keys <= config.keys() for keys in documented.REQUIRED[component]), topic
        unknown = config.keys() - documented.allowed_keys(component)
        assert not unknown, f"{topic}: undocumented keys {unknown}"
        assert config["device"].keys() <= documented.DEVICE
        assert config["origin"].keys() <= documented.ORIGIN
        for entry in config["availability"]:
            assert entry.keys() <= documented.AVAILABILITY_ENTRY
    unique_ids = [c["unique_id"] for c in configs.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    (device,) = {json.dumps(c["device"], sort_keys=True) for c in configs.values()}
    assert json.loads(device)["identifiers"] == ["scantalk_lane-1"]


def test_templates_render_what_a_person_expects_from_real_payloads():
    configs = {t.split("/")[3]: c for t, c in discovery("lane-1", PREFIX).items()}
    scan = SCAN.to_json()
    assert render(configs["last_scan"]["value_template"], scan) == "Banana"
    assert render(configs["confidence"]["value_template"], scan) == "93.4"
    event = json.loads(render(configs["scan"]["value_template"], scan))
    assert event["event_type"] in configs["scan"]["event_types"]
    assert (event["display_name"], event["plu"], event["scan_id"]) == ("Banana", "4011", "s-1")
    assert (event["event_type"], event["weight_kg"]) == ("scanned", None)
    no_plu = dataclasses.replace(SCAN, plu=None).to_json()
    assert json.loads(render(configs["scan"]["value_template"], no_plu))["plu"] is None
    weighed = dataclasses.replace(SCAN, unit=Unit.KG, weight_kg=1.456, revision=2).to_json()
    reweighed = json.loads(render(configs["scan"]["value_template"], weighed))
    assert (reweighed["event_type"], reweighed["weight_kg"]) == ("reweighed", 1.456)
    assert reweighed["event_type"] in configs["scan"]["event_types"]

    bridge = Stats("lane-1", NodeName.BRIDGE, {"scans_today": 12, "outbox_pending": 3}).to_json()
    assert render(configs["scans_today"]["value_template"], bridge) == "12"
    assert render(configs["outbox_pending"]["value_template"], bridge) == "3"
    assert render(configs["announcements"]["value_template"], bridge) == "OFF"
    failing = Stats("lane-1", NodeName.BRIDGE, {"announcements_failing": 1}).to_json()
    assert render(configs["announcements"]["value_template"], failing) == "ON"
    voice = Stats("lane-1", NodeName.VOICE, {"cloud_failures": 2, "cloud_timeouts": 1}).to_json()
    assert render(configs["cloud_speech_failures"]["value_template"], voice) == "3"

    # The number and the select command the classifier in the contract's own words.
    threshold = render(configs["threshold"]["command_template"], b"0.85")
    assert ClassifierConfig.from_json(threshold).threshold == 0.85
    language = render(configs["language"]["command_template"], b"de")
    assert ClassifierConfig.from_json(language).language == "de"
    state = ClassifierConfig(threshold=0.8, language="en-GB", settle_frames=7).to_json()
    assert render(configs["threshold"]["value_template"], state) == "0.8"
    assert render(configs["language"]["value_template"], state) in configs["language"]["options"]
    # Nothing classified lately is unknown to Home Assistant (`None`), not 0 ms.
    idle = Stats("lane-1", NodeName.CLASSIFIER, {"frames": 0}).to_json()
    assert render(configs["inference_ms"]["value_template"], idle) == "None"
    busy = Stats("lane-1", NodeName.CLASSIFIER, {"inference_ms": 12.5}).to_json()
    assert render(configs["inference_ms"]["value_template"], busy) == "12.5"
    # The scale's weight in kilograms; unknown (`None`), not 0 kg, when the scale gives none.
    weighed = Weight("lane-1", 1.234, True, WeightStatus.OK).to_json()
    assert render(configs["weight"]["value_template"], weighed) == "1.234"
    gone = Weight("lane-1", None, False, WeightStatus.NO_SCALE).to_json()
    assert render(configs["weight"]["value_template"], gone) == "None"
    assert configs["weight"]["device_class"] == "weight"
    assert configs["weight"]["availability"] == [{"topic": TOPICS.status(NodeName.SCALE)}]
    # Partial changes are never retained: one would replace the other on the broker.
    assert not any(c.get("retain") for c in configs.values())


def test_answer_buttons_answer_the_open_question_in_the_contracts_words():
    configs = {t.split("/")[3]: c for t, c in discovery("lane-1", PREFIX).items()}
    question = Question(
        question_id="q-7", station="lane-1", expires_at="2026-11-26T09:00:08.000Z",
        candidates=[Candidate("lemon", "Lemon", "4053", 1), Candidate("lime", "Lime", None, 2)],
    )  # fmt: skip
    event = json.loads(render(configs["question"]["value_template"], question.to_json()))
    assert event["event_type"] in configs["question"]["event_types"]
    assert [c["display_name"] for c in event["candidates"]] == ["Lemon", "Lime"]
    # The entity id Home Assistant gives the event, which the buttons read it from.
    entity = configs["question"]["default_entity_id"]
    assert entity == question_entity_id("lane-1") == "event.scantalk_lane_1_question"
    states = {entity: event}

    def pressed(button: str) -> Answer:
        return Answer.from_json(render(configs[button]["command_template"], b"", states))

    assert [(a.question_id, a.choice) for a in map(pressed, ("answer_1", "answer_2"))] == [
        ("q-7", "lemon"),
        ("q-7", "lime"),
    ]
    assert pressed("answer_none").choice is None
    # Two candidates: key 3 offers nothing, and must not count as "none of these".
    assert pressed("answer_3").choice not in {None, "lemon", "lime"}
    assert {pressed(b).source for b in ("answer_1", "answer_none")} == {"homeassistant"}
    for button in ("question", "answer_1", "answer_2", "answer_3", "answer_none"):
        (status,) = configs[button]["availability"]
        assert status["topic"] == TOPICS.status(NodeName.CLASSIFIER), button


def test_threshold_slider_spans_exactly_what_the_classifier_accepts():
    (bounds,) = (
        f.metadata["parse"] for f in ClassifierSettings.__dataclass_fields__.values()
        if f.name == "threshold"
    )  # fmt: skip
    assert (bounds.low, bounds.high) == THRESHOLD_RANGE


def test_bridge_publishes_discovery_and_again_when_home_assistant_comes_online(
    broker, hass, node_env, start_node
):
    start_node("bridge", node_env)
    configs = discovery("lane-1", PREFIX)
    first = hass.wait_for(f"{PREFIX}/+/lane-1/+/config", count=len(configs))
    assert all(h.retain is False for h in first)  # live, as this listener was there first
    assert {h.topic: h.json() for h in first} == configs
    hass.publish(f"{PREFIX}/status", ONLINE)  # Home Assistant restarted
    hass.wait_for(f"{PREFIX}/+/lane-1/+/config", count=2 * len(configs))
    late = Bus(broker.port, [f"{PREFIX}/#"])  # a Home Assistant that connects later
    try:
        retained = late.wait_for(f"{PREFIX}/+/lane-1/+/config", count=len(configs))
        assert all(h.retain for h in retained)
    finally:
        late.close()


def test_discovery_remove_clears_every_config(broker, hass, node_env):
    def scantalk(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "scantalk", *args], env=node_env, check=True)

    scantalk("discovery")
    configs = discovery("lane-1", PREFIX)
    hass.wait_for(f"{PREFIX}/+/lane-1/+/config", lambda h: h.payload != b"", len(configs))
    scantalk("discovery", "--remove")
    cleared = hass.wait_for(f"{PREFIX}/+/lane-1/+/config", lambda h: h.payload == b"", len(configs))
    assert {h.topic for h in cleared} == configs.keys()
    # A newcomer gets no retained config: retained messages come before anything published
    # after its subscription, such as this probe.
    late = Bus(broker.port, [f"{PREFIX}/#"])
    try:
        late.publish(f"{PREFIX}/probe", b"probe")
        late.wait_for(f"{PREFIX}/probe")
        assert late.matching(f"{PREFIX}/+/lane-1/+/config") == []
    finally:
        late.close()


def test_entities_turn_unavailable_when_their_node_is_killed(bus, node_env, start_node):
    configs = discovery("lane-1", PREFIX)
    (button,) = (c for t, c in configs.items() if t.endswith("/repeat/config"))
    (availability,) = button["availability"]
    assert availability["topic"] == TOPICS.status(NodeName.VOICE)
    voice = start_node("voice", node_env, SCANTALK_SAY_STARTUP="no")
    wait_online(bus, "voice")
    voice.kill()  # SIGKILL: no goodbye, only the broker's last will
    bus.wait_for(availability["topic"], lambda h: h.payload == OFFLINE, timeout=15)


def test_a_frozen_node_shows_offline_within_15_seconds(bus, node_env, start_node):
    voice = start_node("voice", node_env, SCANTALK_SAY_STARTUP="no")
    wait_online(bus, "voice")
    voice.send_signal(signal.SIGSTOP)  # alive, connected, and doing nothing
    frozen = time.monotonic()
    try:
        (offline,) = bus.wait_for(
            TOPICS.status(NodeName.VOICE), lambda h: h.payload == OFFLINE, timeout=30
        )
        # 1.5 keep-alives (5 s) and the broker's timer: about 10 s.
        assert offline.received - frozen < 15
    finally:
        voice.send_signal(signal.SIGCONT)  # so that it can be stopped cleanly


def test_unspoken_announcements_are_noticed_and_cleared_when_the_voice_speaks(
    bus, node_env, start_node
):
    start_node("bridge", node_env)  # no voice node: nothing will say what is asked
    wait_online(bus, "bridge")
    bus.publish(TOPICS.say, SayRequest("lane-1", "Banana", "en", scan_id="s-1").to_json())
    (stats,) = bus.wait_for(
        TOPICS.stats(NodeName.BRIDGE),
        lambda h: h.json()["counters"].get("announcements_failing") == 1,
    )
    assert stats.json()["counters"]["speech_overdue"] == 1
    bus.publish(TOPICS.spoken, Spoken("lane-1", "Lemon", "espeak-ng", False, 80, 600).to_json(), 0)
    bus.wait_for(
        TOPICS.stats(NodeName.BRIDGE),
        lambda h: (
            h.json()["counters"].get("announcements_failing") == 0
            and h.json()["counters"].get("speech_overdue") == 1
        ),
    )


def test_scans_today_counts_accepted_scans(bus, node_env, start_node):
    start_node("bridge", node_env)
    wait_online(bus, "bridge")
    for n in range(3):
        bus.publish(TOPICS.scan, dataclasses.replace(SCAN, scan_id=f"s-{n}").to_json())
    bus.wait_for(
        TOPICS.stats(NodeName.BRIDGE), lambda h: h.json()["counters"].get("scans_today") == 3
    )
