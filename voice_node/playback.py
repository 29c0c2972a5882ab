"""Playback in its own thread with pygame's mixer, so speaking never blocks anything else.

Policy for a request that arrives while something is being said:
- an item announcement (a newer scan) interrupts what is playing: the shopper hears the item
  now on the scale, not the one before it;
- a prompt or notice waits for the current sound to end;
- of several waiting, only the newest is kept;
- the same request is not said twice in a row within the cooldown (the same words for the same
  scan, or the same prompt); a new scan is always said, even of the same item a second later;
- an item interrupts a prompt or another item, never the greeting (a notice), which is short;
- an earcon is played at once, on its own channel over any words, never waits, never
  interrupts and is never held back by the cooldown: it only says "the lane saw something";
- a question is played after its `lead` (the question earcon), as one sound.

On a machine without a sound card the mixer uses SDL's `disk` driver, which writes what it
plays as raw samples (16-bit signed, mono, 22050 Hz) to `<data dir>/speaker.raw`; one log line
says so, instead of ALSA's complaints and SDL's banner.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame

from scantalk.contract import SayKind
from scantalk.counters import VoiceCounter

RATE, CHANNELS = 22050, 1
"""espeak-ng's own format (and the one Azure Speech is asked for), so nothing is resampled."""
WORDS, CHIMES = 0, 1
"""The mixer's channels: words on one, earcons on the other, so an earcon never cuts words."""
SOUNDS_IN_MEMORY = 64
IDLE_CLOSE_S = 3.0
"""Seconds of silence after which the disk audio device is closed."""

SDL_LOG_CATEGORY_AUDIO, SDL_NUM_LOG_PRIORITIES = 4, 7

log = logging.getLogger("scantalk.voice")


def _open_mixer() -> None:
    pygame.mixer.init(frequency=RATE, size=-16, channels=CHANNELS)


def _has_sound_device() -> bool:
    """A sound card, or a sound server to talk to; without either, trying only makes noise."""
    return Path("/dev/snd").is_dir() or "PULSE_SERVER" in os.environ


def _use_disk(out: Path) -> None:
    os.environ["SDL_AUDIODRIVER"] = "disk"
    os.environ["SDL_DISKAUDIOFILE"] = str(out)
    # SDL's disk driver prints a CRITICAL banner each time it opens (after every silence): the
    # log line above says it once. SDL has no setting for this, so ask the SDL pygame uses: the
    # one its wheel bundles, else the system's.
    bundled = sorted((Path(pygame.__file__).parent.parent / "pygame.libs").glob("libSDL2-*.so*"))
    for library in [*map(str, bundled), ctypes.util.find_library("SDL2")]:
        if library:
            try:
                sdl = ctypes.CDLL(library)
                sdl.SDL_LogSetPriority(SDL_LOG_CATEGORY_AUDIO, SDL_NUM_LOG_PRIORITIES)
                return
            except (OSError, AttributeError) as exc:
                log.debug("could not quieten SDL through %s: %s", library, exc)
    log.debug("SDL not found: its disk driver will print a banner at each use")


@dataclass(frozen=True)
class Utterance:
    wav: Path
    text: str
    kind: SayKind
    received: float
    """`time.monotonic()` when the request arrived."""
    done: Callable[[float, float, bool], None]
    """Called with latency to first audio (ms), playing time (ms), and whether it was cut short."""
    lead: Path | None = None
    """Played just before `wav` (a question's earcon)."""
    scan_id: str | None = None
    """The scan it announces: another scan is another announcement, whatever its words."""


class Player:
    def __init__(
        self, data_dir: Path, cooldown_s: float, count: Callable[[VoiceCounter], None]
    ) -> None:
        self.cooldown_s, self.count = cooldown_s, count
        out = data_dir / "speaker.raw"
        if os.environ.get("SDL_AUDIODRIVER") == "disk":
            _use_disk(Path(os.environ.get("SDL_DISKAUDIOFILE", out)))
        elif "SDL_AUDIODRIVER" not in os.environ and not _has_sound_device():
            log.warning("no sound card: audio goes to %s (raw 16-bit mono, %d Hz)", out, RATE)
            _use_disk(out)
        try:
            _open_mixer()
        except pygame.error as exc:
            log.warning("no audio device (%s): audio goes to %s instead", exc, out)
            _use_disk(out)
            _open_mixer()
        self.driver = os.environ.get("SDL_AUDIODRIVER", "default")
        # SDL's disk driver writes silence for as long as the device is open (43 kB/s): close it
        # when idle, so the file holds the last words said and never fills the disk.
        self.on_demand = self.driver == "disk"
        self._idle_since = time.monotonic()
        self._sounds: OrderedDict[Path, pygame.mixer.Sound] = OrderedDict()
        self._cond = threading.Condition()
        self._waiting: Utterance | None = None
        self._chime: Utterance | None = None
        """An earcon to play at once (the newest, if two came while the thread was busy)."""
        self._playing: Utterance | None = None
        self._interrupt = threading.Event()
        self._last: tuple[str, str | None] = ("", None)
        """Words and scan of the last request queued."""
        self._last_submitted = -1e9

    def submit(self, utterance: Utterance, repeat: bool = False) -> bool:
        """Queue words to say; False when they repeat the last ones within the cooldown, unless
        the shopper asked for them again (`repeat`)."""
        with self._cond:
            if utterance.kind is SayKind.EARCON:
                self._chime = utterance
                self._cond.notify()
                return True
            now = time.monotonic()
            recent = now - self._last_submitted < self.cooldown_s
            request = (utterance.text, utterance.scan_id)
            if request == self._last and recent and not repeat:
                return False
            self._last, self._last_submitted = request, now
            if self._waiting is not None:
                self.count(VoiceCounter.SUPERSEDED)
                if self._waiting.kind is SayKind.ITEM and utterance.kind is not SayKind.ITEM:
                    return True  # a prompt never displaces an item waiting to be said
            self._waiting = utterance
            playing = self._playing
            if utterance.kind is SayKind.ITEM and playing and playing.kind is not SayKind.NOTICE:
                self._interrupt.set()
            self._cond.notify()
        return True

    def run(self, stop: threading.Event) -> None:
        """The playback thread: a node worker."""
        while not stop.is_set():
            with self._cond:
                chime, self._chime = self._chime, None
            if chime is not None:
                self._play_chime(chime)
            with self._cond:
                if self._chime is not None:
                    continue
                if self._waiting is None:
                    self._cond.wait(0.2)
                    if self.on_demand and time.monotonic() - self._idle_since > IDLE_CLOSE_S:
                        self._close_mixer()
                    continue
                utterance, self._waiting = self._waiting, None
                self._playing = utterance
                self._interrupt.clear()
            try:
                self._play(utterance, stop)
            except (pygame.error, OSError) as exc:  # e.g. a cache file gone or damaged
                self.count(VoiceCounter.PLAY_ERRORS)
                log.warning("could not play %s: %s", utterance.wav, exc)
            with self._cond:
                self._playing = None
        self._close_mixer()

    def _close_mixer(self) -> None:
        if pygame.mixer.get_init():
            pygame.mixer.quit()
            self._sounds.clear()  # sounds belong to the mixer they were loaded in

    def _play(self, utterance: Utterance, stop: threading.Event) -> None:
        if not pygame.mixer.get_init():
            _open_mixer()
        try:
            self._play_on_mixer(utterance, stop)
        finally:
            self._idle_since = time.monotonic()

    def _play_on_mixer(self, utterance: Utterance, stop: threading.Event) -> None:
        sound = self._sound(utterance.wav)
        channel = pygame.mixer.Channel(WORDS)
        if utterance.lead is not None:
            channel.play(self._sound(utterance.lead))
            channel.queue(sound)
        else:
            channel.play(sound)
        started = time.monotonic()
        latency_ms = (started - utterance.received) * 1000
        interrupted = False
        while channel.get_busy():
            if self._interrupt.is_set() or stop.is_set():
                channel.stop()
                interrupted = True
                break
            with self._cond:
                chime, self._chime = self._chime, None
            if chime is not None:
                self._play_chime(chime)
            self._interrupt.wait(0.005)
        utterance.done(latency_ms, (time.monotonic() - started) * 1000, interrupted)

    def _play_chime(self, chime: Utterance) -> None:
        try:
            if not pygame.mixer.get_init():
                _open_mixer()
            sound = self._sound(chime.wav)
            pygame.mixer.Channel(CHIMES).play(sound)
        except (pygame.error, OSError) as exc:
            self.count(VoiceCounter.PLAY_ERRORS)
            log.warning("could not play %s: %s", chime.wav, exc)
            return
        self._idle_since = time.monotonic() + sound.get_length()
        chime.done((time.monotonic() - chime.received) * 1000, sound.get_length() * 1000, False)

    def _sound(self, wav: Path) -> pygame.mixer.Sound:
        if (sound := self._sounds.get(wav)) is not None:
            self._sounds.move_to_end(wav)
            return sound
        sound = self._sounds[wav] = pygame.mixer.Sound(str(wav))
        if len(self._sounds) > SOUNDS_IN_MEMORY:
            self._sounds.popitem(last=False)
        return sound
