"""The topic contract: one way onto the wire and one way off it, and bad payloads refused."""

from __future__ import annotations

import json

import pytest

from scantalk.contract import (
    LANGUAGES,
    AckStatus,
    Answer,
    ClassifierConfig,
    ContractError,
    FrameCause,
    FrameInfo,
    Guess,
    InventoryAck,
    InventoryRecord,
    SayKind,
    SayRequest,
    Scan,
    SnapshotInfo,
    Topics,
)
from scantalk.phrases import PHRASES, WEIGHTS


def a_scan() -> Scan:
    return Scan(
        scan_id="0b8c6a4e-1f0e-4c52-9d0a-2f3b7c1d9e01",
        station="lane-1",
        label="banana",
        display_name="Banana",
        plu="4011",
        confidence=0.93,
        model="produce",
        frame_id="65a1-12",
        alternatives=[Guess("lemon", 0.02)],
    )


def test_scan_round_trips_and_is_readable_json():
    scan = a_scan()
    wire = scan.to_json()
    obj = json.loads(wire)
    assert obj["schema"] == "scantalk.scan/1"
    assert obj["alternatives"] == [{"label": "lemon", "confidence": 0.02}]
    assert Scan.from_json(wire) == scan


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": "scantalk.scan/9"}, "expected schema"),
        ({"confidence": "high"}, "confidence: expected float"),
        ({"alternatives": [{"label": "lemon"}]}, "missing field 'confidence'"),
        ({"plu": 4011}, "plu: expected str"),
    ],
)
def test_scan_that_breaks_the_contract_is_refused(change, message):
    obj = {**json.loads(a_scan().to_json()), **change}
    with pytest.raises(ContractError, match=message):
        Scan.from_json(json.dumps(obj))


def test_not_json_is_refused():
    with pytest.raises(ContractError, match="not JSON"):
        SayRequest.from_json(b"\xff{")


def test_inventory_record_speaks_camel_case():
    record = InventoryRecord.from_scan(a_scan(), device_id="lane-1-pi")
    obj = json.loads(record.to_json())
    assert obj["scanId"] == a_scan().scan_id
    assert obj["recordType"] == "scan"
    assert (obj["stationId"], obj["deviceId"], obj["plu"], obj["quantity"]) == (
        "lane-1",
        "lane-1-pi",
        "4011",
        1,
    )
    assert InventoryRecord.from_json(record.to_json()) == record


def test_topics_follow_the_contract():
    topics = Topics("lane-1")
    assert topics.scan == "scantalk/lane-1/scan"
    assert topics.frame == "scantalk/lane-1/camera/frame"
    assert topics.status("bridge") == "scantalk/lane-1/bridge/status"
    assert Topics("+").scan == "scantalk/+/scan"
    with pytest.raises(ContractError):
        Topics("lane/1")
    with pytest.raises(ContractError):
        topics.status("printer")


def test_the_station_comes_out_of_a_topic_through_the_contract():
    assert Topics.station_of("scantalk/lane-7/scan") == "lane-7"
    assert Topics.station_of(Topics("store.a_2").inventory_ack) == "store.a_2"
    for foreign in ("other/lane-1/scan", "scantalk", "scantalk//scan", "scantalk/a+b/scan"):
        with pytest.raises(ContractError, match="not under scantalk/<station>/"):
            Topics.station_of(foreign)


def test_fixed_sets_travel_as_plain_words_and_anything_else_is_refused():
    say = SayRequest("lane-1", "Banana", "en", kind=SayKind.PROMPT)
    assert json.loads(say.to_json())["kind"] == "prompt"
    assert SayRequest.from_json(say.to_json()).kind is SayKind.PROMPT
    shout = {**json.loads(say.to_json()), "kind": "shout"}
    with pytest.raises(ContractError, match="kind: expected one of item, prompt, notice"):
        SayRequest.from_dict(shout)
    ack = InventoryAck("lane-1", "s1", AckStatus.DELIVERED, "local")
    assert json.loads(ack.to_json())["status"] == "delivered"
    assert InventoryAck.from_json(ack.to_json()).status is AckStatus.DELIVERED


def test_frame_and_snapshot_metadata_round_trip_as_user_properties():
    info = SnapshotInfo(scan_id="s1", label="banana", frame_id="65a1-12")
    assert info.to_properties() == [("scan_id", "s1"), ("label", "banana"), ("frame_id", "65a1-12")]
    assert SnapshotInfo.from_properties(dict(info.to_properties())) == info
    frame = FrameInfo.from_properties({"frame_id": "f1", "width": "640", "motion": "0.25"})
    assert (frame.frame_id, frame.width, frame.motion, frame.height) == ("f1", 640, 0.25, 0)
    with pytest.raises(ContractError, match="width"):
        FrameInfo.from_properties({"width": "wide"})
    # Why it was sent: a cause a newer camera may add is read as unsaid (at rest), not refused.
    assert FrameInfo.from_properties({"cause": "change"}).cause is FrameCause.CHANGE
    assert FrameInfo.from_properties({"cause": "zoom"}).cause is FrameCause.UNSAID
    assert FrameInfo().cause is FrameCause.UNSAID


def test_a_rejected_scan_is_still_named_when_it_can_be():
    assert Scan.id_of(b'{"scan_id": "abc", "label": 3}') == "abc"
    for hopeless in (b"not json", b"[1]", b'{"scan_id": 5}', b'{"scan_id": "' + b"x" * 200 + b'"}'):
        assert Scan.id_of(hopeless) == ""


def test_the_contract_offers_exactly_the_languages_that_have_phrases():
    assert set(LANGUAGES) == set(PHRASES) == set(WEIGHTS)
    for tag in ("en", "de", "de-AT", "EN-gb"):
        ClassifierConfig.from_dict({"schema": ClassifierConfig.SCHEMA, "language": tag})
    with pytest.raises(ContractError, match="'fr' is not a language ScanTalk has phrases in"):
        ClassifierConfig.from_dict({"schema": ClassifierConfig.SCHEMA, "language": "fr"})


def test_a_lane_payload_without_its_time_is_refused_but_an_answer_may_leave_it_out():
    scan = json.loads(Scan("s1", "lane-1", "banana", "Banana", None, 0.9, "m", "", []).to_json())
    del scan["time"]
    with pytest.raises(ContractError, match="missing field 'time'"):
        Scan.from_dict(scan)
    answer = json.loads(Answer("q1", "lane-1", None, "keypad").to_json())
    del answer["time"]
    assert Answer.from_dict(answer).time  # stamped on arrival
