"""Offline speech synthesis with espeak-ng, into WAV files: always there, never silent."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from scantalk.phrases import base_language

NORMAL_WPM = 175


class SynthesisError(RuntimeError):
    """An engine could not speak this text."""


class Espeak:
    name = "espeak-ng"

    def __init__(self, rate: float = 1.0, volume: int = 100) -> None:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise SynthesisError("espeak-ng is not installed: apt-get install espeak-ng")
        self.exe = exe
        self.set_prosody(rate, volume)

    def set_prosody(self, rate: float, volume: int) -> None:
        self.wpm, self.amplitude = round(NORMAL_WPM * rate), volume

    def voice_id(self, language: str) -> str:
        """What, besides the text, decides the sound: part of the audio cache key."""
        return f"{language}/{self.wpm}wpm/a{self.amplitude}"

    @functools.cached_property
    def languages(self) -> frozenset[str]:
        listing = subprocess.run(
            [self.exe, "--voices"], capture_output=True, text=True, check=True
        ).stdout
        return frozenset(
            line.split()[1].lower() for line in listing.splitlines()[1:] if line.strip()
        )

    def speaks(self, language: str) -> bool:
        base = base_language(language)
        return language.lower() in self.languages or any(
            base_language(v) == base for v in self.languages
        )

    def synthesize(self, text: str, language: str, out: Path) -> None:
        """Write `text` spoken in `language` to the WAV file `out`."""
        result = subprocess.run(
            [self.exe, "-v", language, "-s", str(self.wpm), "-a", str(self.amplitude),
             "-w", str(out), "--", text],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if result.returncode != 0 or not out.exists() or out.stat().st_size <= 44:
            raise SynthesisError(
                f"espeak-ng failed for language {language!r}: {result.stderr.strip()}"
            )
