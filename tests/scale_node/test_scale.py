"""The scale node on a real serial line: a simulated scale on a pseudo-terminal, opened by
pyserial as `/dev/ttyUSB0` would be, and a real broker."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from scale_node.protocol import PROTOCOLS, ProtocolError
from scantalk.catalog import Catalog, Product
from scantalk.contract import Topics, Weight, WeightStatus
from scantalk.counters import ScaleCounter
from scantalk.model_folder import ModelFolder
from scantalk.settings import DEFAULT_MODEL_DIR, SettingError
from testbench.bus import Bus, wait_online
from testbench.scale import ScaleSim

T = Topics("lane-1")
OK, MOTION = WeightStatus.OK, WeightStatus.MOTION


def weights(bus: Bus, where=lambda _w: True) -> list[Weight]:
    found = [Weight.from_json(h.payload) for h in bus.matching(T.weight)]
    return [w for w in found if where(w)]


def wait_weight(bus: Bus, where, count: int = 1) -> Weight:
    bus.wait_for(T.weight, lambda h: where(Weight.from_json(h.payload)), count)
    return weights(bus, where)[-1]


EIGHT_N_ONE = {"SCANTALK_SCALE_BYTESIZE": "8", "SCANTALK_SCALE_PARITY": "n"}
"""For tests that open the line again: Linux refuses to reopen a pseudo-terminal left at 7E1
(tcsetattr: EINVAL), a limit of ptys, not of serial ports. The default 7E1 is opened once."""


def start_scale(start_node, node_env, scale: ScaleSim, reopens: bool = False, **settings: str):
    env = {"SCANTALK_SCALE_PORT": str(scale.link), "SCANTALK_SCALE_PROTOCOL": scale.protocol}
    if reopens:
        env |= EIGHT_N_ONE
    env |= {"SCANTALK_STATS_INTERVAL": "1", "SCANTALK_SCALE_UNIT": scale.unit, **settings}
    return start_node("scale", node_env, **env)


# --- the protocols, frame by frame, as the manuals print them ---------------------------------


@pytest.mark.parametrize(
    ("protocol", "frame", "status", "kg"),
    [
        ("nci", b"\n1.234KG\r\nS00\r\x03", OK, 1.234),
        ("nci", b"\n  0.50LB\r\nS00\r\x03", OK, 0.2268),
        ("nci", b"\n1.234KG\r\nS10\r\x03", MOTION, 1.234),  # weight while it moves
        ("nci", b"\nS10\r\x03", MOTION, None),
        ("nci", b"\nS02\r\x03", WeightStatus.OVER_CAPACITY, None),
        ("nci", b"\nS01\r\x03", WeightStatus.UNDER_ZERO, None),
        ("nci", b"\nS0p8\r\x03", WeightStatus.ZERO_ERROR, None),  # byte 3: initial zero error
        ("nci", b"\nS40\r\x03", WeightStatus.ZERO_ERROR, None),  # RAM error
        ("toledo", b"\x0201.234\r", OK, 1.234),
        ("toledo", b"\x02?A\r", MOTION, None),
        ("toledo", b"\x02?B\r", WeightStatus.OVER_CAPACITY, None),
        ("toledo", b"\x02?D\r", WeightStatus.UNDER_ZERO, None),
        ("toledo", b"\x02?H\r", WeightStatus.ZERO_ERROR, None),
        ("continuous", b"ST,GS,+0001.234kg\r\n", OK, 1.234),
        ("continuous", b"US,GS,+0001.100kg\r\n", MOTION, 1.1),
        ("continuous", b"OL,GS,+9999.999kg\r\n", WeightStatus.OVER_CAPACITY, None),
        ("continuous", b"ST,NT,-0000.020kg\r\n", WeightStatus.UNDER_ZERO, -0.02),
        ("continuous", b"ST,GS,   1.50 lb\r\n", OK, 0.6804),
    ],
)
def test_frames_of_each_protocol_read_as_the_scale_meant_them(protocol, frame, status, kg):
    reading = PROTOCOLS[protocol].parse(frame, "kg")
    assert reading.status is status
    assert reading.weight_kg == (None if kg is None else pytest.approx(kg, abs=1e-4))
    assert reading.stable is (status is OK)


def test_toledo_numbers_are_in_the_unit_the_scale_is_set_to():
    assert PROTOCOLS["toledo"].parse(b"\x0202.00\r", "lb").weight_kg == pytest.approx(0.9072, 1e-4)


@pytest.mark.parametrize(
    ("protocol", "frame"),
    [
        ("nci", b"\n1.234KG\r\x03"),  # a weight without its status
        ("nci", b"\nS0\r\x03"),  # one status byte of two
        ("nci", b"\nS0p\r\x03"),  # a third byte announced, none sent
        ("nci", b"\n1.2.3KG\r\nS00\r\x03"),
        ("nci", b"\x00\xff\x13garbage\x03"),
        ("toledo", b"\x02?@\r"),  # a status without a reason
        ("toledo", b"\x02abc\r"),
        ("continuous", b"ST,GS,+1e9kg\r\n"),
        ("continuous", b"hello\r\n"),
    ],
)
def test_what_is_no_answer_of_the_protocol_is_refused(protocol, frame):
    with pytest.raises(ProtocolError):
        PROTOCOLS[protocol].parse(frame, "kg")


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_the_simulator_speaks_each_protocol_as_parsed(protocol, tmp_path):
    sim = ScaleSim(tmp_path / "tty", protocol)
    try:
        sim.kg = 1.25
        for motion, status in ((False, OK), (True, MOTION)):
            sim.motion = motion
            frame = sim.line() if protocol == "continuous" else sim.answer(b"W\r")
            assert PROTOCOLS[protocol].parse(frame, "kg").status is status
    finally:
        sim.close()


# --- the node on a serial line --------------------------------------------------------------


def test_stable_weights_are_published_retained_once_each(bus, broker, node_env, start_node, scale):
    start_scale(start_node, node_env, scale)
    wait_online(bus, "scale")
    wait_weight(bus, lambda w: w.status is OK and w.weight_kg == 0.0)
    scale.kg = 1.234
    banana = wait_weight(bus, lambda w: w.weight_kg == 1.234)
    assert banana.stable
    assert banana.status is OK
    scale.kg = 0.0
    wait_weight(bus, lambda w: w.weight_kg == 0.0, count=2)
    assert [w.weight_kg for w in weights(bus)] == [0.0, 1.234, 0.0], "a steady weight repeated"

    late = Bus(broker.port, [T.weight])  # a late subscriber knows the current state
    try:
        (retained,) = late.wait_for(T.weight)
        assert retained.retain
        assert Weight.from_json(retained.payload).weight_kg == 0.0
    finally:
        late.close()


def test_motion_is_published_at_a_bounded_rate_and_never_as_stable(
    bus, node_env, start_node, scale
):
    start_scale(start_node, node_env, scale, SCANTALK_SCALE_POLL="0.05")
    wait_weight(bus, lambda w: w.status is OK)
    scale.motion = True
    first = bus.wait_for(T.weight, lambda h: h.json()["status"] == "motion")[0]
    bus.wait_until(lambda: len(scale.requests) >= 60, "60 weight requests in motion")
    scale.motion, scale.kg = False, 0.8
    last = bus.wait_for(T.weight, lambda h: h.json()["weight_kg"] == 0.8)[0]

    moving = weights(bus, lambda w: w.status is MOTION)
    assert not any(w.stable for w in moving)
    seconds = last.received - first.received
    assert len(moving) <= seconds / Weight.MOTION_EVERY_S + 2, (
        f"{len(moving)} motion messages in {seconds:.1f} s"
    )


def test_over_capacity_and_zero_error_say_so_without_a_weight(bus, node_env, start_node, scale):
    start_scale(start_node, node_env, scale)
    wait_weight(bus, lambda w: w.status is OK)
    scale.over_capacity = True
    over = wait_weight(bus, lambda w: w.status is WeightStatus.OVER_CAPACITY)
    assert over.weight_kg is None
    assert not over.stable
    scale.over_capacity, scale.zero_error = False, True
    wait_weight(bus, lambda w: w.status is WeightStatus.ZERO_ERROR)


def test_a_scale_unplugged_mid_placement_is_reported_once_and_found_again(
    bus, node_env, start_node, scale, tmp_path
):
    node = start_scale(start_node, node_env, scale, SCANTALK_SCALE_DEADLINE="1", reopens=True)
    scale.kg = 0.64
    wait_weight(bus, lambda w: w.weight_kg == 0.64)
    scale.unplug()
    lost = wait_weight(bus, lambda w: w.status is WeightStatus.NO_SCALE)
    assert lost.weight_kg is None
    assert not lost.stable
    bus.wait_for(T.stats("scale"), lambda h: h.json()["counters"].get(ScaleCounter.SCALE_LOST) == 1)
    scale.kg = 0.7
    scale.plug()
    wait_weight(bus, lambda w: w.weight_kg == 0.7)
    assert node.poll() is None, "the scale node died"
    log = (tmp_path / "scale.log").read_text()
    assert log.count("no scale on") == 1, log
    assert "is back" in log


def test_garbage_and_silence_are_counted_reported_once_and_never_fatal(
    bus, node_env, start_node, scale, tmp_path
):
    node = start_scale(start_node, node_env, scale, SCANTALK_SCALE_DEADLINE="1", reopens=True)
    wait_weight(bus, lambda w: w.status is OK)
    scale.garbage = b"\x00\xffNOISE\r\n\x03" * 3
    wait_weight(bus, lambda w: w.status is WeightStatus.NO_SCALE)
    bus.wait_for(T.stats("scale"), lambda h: h.json()["counters"].get(ScaleCounter.GARBAGE, 0) >= 3)
    scale.garbage, scale.silent = None, True
    bus.wait_for(
        T.stats("scale"), lambda h: h.json()["counters"].get(ScaleCounter.SCALE_SILENT, 0) >= 3
    )
    scale.silent, scale.kg = False, 2.5
    wait_weight(bus, lambda w: w.weight_kg == 2.5)

    assert node.poll() is None, "the scale node died"
    log = (tmp_path / "scale.log").read_text()
    assert log.count("no scale on") == 1, log  # silence after garbage: one outage, told once
    counters = bus.matching(T.stats("scale"))[-1].json()["counters"]
    assert counters[ScaleCounter.SCALE_LOST] == 1


def test_a_scale_that_never_answers_is_no_scale_after_the_deadline(
    bus, node_env, start_node, scale
):
    scale.silent = True
    start_scale(start_node, node_env, scale, SCANTALK_SCALE_DEADLINE="1", reopens=True)
    wait_online(bus, "scale")
    lost = wait_weight(bus, lambda w: w.status is WeightStatus.NO_SCALE)
    assert lost.weight_kg is None
    assert scale.requests, "the node never asked the scale"


@pytest.mark.parametrize("protocol", ["toledo", "continuous"])
def test_other_protocols_and_pounds_give_kilograms(bus, node_env, start_node, tmp_path, protocol):
    sim = ScaleSim(tmp_path / "tty", protocol, unit="lb")
    try:
        start_scale(start_node, node_env, sim)
        sim.kg = 0.9072  # 2.00 lb
        got = wait_weight(bus, lambda w: w.weight_kg is not None and w.weight_kg > 0.5)
        assert got.weight_kg == pytest.approx(0.9072, abs=0.003)
        assert got.stable
    finally:
        sim.close()


def test_a_scale_node_without_a_port_stops_at_start_naming_the_setting(node_env):
    env = {k: v for k, v in node_env.items() if k != "SCANTALK_SCALE_PORT"}
    done = subprocess.run(
        [sys.executable, "-m", "scantalk", "node", "scale"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "SCANTALK_SCALE_PORT" in done.stderr


# --- what the catalog sells by weight -------------------------------------------------------


def test_the_catalog_says_which_items_are_sold_by_weight(tmp_path):
    built_in = ModelFolder.open(DEFAULT_MODEL_DIR).catalog
    assert built_in.get("banana").unit == "kg"
    assert built_in.get("pineapple").unit == "each"
    assert built_in.get("a_label_without_a_row").unit == "each"
    taught = Catalog({"potato": Product("potato", "4072", unit="kg")})
    taught.save(tmp_path / "catalog.csv")
    assert Catalog.load(tmp_path / "catalog.csv").get("potato").unit == "kg"


def test_a_catalog_with_an_unknown_unit_stops_the_lane_naming_the_row(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    rows = (folder / "catalog.csv").read_text().replace("banana,4011,yes,kg", "banana,4011,yes,lb")
    (folder / "catalog.csv").write_text(rows)
    with pytest.raises(SettingError, match=r"SCANTALK_MODEL_DIR.*'banana' has unit 'lb'"):
        ModelFolder.open(folder)


def test_a_catalog_with_a_plu_the_contract_refuses_stops_the_lane_naming_the_row(tmp_path):
    """Every scan of it would be rejected by the bridge: the lane says so at start instead."""
    folder = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    rows = (folder / "catalog.csv").read_text().replace("banana,4011,", "banana,abc,")
    (folder / "catalog.csv").write_text(rows)
    with pytest.raises(SettingError, match=r"SCANTALK_MODEL_DIR.*'banana' has PLU 'abc'"):
        ModelFolder.open(folder)
