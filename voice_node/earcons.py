"""The lane's earcons: short tones, not words, written once as WAV files in the data dir.

- `detected`: one short high tick. Something is on the scale, its name may follow.
- `question`: two rising tones. A question follows, so the shopper knows to answer.

Tones rather than recorded sounds: nothing to ship or license, and they are the same at every
lane. Both are quieter than speech and shorter than a syllable, so they never hide a name.
"""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path

from scantalk.contract import Earcon
from voice_node.playback import RATE

TONES: dict[Earcon, tuple[tuple[float, float], ...]] = {
    Earcon.DETECTED: ((1320.0, 0.05),),
    Earcon.QUESTION: ((660.0, 0.08), (990.0, 0.11)),
}
"""Each earcon's tones: (Hz, seconds), one after the other."""
LOUDNESS = 0.35
"""Of full scale: below espeak-ng's speech."""
FADE_S = 0.005
"""Each tone fades in and out, so it does not click."""


def samples(earcon: Earcon) -> array:
    """The earcon as 16-bit mono samples at the voice's rate (a few thousand: the standard
    library suffices, and the voice needs no numpy)."""
    out = array("h")
    for hertz, seconds in TONES[earcon]:
        for i in range(int(RATE * seconds)):
            t = i / RATE
            envelope = min(1.0, t / FADE_S, (seconds - t) / FADE_S)
            out.append(round(math.sin(2 * math.pi * hertz * t) * envelope * LOUDNESS * 32767))
    return out


def earcon_wav(earcon: Earcon, folder: Path) -> Path:
    """The earcon's WAV in `folder`, written if missing (atomically: two voices may share it)."""
    path = folder / f"earcon-{earcon}.wav"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        staged = path.with_suffix(".tmp")
        with wave.open(str(staged), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(samples(earcon).tobytes())  # native order: little-endian
            # on amd64 and arm64, as WAV wants
        staged.replace(path)
    return path
