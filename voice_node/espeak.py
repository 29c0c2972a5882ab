"""Offline speech synthesis with espeak-ng, into WAV files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ENGINE = "espeak-ng"


class SynthesisError(RuntimeError):
    """The engine could not speak this text."""


class Espeak:
    def __init__(self) -> None:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise SynthesisError("espeak-ng is not installed: apt-get install espeak-ng")
        self.exe = exe

    def synthesize(self, text: str, language: str, out: Path) -> None:
        """Write `text` spoken in `language` to the WAV file `out`."""
        tmp = out.with_suffix(".part")
        result = subprocess.run(
            [self.exe, "-v", language, "-w", str(tmp), "--", text],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0 or not tmp.exists() or tmp.stat().st_size <= 44:
            tmp.unlink(missing_ok=True)
            raise SynthesisError(
                f"espeak-ng failed for language {language!r}: {result.stderr.strip()}"
            )
        tmp.replace(out)  # whole files only: a crash never leaves half a WAV in the cache
