"""No replays, station checks everywhere, speech that can be rate-limited, rejections by reason.

Anyone on a lane's bus can publish, retain, or replay: an old or misaddressed message must not
make the lane speak, and a flood must not make it chatter.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from scantalk.contract import (
    ClassifierConfig,
    NodeName,
    SayRequest,
    Scan,
    TaughtAction,
    TaughtChange,
    Topics,
)
from scantalk.processes import stop_process
from testbench.bus import Bus, wait_online

T = Topics("lane-1")
VOICE_STATS = T.stats(NodeName.VOICE)
CLASSIFIER_STATS = T.stats(NodeName.CLASSIFIER)


def dated(seconds_from_now: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def say(bus: Bus, text: str, *, station: str = "lane-1", retain: bool = False, **fields) -> None:
    request = SayRequest(station, text, "en", **fields)
    bus.publish(T.say, request.to_json(), retain=retain)


def counters(bus: Bus, stats: str, check) -> dict:
    """The counters of the newest stats (so far) that pass `check`, waiting for one."""
    return bus.wait_for(stats, lambda h: check(h.json()["counters"]))[-1].json()["counters"]


def said(bus: Bus, text: str) -> list:
    return bus.matching(T.spoken, lambda h: h.json()["text"] == text)


@pytest.fixture
def voice_env(node_env):
    return {**node_env, "SCANTALK_SAY_STARTUP": "no"}


def test_a_retained_command_is_refused_at_start_live_and_when_cleared(bus, voice_env, start_node):
    say(bus, "Retained banana", retain=True)  # dated now: only its being retained gives it away
    start_node("voice", voice_env)
    wait_online(bus, "voice")
    say(bus, "Lemon")
    bus.wait_for(T.spoken, lambda h: h.json()["text"] == "Lemon")
    # A live press published retained, and its clearing: neither is a press.
    bus.publish(T.repeat, b"pressed", retain=True)
    bus.publish(T.repeat, b"", retain=True)
    counters(bus, VOICE_STATS, lambda c: c.get("rejected_retained") == 3)
    say(bus, "Kiwi")  # a live request after them, heard after them
    bus.wait_for(T.spoken, lambda h: h.json()["text"] == "Kiwi")
    assert said(bus, "Retained banana") == []
    assert len(said(bus, "Lemon")) == 1, "a retained repeat press was obeyed"


def test_a_say_dated_long_ago_is_stale_and_one_from_a_clock_slightly_ahead_is_spoken(
    bus, voice_env, start_node
):
    start_node("voice", voice_env, SCANTALK_VOICE_COOLDOWN="0")
    wait_online(bus, "voice")
    say(bus, "Banana from 2020", time="2020-01-01T09:00:00.000Z")
    say(bus, "Banana from 20 s ago", time=dated(-20))
    say(bus, "Banana from an hour ahead", time=dated(3600))
    say(bus, "Banana from 30 s ahead", time=dated(30))  # another device's clock runs ahead
    bus.wait_for(T.spoken, lambda h: h.json()["text"] == "Banana from 30 s ahead")
    found = counters(bus, VOICE_STATS, lambda c: c.get("stale") == 2)
    assert found.get("say_future") == 1
    assert [h.json()["text"] for h in bus.matching(T.spoken)] == ["Banana from 30 s ahead"]


def test_a_say_for_another_station_is_refused_and_counted_by_reason(bus, voice_env, start_node):
    start_node("voice", voice_env)
    wait_online(bus, "voice")
    say(bus, "Lane two's banana", station="lane-2")
    bus.publish(T.say, b"{not json")
    say(bus, "Lemon")
    bus.wait_for(T.spoken, lambda h: h.json()["text"] == "Lemon")
    found = counters(bus, VOICE_STATS, lambda c: c.get("rejected") == 2)
    assert (found.get("rejected_station"), found.get("rejected_contract")) == (1, 1)
    assert said(bus, "Lane two's banana") == []


def test_a_flood_of_says_is_limited_and_items_at_a_shoppers_pace_are_still_spoken(
    bus, voice_env, start_node
):
    start_node("voice", voice_env)  # the default limit: 4 a second, 4 at once
    wait_online(bus, "voice")
    started = time.monotonic()
    for i in range(50):
        say(bus, f"Flood item {i}", scan_id=f"flood-{i}")
    for _ in range(5):  # presses take from the same limit
        bus.publish(T.repeat, b"pressed")
    taken_at_most = 4 + int(4 * (time.monotonic() - started)) + 1
    counters(bus, VOICE_STATS, lambda c: c.get("say_limited", 0) >= 55 - taken_at_most)

    time.sleep(1.5)  # the limit refills
    for item in ("Banana", "Lemon", "Broccoli"):  # a quick shopper: an item every half second
        say(bus, item, scan_id=item)
        time.sleep(0.5)
    for item in ("Banana", "Lemon", "Broccoli"):
        bus.wait_for(T.spoken, lambda h, item=item: h.json()["scan_id"] == item)
    flood = bus.matching(T.spoken, lambda h: h.json()["text"].startswith("Flood item"))
    assert len(flood) <= taken_at_most
    heard = len(bus.matching(T.spoken))
    final = counters(
        bus, VOICE_STATS, lambda c: c.get("spoken", 0) + c.get("interrupted", 0) >= heard
    )
    assert final["synthesized"] <= taken_at_most + 3, "the flood filled the audio cache"


UNSAFE = {"threshold": 0.01, "stable_frames": 1, "empty_below": 0}


@pytest.mark.parametrize(
    "unsafe",
    [UNSAFE, {"stable_frames": 1}, {"empty_below": 0}, {"threshold": 0.3}],
    ids=["all", "one-frame", "never-empty", "no-majority"],
)
def test_an_unsafe_config_is_refused_whole_and_counted(bus, node_env, start_node, unsafe):
    start_node("classifier", node_env)
    wait_online(bus, "classifier")
    payload = json.dumps({"schema": ClassifierConfig.SCHEMA, **unsafe}).encode()
    bus.publish(T.classifier_config, payload)
    refused = bus.wait_for(T.classifier_config_state, lambda h: h.json()["error"] is not None)
    state = refused[0].json()
    assert (state["threshold"], state["stable_frames"], state["empty_below"]) == (0.8, 2, 0.03)
    found = counters(bus, CLASSIFIER_STATS, lambda c: c.get("rejected") == 1)
    assert (found.get("rejected_config"), found.get("config_rejected")) == (1, 1)


def test_a_retained_config_is_refused_and_a_live_one_outlives_a_restart(bus, node_env, start_node):
    bus.publish(T.classifier_config, ClassifierConfig(threshold=0.95).to_json(), retain=True)
    classifier = start_node("classifier", node_env)
    wait_online(bus, "classifier")
    counters(bus, CLASSIFIER_STATS, lambda c: c.get("rejected_retained") == 1)
    assert bus.matching(T.classifier_config_state)[-1].json()["threshold"] == 0.8

    bus.publish(T.classifier_config, ClassifierConfig(threshold=0.9, request_id="live").to_json())
    bus.wait_for(T.classifier_config_state, lambda h: h.json()["request_id"] == "live")
    stop_process(classifier)
    restarted = time.monotonic()
    start_node("classifier", node_env)
    (state,) = bus.wait_for(T.classifier_config_state, lambda h: h.received > restarted)
    assert state.json()["threshold"] == 0.9


def test_a_taught_change_for_another_station_is_refused(bus, node_env, start_node):
    start_node("classifier", node_env)
    wait_online(bus, "classifier")
    elsewhere = TaughtChange("lane-2", "mango", TaughtAction.TAUGHT, "any-model", photos=5)
    bus.publish(T.taught, elsewhere.to_json())
    found = counters(bus, CLASSIFIER_STATS, lambda c: c.get("rejected_station") == 1)
    assert found.get("rejected") == 1
    assert "taught_reloads" not in found


def test_a_scan_for_another_station_is_refused_by_the_camera(bus, node_env, start_node, photo_dir):
    folder = photo_dir("fruit/banana.png")
    start_node("camera", node_env, SCANTALK_CAMERA_SOURCE=str(folder), SCANTALK_CAMERA_FPS="20")
    first, second = bus.wait_for(T.frame, count=2)[:2]

    def scan(station: str, frame_id: str) -> Scan:
        return Scan(str(uuid.uuid4()), station, "banana", "Banana", "4011", 0.95, "m", frame_id, [])

    foreign = scan("lane-2", first.properties["frame_id"])  # a frame the camera still holds
    bus.publish(T.scan, foreign.to_json())
    own = scan("lane-1", second.properties["frame_id"])
    bus.publish(T.scan, own.to_json())
    (snapshot,) = bus.wait_for(T.snapshot)
    assert snapshot.properties["scan_id"] == own.scan_id
    found = counters(bus, T.stats(NodeName.CAMERA), lambda c: c.get("snapshots") == 1)
    assert (found.get("rejected"), found.get("rejected_station")) == (1, 1)
    assert len(bus.matching(T.snapshot)) == 1
