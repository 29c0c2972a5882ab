"""The voice node: speaks speech requests, from the audio cache, Azure Speech or espeak-ng."""

from __future__ import annotations

import threading
import time

from scantalk.contract import ContractError, NodeName, SayKind, SayRequest, Spoken
from scantalk.phrases import render
from scantalk.runtime import HUNG_S, Delivery, Message, Node
from scantalk.settings import SettingError
from voice_node.playback import Player, Utterance
from voice_node.settings import VoiceSettings
from voice_node.speech import Speech

MAX_AGE_S = 10
"""A request that waited longer than this is about an item long gone: not said."""
REPEAT_WITHIN_S = 60
""""Repeat" says the last words only this long after them: later, they are about an earlier
shopper's item, and the voice says there is nothing to repeat."""


class Voice:
    def __init__(self, node: Node, settings: VoiceSettings) -> None:
        self.node, self.settings = node, settings
        self.speech = Speech(settings, node.count)
        if not self.speech.speaks(settings.language):
            raise SettingError(
                "SCANTALK_LANGUAGE", settings.language, "a language espeak-ng speaks"
            )
        self.player = Player(settings.data_dir, settings.voice_cooldown, node.count)
        self.last_words: tuple[SayRequest, float] | None = None
        """The last item or prompt asked for, and when: what "repeat that" says again."""
        self._asking = threading.Lock()
        """`say` and `repeat` arrive on two threads: one at a time, so a press never
        replaces a newer item with an older one."""
        node.log.info("speaking with %s; audio driver %s", self.speech.engines, self.player.driver)
        node.add_worker(self.player.run)
        if settings.say_startup:
            node.add_worker(self.say_startup)
        # In order, on the subscription's own thread; playback has its own thread.
        node.subscribe(node.topics.say, self.on_say, qos=1, delivery=Delivery.QUEUE)
        node.subscribe(node.topics.repeat, self.on_repeat, qos=1, delivery=Delivery.QUEUE)

    def on_say(self, message: Message) -> None:
        request = SayRequest.from_json(message.payload)
        text = request.text.strip()
        if not self.speech.speaks(request.language):
            raise ContractError(f"say: no voice for language {request.language!r}")
        if time.monotonic() - message.received > MAX_AGE_S:
            self.node.count("stale")
            return
        with self._asking:
            if request.kind is not SayKind.NOTICE:
                # After "not sure", repeating the item before it would name the wrong item.
                self.last_words = (request, message.received)
            self.speak(text, request.language, request.kind, request.scan_id, message.received)

    def on_repeat(self, message: Message) -> None:
        """A shopper pressed "repeat": the last item (or "not sure") again, at once, cooldown or
        not. A retained press is an old one (it would repeat at every start): ignored."""
        if message.retain:
            self.node.count("repeat_retained")
            return
        with self._asking:
            if self.last_words and message.received - self.last_words[1] < REPEAT_WITHIN_S:
                last = self.last_words[0]
                self.node.count("repeats")
                self.speak(
                    last.text.strip(), last.language, SayKind.ITEM, last.scan_id,
                    message.received, repeat=True,
                )  # fmt: skip
                return
            self.node.count("repeat_nothing")
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
            self.node.count("interrupted" if interrupted else "spoken")
            spoken = Spoken(
                station=self.settings.station, text=text, engine=audio.engine,
                cache_hit=audio.cache_hit, latency_ms=round(latency_ms, 1),
                duration_ms=round(duration_ms, 1), scan_id=scan_id, interrupted=interrupted,
            )  # fmt: skip
            self.node.publish(self.node.topics.spoken, spoken)

        if not self.player.submit(Utterance(audio.wav, text, kind, received, done), repeat):
            self.node.count("cooldown")
            self.node.log.info("not repeating %r within the cooldown", text)

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
