"""The bridge's second role: the lane's face towards staff and Home Assistant.

The bridge is the lane's link to the outside world, the one node every deployment runs, light
on CPU and holding the durable record store, so it also:
- watches speech from outside the voice: a request on `…/voice/say` that is not spoken within
  `OVERDUE_S` means shoppers are not hearing announcements, though the voice may read `online`
  (`speech_overdue`, and `announcements_failing` until the voice speaks again);
- counts scans today (since midnight where the store is) from the record store, so the count
  survives restarts (`scans_today` in its stats);
- publishes the station's Home Assistant discovery, at each connection and whenever Home
  Assistant says `online` on its status topic.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from datetime import time as clock

from bridge.homeassistant import birth_topic, discovery
from bridge.outbox import Outbox
from bridge.settings import BridgeSettings
from scantalk.contract import ONLINE, SayRequest, Spoken
from scantalk.counters import BridgeCounter
from scantalk.runtime import Message, Node

OVERDUE_S = 5.0
"""A request not spoken within this is overdue: an announcement starts within ~0.2 s."""


def midnight_utc(zone: tzinfo | None, now: datetime | None = None) -> str:
    """The last midnight in `zone` (None: this machine's local time), as RFC 3339 UTC, the
    way the outbox writes its times."""
    local = (now or datetime.now(UTC)).astimezone(zone)
    midnight = datetime.combine(local.date(), clock(), tzinfo=local.tzinfo)
    return midnight.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Asked:
    at: float
    text: str
    scan_id: str | None


class SpeechWatch:
    """Speech requests held against what the voice says (times are `time.monotonic()`)."""

    def __init__(self, overdue_s: float = OVERDUE_S) -> None:
        self.overdue_s = overdue_s
        self.failing = False
        self._waiting: list[_Asked] = []
        self._last_asked: dict[str, float] = {}
        self._lock = threading.Lock()

    def asked(self, request: SayRequest, at: float, waited_s: float) -> None:
        """A request heard at `at`, `waited_s` after it arrived: watched unless the voice
        rightly does not say it."""
        if request.unsaid_because(waited_s):
            return
        text = request.text.strip()
        with self._lock:
            window = SayRequest.REPEAT_WINDOW_S
            self._last_asked = {t: a for t, a in self._last_asked.items() if at - a < window}
            repeated = text in self._last_asked
            self._last_asked[text] = at
            if not repeated:  # the same words again may rightly be skipped (the voice's cooldown)
                self._waiting.append(_Asked(at, text, request.scan_id))

    def spoken(self, spoken: Spoken) -> bool:
        """What the voice said answers its request and every older one (which it replaced or
        cut short); True when this ends a failure."""
        with self._lock:
            for i in reversed(range(len(self._waiting))):
                asked = self._waiting[i]
                if (asked.scan_id, asked.text) == (spoken.scan_id, spoken.text):
                    del self._waiting[: i + 1]
                    break
            recovered, self.failing = self.failing, False
        return recovered

    def overdue(self, now: float) -> int:
        """Requests waiting longer than `overdue_s`, forgotten once counted."""
        with self._lock:
            late = sum(1 for asked in self._waiting if now - asked.at > self.overdue_s)
            self._waiting = [a for a in self._waiting if now - a.at <= self.overdue_s]
            self.failing = self.failing or late > 0
        return late


DISCOVERY_EVERY_S = 10.0
"""Home Assistant subscribes within a second of its birth; restarts closer than this are one."""


class LaneWatch:
    def __init__(self, node: Node, settings: BridgeSettings, outbox: Outbox) -> None:
        self.node, self.settings = node, settings
        self.speech = SpeechWatch()
        node.measure(BridgeCounter.ANNOUNCEMENTS_FAILING, lambda: int(self.speech.failing))
        node.count(BridgeCounter.SPEECH_OVERDUE, 0)  # shown as 0, not as unknown, until it happens
        node.measure(
            BridgeCounter.SCANS_TODAY, lambda: outbox.count_since(midnight_utc(settings.timezone))
        )
        # QoS 0: requests made while the bridge was away are not this watch's business.
        node.subscribe(node.topics.say, self.on_say)
        node.subscribe(node.topics.spoken, self.on_spoken)
        node.add_worker(self.check)
        if settings.homeassistant:
            self.configs = discovery(settings.station, settings.discovery_prefix)
            self.births = threading.Event()
            node.on_online(self.publish_discovery)
            node.subscribe(birth_topic(settings.discovery_prefix), self.on_homeassistant_status)
            node.add_worker(self.answer_births)

    def publish_discovery(self) -> None:
        for topic, config in self.configs.items():
            self.node.publish(topic, json.dumps(config).encode())
        self.node.count(BridgeCounter.DISCOVERY_PUBLISHED)

    def on_homeassistant_status(self, message: Message) -> None:
        if message.payload.strip() == ONLINE:
            self.births.set()
            self.node.count(BridgeCounter.HOMEASSISTANT_BIRTHS)

    def answer_births(self, stop: threading.Event) -> None:
        """Publish the configs again after Home Assistant's birth, at most once every
        `DISCOVERY_EVERY_S`: births in between are answered together at its end. Anyone who
        may send a birth must not make the broker rewrite 26 retained configs per message."""
        while not stop.is_set():
            if self.births.wait(0.5):
                self.births.clear()
                self.publish_discovery()
                stop.wait(DISCOVERY_EVERY_S)

    def on_say(self, message: Message) -> None:
        request = SayRequest.from_json(message.payload)
        # What the voice rightly never says is not watched: an old press left retained, a
        # request for another lane, one dated long ago.
        if message.retain or request.station != self.settings.station:
            return
        self.speech.asked(request, message.received, time.monotonic() - message.received)

    def on_spoken(self, message: Message) -> None:
        if self.speech.spoken(Spoken.from_json(message.payload)):
            self.node.log.info("the voice speaks again")
            self.node.stats_soon()

    def check(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            late = self.speech.overdue(time.monotonic())
            if late:
                self.node.count(BridgeCounter.SPEECH_OVERDUE, late)
                self.node.log.error(
                    "%d speech request(s) not spoken within %.0f s: is the voice working?",
                    late, OVERDUE_S,
                )  # fmt: skip
                self.node.stats_soon()
