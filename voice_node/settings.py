"""The voice's settings: the shared ones, Azure Speech, and how it speaks."""

from __future__ import annotations

from dataclasses import dataclass

from scantalk.contract import VoiceConfig
from scantalk.settings import OPTIONAL, YES_NO, Number, Settings, setting


@dataclass(frozen=True)
class VoiceSettings(Settings):
    speech_key: str | None = setting(
        None, OPTIONAL, "Azure Speech key; unset: offline espeak-ng only", secret=True
    )
    speech_region: str | None = setting(None, OPTIONAL, "Azure Speech region, e.g. westeurope")
    speech_voice: str | None = setting(
        None, OPTIONAL, "Azure neural voice, e.g. en-GB-SoniaNeural; unset: the language's default"
    )
    speech_deadline: float = setting(
        1.5, Number(float, 0.001, 30), "seconds the cloud may take before espeak-ng speaks instead"
    )
    # Their ranges are the contract's (VoiceConfig), which live changes and the schema share.
    speech_rate: float = setting(
        1.0, Number(float, *VoiceConfig.bounds("rate")), "speaking rate, 1.0 is normal"
    )
    speech_volume: int = setting(
        100, Number(int, *map(int, VoiceConfig.bounds("volume"))), "speaking volume, percent"
    )
    voice_cooldown: float = setting(
        2.0,
        Number(float, *VoiceConfig.bounds("cooldown")),
        "seconds in which the same words are not said twice in a row",
    )
    audio_cache_mb: float = setting(50.0, Number(float, 1), "audio cache size bound, MB")
    say_startup: bool = setting(True, YES_NO, "say a short phrase when the voice is ready")
    say_rate: float = setting(
        4.0,
        Number(float, 0.1, 100),
        "speech requests (and repeat presses) taken per second on average; more are dropped",
    )
    say_burst: int = setting(
        4, Number(int, 1, 100), "speech requests taken at once, above SCANTALK_SAY_RATE"
    )
