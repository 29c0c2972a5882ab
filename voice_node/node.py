"""The voice node: speaks each speech request with espeak-ng through pygame."""

from __future__ import annotations

import hashlib
import time

from scantalk.contract import ContractError, SayRequest, Spoken
from scantalk.runtime import Delivery, Message, Node
from scantalk.settings import Settings
from voice_node.espeak import ENGINE, Espeak
from voice_node.player import Player

MAX_TEXT = 200
"""Characters; an announcement is a product name, not an essay."""


class Voice:
    def __init__(self, node: Node, settings: Settings) -> None:
        self.node, self.settings = node, settings
        self.engine = Espeak()
        self.cache = settings.data_dir / "audio-cache"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.player = Player(settings.data_dir)
        node.log.info("speaking with %s, audio driver %s", ENGINE, self.player.driver)
        # In order, on the subscription's own thread: playback never blocks the network thread.
        node.subscribe(node.topics.say, self.on_say, qos=1, delivery=Delivery.QUEUE)

    def on_say(self, message: Message) -> None:
        request = SayRequest.from_json(message.payload)
        text = request.text.strip()
        if not text or len(text) > MAX_TEXT:
            raise ContractError(f"say: text must be 1-{MAX_TEXT} characters, got {len(text)}")
        key = hashlib.sha256(f"{ENGINE}|{request.language}|{text}".encode()).hexdigest()[:32]
        wav = self.cache / f"{key}.wav"
        cache_hit = wav.exists()
        if not cache_hit:
            self.engine.synthesize(text, request.language, wav)
        latency_ms = (time.monotonic() - message.received) * 1000
        duration_ms = self.player.play(wav)
        self.node.count("spoken")
        self.node.publish(
            self.node.topics.spoken,
            Spoken(
                station=self.settings.station,
                text=text,
                engine=ENGINE,
                cache_hit=cache_hit,
                latency_ms=round(latency_ms, 1),
                duration_ms=round(duration_ms, 1),
                scan_id=request.scan_id,
            ),
        )


def main(settings: Settings) -> None:
    node = Node("voice", settings)
    voice = Voice(node, settings)
    try:
        node.run()
    finally:
        voice.player.close()
