"""The bridge's watch over the lane: speech that was asked for but not heard, and the midnight
that starts a store's day."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bridge.lane import SpeechWatch, midnight_utc
from scantalk.contract import SayRequest, Spoken, now_rfc3339


def ask(watch: SpeechWatch, text: str, at: float, scan_id: str | None = None) -> None:
    watch.asked(SayRequest("lane-1", text, "en", scan_id=scan_id), at, waited_s=0)


def said(watch: SpeechWatch, text: str, scan_id: str | None = None) -> bool:
    return watch.spoken(Spoken("lane-1", text, "espeak-ng", True, 5, 700, scan_id=scan_id))


def test_a_request_asked_while_another_plays_is_not_answered_by_the_other():
    watch = SpeechWatch(overdue_s=5)
    ask(watch, "Banana", 0, "s-1")
    ask(watch, "Lemon", 0.5, "s-2")  # arrives while "Banana" plays
    said(watch, "Banana", "s-1")  # Banana's `spoken` comes when it ends
    assert watch.overdue(5.4) == 0
    assert watch.overdue(5.6) == 1  # Lemon was never said
    assert watch.failing
    assert said(watch, "Pear", "s-3") is True  # the voice speaks again: the failure ends
    assert not watch.failing


def test_speech_answers_the_older_requests_it_replaced():
    watch = SpeechWatch(overdue_s=5)
    ask(watch, "Banana", 0, "s-1")
    ask(watch, "Unsure, use lookup.", 0.2)
    ask(watch, "Lemon", 0.4, "s-2")  # a newer item replaces what waits, and cuts short what plays
    said(watch, "Lemon", "s-2")
    assert watch.overdue(100) == 0


def test_the_same_words_again_may_be_skipped_by_the_voice_without_alarm():
    watch = SpeechWatch(overdue_s=5)
    ask(watch, "Banana", 0, "s-1")
    said(watch, "Banana", "s-1")
    ask(watch, "Banana", 1.0, "s-2")  # within the voice's cooldown: it may say nothing
    assert watch.overdue(10) == 0
    ask(watch, "Banana", 1.0 + SayRequest.REPEAT_WINDOW_S, "s-3")  # past any cooldown
    assert watch.overdue(100) == 1


def test_scans_today_start_at_midnight_where_the_store_is():
    now = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)  # 01:30 in Berlin, 19:30 the day before in NY
    assert midnight_utc(ZoneInfo("Europe/Berlin"), now) == "2026-11-25T23:00:00.000Z"
    assert midnight_utc(ZoneInfo("America/New_York"), now) == "2026-11-25T05:00:00.000Z"
    assert midnight_utc(ZoneInfo("UTC"), now) == "2026-11-26T00:00:00.000Z"
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # daylight saving time
    assert midnight_utc(ZoneInfo("Europe/Berlin"), summer) == "2026-06-30T22:00:00.000Z"


def test_a_request_the_voice_rightly_refuses_raises_no_alarm():
    """Dated two minutes ahead, the voice does not say it (`say_future`: the clocks are too far
    apart to judge its age); the watch must not call that a failing voice."""
    watch = SpeechWatch(overdue_s=5)
    ahead = SayRequest("lane-1", "Banana", "en", scan_id="s-1", time=now_rfc3339(120))
    watch.asked(ahead, 0, waited_s=0)
    old = SayRequest("lane-1", "Lemon", "en", scan_id="s-2", time=now_rfc3339(-30))
    watch.asked(old, 0, waited_s=0)  # stale: not said either
    assert watch.overdue(100) == 0
    assert not watch.failing
