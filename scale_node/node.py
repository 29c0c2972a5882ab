"""The scale node: polls (or listens to) the produce scale on its serial line with pyserial and
publishes `scantalk.weight/1` on `…/scale/weight`, retained.

A scale that is unplugged, silent or sends garbage never stops the node: it is reported once
(a warning, `no_scale` on the weight topic, the `scale_lost` counter) and opened again with a
backoff, and its return is logged once too.
"""

from __future__ import annotations

import termios
import threading
import time

import serial

from scale_node.protocol import MAX_FRAME, PROTOCOLS, Protocol, ProtocolError, Reading
from scale_node.settings import ScaleSettings
from scantalk.contract import NodeName, Weight, WeightStatus
from scantalk.counters import ScaleCounter
from scantalk.runtime import Node
from scantalk.settings import SettingError

ANSWER_S = 0.5
"""How long a scale may take to answer one request (they answer within tens of ms)."""
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
RESOLUTION_KG = 0.002
"""A stable weight that moved less than this (a checkout scale's smallest division) is the
same weight: not published again."""


class Changes:
    """Which readings are news: a new status, a stable weight that moved, and while the weight
    is in motion one reading every `Weight.MOTION_EVERY_S` (so a swaying bag cannot flood the
    bus)."""

    def __init__(self) -> None:
        self.last: Reading | None = None
        self._at = 0.0

    def due(self, reading: Reading, now: float) -> bool:
        last = self.last
        if last is None or reading.status is not last.status:
            news = True
        elif reading.status is WeightStatus.MOTION:
            news = now - self._at >= Weight.MOTION_EVERY_S
        else:
            news = abs((reading.weight_kg or 0.0) - (last.weight_kg or 0.0)) >= RESOLUTION_KG
        if news:
            self.last, self._at = reading, now
        return news


class Scale:
    """The scale on its serial line, as a worker of the node."""

    def __init__(self, node: Node, settings: ScaleSettings) -> None:
        if not settings.scale_port:
            raise SettingError(
                "SCANTALK_SCALE_PORT", "", "the scale's serial port, e.g. /dev/ttyUSB0"
            )
        self.node, self.settings = node, settings
        self.port: str = settings.scale_port
        self.protocol: Protocol = PROTOCOLS[settings.scale_protocol]
        self.changes = Changes()
        self._lost = False
        """`no_scale` is reported and not yet taken back by a valid reading."""
        self._garbled = False
        """Garbage was logged since the last valid reading."""
        self._heard = False
        """A valid reading came since the line was last opened."""
        node.add_worker(self.run)

    def open(self) -> serial.Serial:
        s = self.settings
        line = serial.serial_for_url(
            self.port,
            baudrate=s.scale_baud,
            bytesize=s.scale_bytesize,
            parity=s.scale_parity.upper(),
            stopbits=serial.STOPBITS_ONE,
            timeout=ANSWER_S,
            write_timeout=ANSWER_S,
        )
        line.reset_input_buffer()  # readings sent before we listened are old
        return line

    def run(self, stop: threading.Event) -> None:
        backoff = FIRST_BACKOFF_S
        while not stop.is_set():
            self._heard = False
            try:
                with self.open() as line:
                    self.node.log.info("scale on %s (%s)", self.port, self.protocol.name)
                    self._status(line)
                    self.listen(line, stop)
                    reason = f"no valid reading for {self.settings.scale_deadline:g} s"
            # A pulled cable fails reads (SerialException), flushes (termios) or opens (OSError).
            except (serial.SerialException, OSError, termios.error) as exc:
                reason = str(exc) or type(exc).__name__
            if stop.is_set():
                break
            self.lose(reason)
            if self._heard:  # it was there: try again soon
                backoff = FIRST_BACKOFF_S
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
        self.publish(Reading(WeightStatus.NO_SCALE))  # the lane must not trust a stale weight

    def _status(self, line: serial.Serial) -> None:
        """Ask the status once (`S`) on opening: a scale that needs staff says so at once."""
        if self.protocol.status is None:
            return
        line.write(self.protocol.status)
        frame = line.read_until(self.protocol.end, MAX_FRAME)
        try:
            status = self.protocol.parse(frame, self.settings.scale_unit).status
        except ProtocolError:
            return  # counted when weighing
        if status is WeightStatus.ZERO_ERROR:
            self.node.log.warning("the scale on %s reports a zero error: it needs staff", self.port)

    def listen(self, line: serial.Serial, stop: threading.Event) -> None:
        """Read until stopped, or until no valid reading came for the deadline."""
        last_valid = time.monotonic()
        while not stop.is_set():
            started = time.monotonic()
            if self.protocol.weigh is not None:
                line.reset_input_buffer()  # a late answer to the last request is old
                line.write(self.protocol.weigh)
            frame = line.read_until(self.protocol.end, MAX_FRAME)
            now = time.monotonic()
            if (reading := self.parse(frame)) is not None:
                last_valid = now
                self.offer(reading, now)
            elif now - last_valid >= self.settings.scale_deadline:
                return
            if self.protocol.weigh is not None:
                stop.wait(max(0.0, self.settings.scale_poll - (time.monotonic() - started)))

    def parse(self, frame: bytes) -> Reading | None:
        if not frame:
            self.node.count(ScaleCounter.SCALE_SILENT)
            return None
        try:
            if not frame.endswith(self.protocol.end):
                raise ProtocolError(f"{len(frame)} bytes without the frame's end: {frame[:32]!r}")
            reading = self.protocol.parse(frame, self.settings.scale_unit)
            if reading.status is WeightStatus.OK and reading.weight_kg is None:
                raise ProtocolError(f"a valid status without a weight: {frame!r}")
        except ProtocolError as exc:
            self.node.count(ScaleCounter.GARBAGE)
            if not self._garbled:
                self.node.log.warning("the scale on %s sends garbage: %s", self.port, exc)
                self._garbled = True
            return None
        self.node.count(ScaleCounter.READINGS)
        return reading

    def offer(self, reading: Reading, now: float) -> None:
        self._heard, self._garbled = True, False
        if self._lost:
            self.node.log.info("the scale on %s is back", self.port)
            self._lost = False
        if self.changes.due(reading, now):
            self.publish(reading)

    def lose(self, reason: str) -> None:
        if self._lost:
            return
        self._lost = True
        self.node.count(ScaleCounter.SCALE_LOST)
        self.node.log.warning(
            "no scale on %s: %s; trying again, up to every %.0f s", self.port, reason, MAX_BACKOFF_S
        )
        self.changes.due(Reading(WeightStatus.NO_SCALE), time.monotonic())
        self.publish(Reading(WeightStatus.NO_SCALE))

    def publish(self, reading: Reading) -> None:
        kg = None if reading.weight_kg is None else round(reading.weight_kg, 4)
        weight = Weight(self.settings.station, kg, reading.stable, reading.status)
        self.node.publish(self.node.topics.weight, weight)
        self.node.count(ScaleCounter.PUBLISHED)


def main(settings: ScaleSettings) -> None:
    node = Node(NodeName.SCALE, settings)
    Scale(node, settings)
    node.run()
