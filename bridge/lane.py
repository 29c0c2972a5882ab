"""The bridge's second role: the lane's face towards Home Assistant and staff.

The bridge is the lane's link to the outside world, the one node every deployment runs, light
on CPU and holding the durable record store, so it also:
- publishes the station's Home Assistant discovery (at start, and whenever Home Assistant says
  `online` on its status topic);
- counts scans today (since local midnight) from the record store, so the count survives
  restarts and drops to 0 at midnight (`scans_today` in its stats);
- watches speech: a request on `…/voice/say` that nothing on `…/voice/spoken` follows within
  `OVERDUE_S` means shoppers are not hearing announcements while the voice may still read
  `online` (`speech_overdue`, and `announcements_failing` until the voice speaks again).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime
from datetime import time as clock

from bridge.outbox import Outbox
from bridge.settings import BridgeSettings
from scantalk.contract import ONLINE, SayRequest, Spoken
from scantalk.homeassistant import birth_topic, discovery
from scantalk.runtime import Message, Node

OVERDUE_S = 5.0
"""A request not followed by any speech within this is overdue: announcements take ~1 s."""


def local_midnight_utc() -> str:
    """Today's local midnight as RFC 3339 UTC, as the outbox writes its times."""
    midnight = datetime.combine(date.today(), clock()).astimezone()  # naive = local time
    return midnight.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LaneWatch:
    def __init__(self, node: Node, settings: BridgeSettings, outbox: Outbox) -> None:
        self.node, self.settings = node, settings
        self._lock = threading.Lock()
        self._waiting: dict[int, float] = {}
        """Speech requests not yet followed by speech: arrival (monotonic) by request number."""
        self._requests = 0
        self._recent_spoken: tuple[str, float] = ("", -1e9)
        node.gauge("announcements_failing", 0)
        node.count("speech_overdue", 0)  # shown as 0, not as unknown, until it happens
        node.measure("scans_today", lambda: outbox.count_since(local_midnight_utc()))
        # QoS 0: requests made while the bridge was away are not this watch's business.
        node.subscribe(node.topics.say, self.on_say)
        node.subscribe(node.topics.spoken, self.on_spoken)
        node.add_worker(self.check)
        self.configs = discovery(settings.station, settings.discovery_prefix)
        node.on_online(self.publish_discovery)
        node.subscribe(birth_topic(settings.discovery_prefix), self.on_homeassistant_status)

    def publish_discovery(self) -> None:
        for topic, config in self.configs.items():
            self.node.publish(topic, json.dumps(config).encode(), qos=1, retain=True)
        self.node.count("discovery_published")

    def on_homeassistant_status(self, message: Message) -> None:
        if message.payload.strip() == ONLINE:
            self.publish_discovery()

    def on_say(self, message: Message) -> None:
        request = SayRequest.from_json(message.payload)
        text, at = self._recent_spoken
        if request.text.strip() == text and message.received - at < OVERDUE_S:
            return  # the same words just said: the voice may rightly skip them (its cooldown)
        with self._lock:
            self._requests += 1
            self._waiting[self._requests] = message.received

    def on_spoken(self, message: Message) -> None:
        spoken = Spoken.from_json(message.payload)
        self._recent_spoken = (spoken.text, message.received)
        with self._lock:
            # Any speech after a request answers it: a newer item may rightly replace an older.
            self._waiting = {n: t for n, t in self._waiting.items() if t > message.received}
        if self.node.counters().get("announcements_failing"):
            self.node.gauge("announcements_failing", 0)
            self.node.log.info("the voice speaks again")
            self.node.stats_soon()

    def check(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            now = time.monotonic()
            with self._lock:
                overdue = [n for n, t in self._waiting.items() if now - t > OVERDUE_S]
                for n in overdue:
                    del self._waiting[n]
            if overdue:
                self.node.count("speech_overdue", len(overdue))
                self.node.gauge("announcements_failing", 1)
                self.node.log.error(
                    "%d speech request(s) not spoken within %.0f s: is the voice working?",
                    len(overdue), OVERDUE_S,
                )  # fmt: skip
                self.node.stats_soon()
