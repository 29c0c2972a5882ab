"""Audio playback with pygame's mixer.

On a machine without a sound card the mixer falls back to SDL's `disk` driver, which writes
what it plays as raw samples (16-bit signed, mono, 22050 Hz) to `<data dir>/speaker.raw`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame

RATE, CHANNELS = 22050, 1
"""espeak-ng's own format, so nothing is resampled."""

log = logging.getLogger(__name__)


class Player:
    def __init__(self, data_dir: Path) -> None:
        try:
            pygame.mixer.init(frequency=RATE, size=-16, channels=CHANNELS)
        except pygame.error as exc:
            out = data_dir / "speaker.raw"
            log.warning("no audio device (%s): writing audio to %s instead", exc, out)
            os.environ["SDL_AUDIODRIVER"] = "disk"
            os.environ["SDL_DISKAUDIOFILE"] = str(out)
            pygame.mixer.init(frequency=RATE, size=-16, channels=CHANNELS)
        self.driver = os.environ.get("SDL_AUDIODRIVER", "default")

    def play(self, wav: Path) -> float:
        """Play a WAV to the end; returns how long it played, in milliseconds."""
        sound = pygame.mixer.Sound(str(wav))
        started = time.perf_counter()
        channel = sound.play()
        while channel.get_busy():
            time.sleep(0.01)
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        pygame.mixer.quit()
