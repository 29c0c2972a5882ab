"""The voice node: speaks speech requests, from the audio cache, Azure Speech or espeak-ng."""

from __future__ import annotations

import threading
import time

from scantalk.contract import (
    ContractError,
    Earcon,
    NodeName,
    SayKind,
    SayRequest,
    Spoken,
    VoiceConfig,
)
from scantalk.counters import VoiceCounter
from scantalk.phrases import render
from scantalk.runtime import HUNG_S, Delivery, Message, Node, Refused
from scantalk.settings import SettingError
from voice_node.earcons import earcon_wav
from voice_node.playback import Player, Utterance
from voice_node.settings import VoiceSettings
from voice_node.speech import Speech

REPEAT_WITHIN_S = 60
""""Repeat" says the last words only this long after them: later, they are about an earlier
shopper's item, and the voice says there is nothing to repeat."""


class TokenBucket:
    """At most `rate` takes per second on average, `burst` at once; thread-safe."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._last: float | None = None
        self._lock = threading.Lock()

    def take(self, now: float) -> bool:
        """Take one token at `now` (`time.monotonic()`); False when there is none left."""
        with self._lock:
            if self._last is not None:  # two threads may bring times slightly out of order
                self._tokens += max(0.0, now - self._last) * self.rate
                self._tokens = min(float(self.burst), self._tokens)
            self._last = now if self._last is None else max(now, self._last)
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class Voice:
    def __init__(self, node: Node, settings: VoiceSettings) -> None:
        self.node, self.settings = node, settings
        self.speech = Speech(settings, node.count)
        if not self.speech.speaks(settings.language):
            raise SettingError(
                "SCANTALK_LANGUAGE", settings.language, "a language espeak-ng speaks"
            )
        self.player = Player(settings.data_dir, settings.voice_cooldown, node.count)
        self.earcons = {e: earcon_wav(e, settings.data_dir / "earcons") for e in Earcon}
        self.last_words: tuple[SayRequest, float] | None = None
        """The last item, prompt or question asked for, and when: what "repeat that" says
        again."""
        self.limit = TokenBucket(settings.say_rate, settings.say_burst)
        """Anyone on the bus may ask: a flood must not make the lane chatter, nor churn the
        audio cache. Say requests and repeat presses take from the same bucket."""
        self._asking = threading.Lock()
        """`say` and `repeat` arrive on two threads: one at a time, so a press never
        replaces a newer item with an older one."""
        node.log.info("speaking with %s; audio driver %s", self.speech.engines, self.player.driver)
        node.add_worker(self.player.run)
        if settings.say_startup:
            node.add_worker(self.say_startup)
        # In order, on the subscription's own thread; playback has its own thread.
        node.subscribe(node.topics.say, self.on_say, delivery=Delivery.QUEUE)
        node.subscribe(node.topics.repeat, self.on_repeat, delivery=Delivery.QUEUE)
        node.subscribe(node.topics.voice_config, self.on_config)
        self.rate, self.volume = settings.speech_rate, settings.speech_volume
        node.on_online(self.publish_config)

    def on_say(self, message: Message) -> None:
        request = SayRequest.from_json(message.payload)
        Refused.check_station(request.station, message.topic, "say")
        text = request.text.strip()
        if not self.speech.speaks(request.language):
            raise ContractError(f"say: no voice for language {request.language!r}")
        if not self.fresh(request, message.received):
            return
        if not self.limit.take(message.received):
            self.node.count(VoiceCounter.SAY_LIMITED)
            return
        with self._asking:
            if request.kind is SayKind.EARCON:
                self.chime(Earcon(text), message.received)
                return
            if request.kind is not SayKind.NOTICE:
                # After "not sure", repeating the item before it would name the wrong item.
                self.last_words = (request, message.received)
            self.speak(text, request.language, request.kind, request.scan_id, message.received)

    def fresh(self, request: SayRequest, received: float) -> bool:
        """Whether a request is recent enough to say (`SayRequest.unsaid_because`); counted
        as `stale` or `say_future` if not, and a clock far ahead is logged, so someone sets up
        NTP."""
        why = request.unsaid_because(time.monotonic() - received)
        reason = None if why is None else VoiceCounter(why)  # `say_future` or `stale`
        if reason is VoiceCounter.SAY_FUTURE:
            self.node.log.warning(
                "say dated %.0f s ahead of this clock: not said; are the lane's clocks synced?",
                -request.age_s(),
            )
        if reason:
            self.node.count(reason)
        return reason is None

    def on_config(self, message: Message) -> None:
        """Rate, volume and cooldown, changed live (the lane's twin): whole or not at all."""
        try:
            change = VoiceConfig.from_json(message.payload)
            parse = VoiceSettings.parse_value
            rate = self.rate if change.rate is None else parse("speech_rate", change.rate)
            volume = self.volume if change.volume is None else parse("speech_volume", change.volume)
            cooldown = (self.player.cooldown_s if change.cooldown is None
                        else parse("voice_cooldown", change.cooldown))  # fmt: skip
        except (ContractError, SettingError) as exc:
            request_id = VoiceConfig.text_of(message.payload, "request_id") or None
            self.publish_config(error=str(exc), request_id=request_id)
            raise Refused(f"voice config refused: {exc}", Refused.CONFIG) from exc
        self.rate, self.volume, self.player.cooldown_s = rate, volume, cooldown
        self.speech.set_prosody(rate, volume)
        self.node.log.info("rate %s, volume %s, cooldown %s s", rate, volume, cooldown)
        self.publish_config(request_id=change.request_id)

    def publish_config(self, error: str | None = None, request_id: str | None = None) -> None:
        state = VoiceConfig(self.rate, self.volume, self.player.cooldown_s, error, request_id)
        self.node.publish(self.node.topics.voice_config_state, state)

    def on_repeat(self, message: Message) -> None:
        """A shopper pressed "repeat": the last item (or "not sure") again, at once, cooldown or
        not (a retained press never comes here: the runtime refuses a retained command).
        Presses take from the same rate limit as say requests."""
        if not self.limit.take(message.received):
            self.node.count(VoiceCounter.SAY_LIMITED)
            return
        with self._asking:
            if self.last_words and message.received - self.last_words[1] < REPEAT_WITHIN_S:
                last = self.last_words[0]
                self.node.count(VoiceCounter.REPEATS)
                # A question is asked again as a question; anything else comes at once.
                kind = SayKind.QUESTION if last.kind is SayKind.QUESTION else SayKind.ITEM
                self.speak(
                    last.text.strip(), last.language, kind, last.scan_id,
                    message.received, repeat=True,
                )  # fmt: skip
                return
            self.node.count(VoiceCounter.REPEAT_NOTHING)
            # The lane's language may have changed live: the last request knows it.
            language = self.last_words[0].language if self.last_words else self.settings.language
            self.speak(render("nothing", language), language, SayKind.PROMPT, None,
                       message.received, repeat=True)  # fmt: skip

    def speak(
        self,
        text: str,
        language: str,
        kind: SayKind,
        scan_id: str | None,
        received: float,
        repeat: bool = False,
    ) -> None:
        audio = self.speech.audio(text, language)

        def done(latency_ms: float, duration_ms: float, interrupted: bool) -> None:
            self.node.count(VoiceCounter.INTERRUPTED if interrupted else VoiceCounter.SPOKEN)
            spoken = Spoken(
                station=self.settings.station, text=text, engine=audio.engine,
                cache_hit=audio.cache_hit, latency_ms=round(latency_ms, 1),
                duration_ms=round(duration_ms, 1), scan_id=scan_id, interrupted=interrupted,
            )  # fmt: skip
            self.node.publish(self.node.topics.spoken, spoken)

        lead = self.earcons[Earcon.QUESTION] if kind is SayKind.QUESTION else None
        utterance = Utterance(audio.wav, text, kind, received, done, lead, scan_id)
        if not self.player.submit(utterance, repeat):
            self.node.count(VoiceCounter.COOLDOWN)
            self.node.log.info("not repeating %r within the cooldown", text)

    def chime(self, earcon: Earcon, received: float) -> None:
        """An earcon: played at once; its `spoken` (engine `earcon`, the earcon's name as
        text) tells when the shopper heard that the lane saw something."""

        def done(latency_ms: float, duration_ms: float, _interrupted: bool) -> None:
            self.node.count(VoiceCounter.EARCONS)
            spoken = Spoken(
                station=self.settings.station, text=earcon, engine="earcon", cache_hit=True,
                latency_ms=round(latency_ms, 1), duration_ms=round(duration_ms, 1),
            )  # fmt: skip
            self.node.publish(self.node.topics.spoken, spoken)

        self.player.submit(Utterance(self.earcons[earcon], earcon, SayKind.EARCON, received, done))

    def say_startup(self, _stop: threading.Event) -> None:
        language = self.settings.language
        self.speak(render("startup", language), language, SayKind.NOTICE, None, time.monotonic())


def main(settings: VoiceSettings) -> None:
    # A cloud voice may take its whole deadline on one request: that is not stuck.
    node = Node(NodeName.VOICE, settings, hung_after_s=max(HUNG_S, settings.speech_deadline + 5))
    voice = Voice(node, settings)
    try:
        node.run()
    finally:
        voice.speech.close()
