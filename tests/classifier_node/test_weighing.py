"""The classifier with a produce scale: the weight says whether something lies there, an item
sold by weight is announced and scanned with its weight, and a new weight revises its scan."""

from __future__ import annotations

import cv2
import pytest

from scantalk.contract import ONLINE, NodeName, Topics, Weight, WeightStatus
from scantalk.scene import empty_scene
from testbench.bus import Bus, wait_online
from testbench.scenes import photo_jpeg

T = Topics("lane-1")
BANANA = photo_jpeg("fruit/banana.png")


def weigh(bus: Bus, kg: float, status: WeightStatus = WeightStatus.OK) -> None:
    """What the scale node publishes: retained, and stable only when ok."""
    weight = Weight("lane-1", kg, status is WeightStatus.OK, status)
    bus.publish(T.weight, weight.to_json(), retain=True)


def show(bus: Bus, frame: bytes, count: int, name: str) -> None:
    """`count` frames, each classified before the next is sent."""
    for i in range(count):
        bus.send_frame(frame, f"{name}-{i}")
        bus.wait_for(T.prediction, lambda h, i=i: h.json()["frame_id"] == f"{name}-{i}")


def scans(bus: Bus) -> list[dict]:
    return [h.json() for h in bus.matching(T.scan)]


def said(bus: Bus, kind: str = "item") -> list[str]:
    return [h.json()["text"] for h in bus.matching(T.say, lambda h: h.json()["kind"] == kind)]


@pytest.fixture
def lane(bus, node_env, start_node):
    """A classifier on a lane whose scale node is online; call it with settings to start it."""
    bus.publish(T.status(NodeName.SCALE), ONLINE, retain=True)

    def start(**settings: str) -> Bus:
        start_node("classifier", node_env, **settings)
        wait_online(bus, "classifier")
        return bus

    return start


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({}, "Banana, 1.2 kilos"),
        ({"SCANTALK_LANGUAGE": "de"}, "Banane, 1,2 Kilo"),
        ({"SCANTALK_SAY_WEIGHT": "no"}, "Banana"),
    ],
)
def test_a_banana_on_a_settled_scale_is_said_and_scanned_with_its_weight(lane, settings, words):
    bus = lane(**settings)
    weigh(bus, 1.234)
    bus.wait_for(T.say, lambda h: h.json()["kind"] == "earcon")  # the weight alone: "seen"
    show(bus, BANANA, 3, "banana")
    (scan,) = bus.wait_for(T.scan)
    assert (scan.json()["unit"], scan.json()["weight_kg"], scan.json()["revision"]) == (
        "kg", 1.234, 1,
    )  # fmt: skip
    (say,) = bus.wait_for(T.say, lambda h: h.json()["scan_id"] == scan.json()["scan_id"])
    assert say.json()["text"] == words


def test_a_banana_seen_while_the_scale_moves_waits_for_its_weight_and_a_second_one_revises_it(
    lane,
):
    bus = lane()
    weigh(bus, 0.6, WeightStatus.MOTION)
    show(bus, BANANA, 4, "landing")  # recognised, but the weight is not known yet
    assert not scans(bus)
    assert not said(bus)
    weigh(bus, 1.234)
    (scan,) = bus.wait_for(T.scan)
    assert scan.json()["weight_kg"] == 1.234
    bus.wait_for(T.say, lambda h: h.json()["text"] == "Banana, 1.2 kilos")

    weigh(bus, 1.3, WeightStatus.MOTION)  # a second banana added
    show(bus, BANANA, 2, "added")
    weigh(bus, 1.456)
    first, revised = bus.wait_for(T.scan, count=2)
    assert revised.json()["scan_id"] == first.json()["scan_id"]
    assert (revised.json()["revision"], revised.json()["weight_kg"]) == (2, 1.456)
    bus.wait_for(T.say, lambda h: h.json()["text"] == "Banana, now 1.5 kilos")
    show(bus, BANANA, 3, "still")
    weigh(bus, 1.458)  # the scale's last digit: not a new weight
    show(bus, BANANA, 2, "settled")
    assert len(scans(bus)) == 2
    assert said(bus) == ["Banana, 1.2 kilos", "Banana, now 1.5 kilos"]
    assert len(said(bus, "earcon")) == 1, "one placement, one 'seen'"


def test_an_empty_scale_keeps_a_banana_above_it_from_a_scan_and_zero_ends_the_placement(lane):
    bus = lane()
    weigh(bus, 0.0)
    show(bus, BANANA, 6, "held-above")  # a banana in view, not on the scale
    assert not scans(bus)
    weigh(bus, 1.0)
    show(bus, BANANA, 3, "placed")
    (first,) = bus.wait_for(T.scan)
    weigh(bus, 0.0)  # lifted off: the placement ends at once, whatever the camera still sees
    show(bus, BANANA, 3, "lifted")
    weigh(bus, 0.9)  # a banana again: a placement of its own
    show(bus, BANANA, 3, "again")
    _, second = bus.wait_for(T.scan, count=2)
    assert second.json()["scan_id"] != first.json()["scan_id"]
    assert [s["weight_kg"] for s in scans(bus)] == [1.0, 0.9]


def test_a_weighed_item_the_camera_cannot_make_out_gets_not_sure_rather_than_silence(lane):
    bus = lane()
    weigh(bus, 0.5)
    counter = cv2.imencode(".jpg", empty_scene()[:, :, ::-1])[1].tobytes()
    show(bus, counter, 8, "dark-item")
    bus.wait_for(T.say, lambda h: h.json()["kind"] == "prompt")
    assert not scans(bus)


def test_a_weight_that_never_settles_gives_the_scan_without_it_then_the_weight_revises_it(lane):
    bus = lane(SCANTALK_WEIGH_WAIT="0.5")
    weigh(bus, 0.7, WeightStatus.MOTION)
    show(bus, BANANA, 3, "jiggled")
    (scan,) = bus.wait_for(T.scan)
    assert (scan.json()["unit"], scan.json()["weight_kg"]) == ("kg", None)
    bus.wait_for(T.say, lambda h: h.json()["text"] == "Banana")
    weigh(bus, 1.1)
    _, revised = bus.wait_for(T.scan, count=2)
    assert (revised.json()["revision"], revised.json()["weight_kg"]) == (2, 1.1)
    bus.wait_for(
        T.stats(NodeName.CLASSIFIER),
        lambda h: h.json()["counters"].get("scans_unweighed") == 1,
    )


def test_with_the_scale_node_offline_the_lane_runs_on_the_camera_alone(bus, lane):
    bus.publish(T.status(NodeName.SCALE), b"offline", retain=True)  # its last will
    lane()
    weigh(bus, 0.0)  # a stale zero it left behind must not silence the lane
    show(bus, BANANA, 3, "banana")
    (scan,) = bus.wait_for(T.scan)
    assert (scan.json()["unit"], scan.json()["weight_kg"]) == ("kg", None)
    bus.wait_for(T.say, lambda h: h.json()["text"] == "Banana")
