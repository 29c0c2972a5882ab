"""From words to a WAV: the audio cache first, then Azure Speech within a deadline, and
espeak-ng whenever the cloud is not configured, fails, or is too slow: never silence."""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scantalk.counters import VoiceCounter
from voice_node.azure_speech import AzureSpeech
from voice_node.cache import AudioCache
from voice_node.espeak import Espeak, SynthesisError
from voice_node.settings import VoiceSettings

CLOUD_PAUSE_S = 60
"""After a cloud failure, speak offline for this long before trying the cloud again."""

log = logging.getLogger("scantalk.voice")


@dataclass(frozen=True)
class Audio:
    wav: Path
    engine: str
    cache_hit: bool


class Speech:
    def __init__(self, settings: VoiceSettings, count: Callable[[VoiceCounter], None]) -> None:
        self.count = count
        self.offline = Espeak(settings.speech_rate, settings.speech_volume)
        self.cloud: AzureSpeech | None = None
        if settings.speech_key and settings.speech_region:
            self.cloud = AzureSpeech(
                settings.speech_key, settings.speech_region, settings.speech_voice,
                settings.speech_rate, settings.speech_volume,
            )  # fmt: skip
        self.deadline = settings.speech_deadline
        self.cache = AudioCache(
            settings.data_dir / "audio-cache", int(settings.audio_cache_mb * 1e6)
        )
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="cloud"
        )
        self._cloud_paused_until = 0.0

    def set_prosody(self, rate: float, volume: int) -> None:
        """Speak at another rate and volume from now on (part of each voice's cache key, so
        audio cached at the old ones is not played)."""
        self.offline.set_prosody(rate, volume)
        if self.cloud:
            self.cloud.rate, self.cloud.volume = rate, volume

    @property
    def engines(self) -> str:
        return (
            f"{self.cloud.name}, falling back to {self.offline.name}"
            if self.cloud
            else self.offline.name
        )

    def speaks(self, language: str) -> bool:
        return self.offline.speaks(language)

    def audio(self, text: str, language: str) -> Audio:
        if self.cloud:
            key = self.cache.key(self.cloud.name, self.cloud.voice_id(language), language, text)
            if cached := self.cache.get(key):
                return Audio(cached, self.cloud.name, cache_hit=True)
            if time.monotonic() >= self._cloud_paused_until and (
                wav := self._from_cloud(key, text, language)
            ):
                return Audio(wav, self.cloud.name, cache_hit=False)
        key = self.cache.key(self.offline.name, self.offline.voice_id(language), language, text)
        if cached := self.cache.get(key):
            return Audio(cached, self.offline.name, cache_hit=True)
        staged = self.cache.staging(key)
        try:
            self.offline.synthesize(text, language, staged)
        except SynthesisError:
            staged.unlink(missing_ok=True)
            raise
        self.count(VoiceCounter.SYNTHESIZED)
        return Audio(self.cache.put(key, staged), self.offline.name, cache_hit=False)

    def _from_cloud(self, key: str, text: str, language: str) -> Path | None:
        assert self.cloud
        staged = self.cache.staging(key)
        future = self._pool.submit(self.cloud.synthesize, text, language, staged)
        try:
            future.result(timeout=self.deadline)
        except concurrent.futures.TimeoutError:
            self.count(VoiceCounter.CLOUD_TIMEOUTS)
            self._pause_cloud(f"slower than {self.deadline:.2f} s")
            future.add_done_callback(lambda f: self._late(f, key, staged))
            return None
        except Exception as exc:
            self.count(VoiceCounter.CLOUD_FAILURES)
            self._pause_cloud(str(exc))
            staged.unlink(missing_ok=True)
            return None
        self.count(VoiceCounter.SYNTHESIZED)
        return self.cache.put(key, staged)

    def _pause_cloud(self, why: str) -> None:
        self._cloud_paused_until = time.monotonic() + CLOUD_PAUSE_S
        log.warning("Azure Speech %s; espeak-ng speaks for the next %d s", why, CLOUD_PAUSE_S)

    def _late(self, future: concurrent.futures.Future, key: str, staged: Path) -> None:
        """A cloud answer after the deadline: kept for next time, or cleaned up."""
        if future.exception() is None:
            self.cache.put(key, staged)
        else:
            staged.unlink(missing_ok=True)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
