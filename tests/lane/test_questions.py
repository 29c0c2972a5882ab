"""The spoken question, on a whole lane: a real broker, the real classifier, voice and bridge,
frames of real photos, and a scripted shopper answering over MQTT as a checkout's keypad does.

The lane's threshold is set to 1.0 (nothing is ever that certain), so a clear banana is asked
about instead of announced: the question's flow, not the model's accuracy, is under test here
(`scantalk model eval` and the README measure how often a question comes on composed scenes).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from scantalk.contract import Answer, Topics
from scantalk.phrases import question, render
from testbench.bus import Bus, Heard, wait_online
from testbench.scenes import photo_jpeg

T = Topics("lane-1")
BANANA, LEMON = "fruit/banana.png", "fruit/lemon.png"
ASKING = {"SCANTALK_THRESHOLD": "1.0", "SCANTALK_SAY_STARTUP": "no"}


class Camera:
    """Frames of one photo (None: the empty counter), each sent once the last was classified."""

    def __init__(self, bus: Bus) -> None:
        self.bus, self.sent = bus, 0

    def show(self, photo: str | None, frames: int = 1) -> None:
        data = photo_jpeg(photo)
        for _ in range(frames):
            frame_id = f"f-{self.sent}"
            self.bus.send_frame(data, frame_id)
            self.bus.wait_for(T.prediction, lambda h, f=frame_id: h.json()["frame_id"] == f)
            self.sent += 1

    def until(self, photo: str | None, heard: Callable[[], object], limit: int = 20) -> None:
        for _ in range(limit):
            if heard():
                return
            self.show(photo)
        raise AssertionError(f"nothing after {limit} frames of {photo}")


@pytest.fixture
def lane(bus, node_env, start_node):
    """The classifier, the voice and the bridge; returns the scripted camera."""
    env = {**node_env, **ASKING}
    start_node("classifier", env)
    start_node("voice", env)
    start_node("bridge", env)
    wait_online(bus, "classifier", "voice", "bridge")
    return Camera(bus)


def asked(bus: Bus, camera: Camera, photo: str = BANANA) -> dict:
    """Place `photo` until the lane asks about it; the question."""
    camera.until(photo, lambda: bus.matching(T.question))
    (heard,) = bus.matching(T.question)
    return heard.json()


def answer(bus: Bus, question_id: str, choice: str | None, station: str = "lane-1") -> None:
    reply = Answer(question_id=question_id, station=station, choice=choice, source="keypad")
    bus.publish(T.answer, reply.to_json())


def spoken(bus: Bus, text: str, count: int = 1) -> list[dict]:
    return [h.json() for h in bus.wait_for(T.spoken, lambda h: h.json()["text"] == text, count)]


def counter(bus: Bus, name: str, value: int = 1) -> None:
    bus.wait_for(
        T.stats("classifier"), lambda h: h.json()["counters"].get(name, 0) >= value, timeout=30
    )


def said(bus: Bus) -> list[str]:
    """What the lane asked the voice to say, in order, but its earcons."""
    return [h.json()["text"] for h in bus.matching(T.say) if h.json()["kind"] != "earcon"]


def records(env: dict[str, str]) -> list[dict]:
    listing = subprocess.run(
        [sys.executable, "-m", "scantalk", "records", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [json.loads(line) for line in listing.stdout.splitlines()]


def is_question(h: Heard) -> bool:
    return h.json()["kind"] == "question"


def test_the_shoppers_choice_becomes_one_scan_confirmed_out_loud(bus, lane, node_env):
    q = asked(bus, lane)
    labels = [c["label"] for c in q["candidates"]]
    assert labels[0] == "banana"
    assert [c["key"] for c in q["candidates"]] == [1, 2, 3][: len(labels)]
    # Asked as a question, each candidate with its key, after the question's earcon.
    names = [c["display_name"] for c in q["candidates"]]
    (request,) = bus.wait_for(T.say, is_question)
    assert request.json()["text"] == question(names, "en")
    assert "Press 1 for Banana" in request.json()["text"]
    assert not bus.matching(T.scan), "a question is not a claim"
    (earcon, *_) = bus.matching(T.say, lambda h: h.json()["kind"] == "earcon")
    assert earcon.json()["text"] == "detected"

    answer(bus, q["question_id"], "banana")
    (scan,) = bus.wait_for(T.scan)
    assert (scan.json()["label"], scan.json()["decided_by"]) == ("banana", "shopper")
    assert scan.json()["question_id"] == q["question_id"]
    spoken(bus, render("chosen", "en", item="Banana"))
    bus.wait_for(T.inventory_ack, lambda h: h.json()["status"] == "delivered")
    (record,) = records(node_env)
    assert (record["scanId"], record["decidedBy"]) == (scan.json()["scan_id"], "shopper")
    assert record["questionId"] == q["question_id"]
    # The same answer again is an answer to a closed question: no second scan.
    answer(bus, q["question_id"], "banana")
    counter(bus, "rejected_closed")
    lane.show(BANANA, 4)  # the banana still lies there: chosen, so not asked about again
    assert len(bus.matching(T.scan)) == 1
    assert len(bus.matching(T.question)) == 1


def test_none_of_these_and_no_answer_point_to_the_lookup_and_record_nothing(
    bus, node_env, start_node
):
    env = {**node_env, **ASKING, "SCANTALK_ANSWER_TIMEOUT": "2"}
    start_node("classifier", env)
    start_node("voice", env)
    wait_online(bus, "classifier", "voice")
    camera = Camera(bus)
    lookup = render("lookup", "en")

    q = asked(bus, camera)
    answer(bus, q["question_id"], None)
    spoken(bus, lookup)
    counter(bus, "answers_none")

    camera.show(None, 10)  # taken away; then placed again, and this time nobody answers
    camera.until(BANANA, lambda: len(bus.matching(T.question)) == 2)
    late = bus.matching(T.question)[1].json()["question_id"]
    counter(bus, "questions_unanswered")
    spoken(bus, lookup, count=2)
    answer(bus, late, "banana")  # too late
    counter(bus, "rejected_closed")
    assert not bus.matching(T.scan)
    assert said(bus).count(lookup) == 2


def test_taking_the_item_away_or_swapping_it_cancels_the_question(bus, lane):
    q = asked(bus, lane)
    lane.until(LEMON, lambda: bus.matching(T.scan) or len(bus.matching(T.question)) > 1)
    counter(bus, "questions_cancelled")
    answer(bus, q["question_id"], "banana")  # for the banana that is gone
    counter(bus, "rejected_closed")
    assert all(h.json()["label"] != "banana" for h in bus.matching(T.scan))

    lane.show(None, 10)
    bus.wait_for(T.stats("classifier"), lambda h: h.json()["counters"].get("questions", 0) >= 1)


def test_repeat_asks_the_open_question_again(bus, lane):
    asked(bus, lane)
    (request,) = bus.wait_for(T.say, is_question)
    text = request.json()["text"]
    spoken(bus, text)
    bus.publish(T.repeat, b"pressed")
    again = spoken(bus, text, count=2)[1]
    assert again["duration_ms"] > 1000, "the whole question, not a fragment"


def test_answers_are_refused_by_reason_and_never_become_scans(bus, lane):
    q = asked(bus, lane)
    answer(bus, "no-such-question", "banana")
    counter(bus, "rejected_unknown")
    answer(bus, q["question_id"], "hammer")  # not offered
    counter(bus, "rejected_not_offered")
    answer(bus, q["question_id"], "banana", station="lane-2")  # on lane-1's topic
    counter(bus, "rejected_station")
    bus.publish(T.answer, b'{"schema": "scantalk.answer/1", "question_id": 7}')
    counter(bus, "rejected_contract")
    assert not bus.matching(T.scan)
    # Still open: the right answer still works.
    answer(bus, q["question_id"], "banana")
    (scan,) = bus.wait_for(T.scan)
    assert scan.json()["decided_by"] == "shopper"


def test_a_chosen_item_is_recorded_exactly_once_across_a_bridge_crash(bus, node_env, start_node):
    env = {**node_env, **ASKING}
    start_node("classifier", env)
    bridge = start_node("bridge", env)
    wait_online(bus, "classifier", "bridge")
    camera = Camera(bus)
    q = asked(bus, camera)
    bridge.send_signal(signal.SIGKILL)
    bridge.wait(timeout=30)
    answer(bus, q["question_id"], "banana")  # chosen while the bridge is down
    (scan,) = bus.wait_for(T.scan)
    start_node("bridge", env)
    scan_id = scan.json()["scan_id"]
    bus.wait_for(
        T.inventory_ack,
        lambda h: (h.json()["scan_id"], h.json()["status"]) == (scan_id, "delivered"),
    )
    assert [r["scanId"] for r in records(node_env)] == [scan.json()["scan_id"]]
