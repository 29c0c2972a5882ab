"""The voice a blind shopper relies on: fast from the cache, never silent, never chattering."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from array import array
from pathlib import Path

import pytest

from scantalk.contract import ContractError, Earcon, NodeName, SayRequest, Topics
from scantalk.counters import VoiceCounter
from scantalk.phrases import announcement, render, weight
from testbench.bus import wait_online
from voice_node.earcons import TONES
from voice_node.settings import VoiceSettings
from voice_node.speech import Speech

T = Topics("lane-1")
LONG = "Granny Smith apple, " * 8


def say(
    bus, text: str, kind: str = "item", language: str = "en", scan_id: str | None = None
) -> None:
    bus.publish(T.say, SayRequest("lane-1", text, language, scan_id=scan_id, kind=kind).to_json())


def spoken(bus, text: str, count: int = 1):
    return [
        h.json() for h in bus.wait_for(T.spoken, lambda h: h.json()["text"] == text.strip(), count)
    ]


@pytest.fixture
def voice_env(node_env):
    return {**node_env, "SCANTALK_SAY_STARTUP": "no"}


def test_spoken_audio_really_reaches_the_speaker(bus, voice_env, start_node):
    start_node("voice", voice_env)
    wait_online(bus, "voice")
    say(bus, "Banana", scan_id="scan-1")
    (event,) = spoken(bus, "Banana")
    assert (event["engine"], event["scan_id"], event["interrupted"]) == (
        "espeak-ng",
        "scan-1",
        False,
    )
    assert event["duration_ms"] > 200
    samples = array("h", Path(voice_env["SDL_DISKAUDIOFILE"]).read_bytes())
    assert len(samples) > 22050 * 0.3
    assert max(map(abs, samples)) > 3000, "silence reached the speaker"


def test_second_request_plays_from_the_cache_without_synthesis(bus, voice_env, start_node):
    start_node("voice", voice_env, SCANTALK_VOICE_COOLDOWN="0")
    wait_online(bus, "voice")
    say(bus, "Lemon")
    assert spoken(bus, "Lemon")[0]["cache_hit"] is False
    say(bus, "Lemon")
    assert spoken(bus, "Lemon", count=2)[1]["cache_hit"] is True
    bus.wait_for(
        T.stats(NodeName.VOICE),
        lambda h: (
            h.json()["counters"].get("spoken") == 2 and h.json()["counters"]["synthesized"] == 1
        ),
    )


def test_cache_is_keyed_by_engine_voice_language_and_text_and_survives_restarts(tmp_path):
    settings = VoiceSettings(data_dir=tmp_path)
    synthesized = []
    first = Speech(settings, synthesized.append)
    assert first.audio("Banana", "en").cache_hit is False
    assert first.audio("Banana", "en").cache_hit is True
    assert first.audio("Banana", "de").cache_hit is False
    slower = Speech(dataclasses.replace(settings, speech_rate=0.8), synthesized.append)
    assert slower.audio("Banana", "en").cache_hit is False
    restarted = Speech(settings, synthesized.append)
    assert restarted.audio("Banana", "en").cache_hit is True
    assert synthesized == [VoiceCounter.SYNTHESIZED] * 3


def test_cache_stays_within_its_bound(tmp_path):
    speech = Speech(VoiceSettings(data_dir=tmp_path, audio_cache_mb=0.1), lambda _: None)
    for i in range(12):
        speech.audio(f"item number {i}", "en")
    assert 0 < speech.cache.size() <= 100_000
    assert speech.audio("item number 11", "en").cache_hit is True  # the newest stay


def test_cloud_that_cannot_be_reached_falls_back_to_espeak(tmp_path):
    """The real Speech SDK, with no way to its service here: the failure is real."""
    counts = []
    settings = VoiceSettings(data_dir=tmp_path, speech_key="0" * 32, speech_region="westeurope")
    speech = Speech(settings, counts.append)
    audio = speech.audio("Pineapple", "en")
    assert audio.engine == "espeak-ng"
    assert audio.wav.stat().st_size > 1000
    assert counts.count(VoiceCounter.CLOUD_FAILURES) == 1
    assert speech.audio("Melon", "en").engine == "espeak-ng"
    assert counts.count(VoiceCounter.CLOUD_FAILURES) == 1, (
        "the cloud was asked again straight after failing"
    )
    speech.close()


def test_cloud_slower_than_the_deadline_gives_way_to_espeak(tmp_path):
    counts = []
    settings = VoiceSettings(
        data_dir=tmp_path, speech_key="0" * 32, speech_region="westeurope", speech_deadline=0.001
    )
    speech = Speech(settings, counts.append)
    assert speech.audio("Broccoli", "en").engine == "espeak-ng"
    assert counts.count(VoiceCounter.CLOUD_TIMEOUTS) == 1
    speech.close()


def test_voice_node_with_unreachable_cloud_still_speaks(bus, voice_env, start_node):
    start_node(
        "voice", voice_env, SCANTALK_SPEECH_KEY="0" * 32, SCANTALK_SPEECH_REGION="westeurope"
    )
    wait_online(bus, "voice")
    say(bus, "Pomegranate")
    assert spoken(bus, "Pomegranate")[0]["engine"] == "espeak-ng"
    bus.wait_for(T.stats(NodeName.VOICE), lambda h: h.json()["counters"].get("cloud_failures") == 1)


def test_a_newer_scan_interrupts_a_stale_announcement(bus, voice_env, start_node):
    start_node("voice", voice_env)
    wait_online(bus, "voice")
    say(bus, LONG, scan_id="old")
    say(bus, "Banana", scan_id="new")
    (old,) = spoken(bus, LONG)
    (new,) = spoken(bus, "Banana")
    assert old["interrupted"] is True
    assert old["duration_ms"] < 3000, "the old announcement played on"  # in full: about 8 s
    assert new["interrupted"] is False


def test_a_prompt_waits_for_the_announcement_it_follows(bus, voice_env, start_node):
    start_node("voice", voice_env)
    wait_online(bus, "voice")
    say(bus, "Strawberry", scan_id="s")
    say(bus, render("unsure", "en"), kind="prompt")
    (item,) = spoken(bus, "Strawberry")
    spoken(bus, render("unsure", "en"))
    assert item["interrupted"] is False


def test_the_same_request_is_not_said_twice_within_the_cooldown(bus, voice_env, start_node):
    start_node("voice", voice_env, SCANTALK_VOICE_COOLDOWN="30")
    wait_online(bus, "voice")
    say(bus, "Lemon", scan_id="s-1")
    say(bus, "Lemon", scan_id="s-1")  # the same scan's request, delivered twice
    say(bus, "Banana", scan_id="s-2")
    spoken(bus, "Banana")
    bus.wait_for(T.stats(NodeName.VOICE), lambda h: h.json()["counters"].get("cooldown") == 1)
    assert len(bus.matching(T.spoken, lambda h: h.json()["text"] == "Lemon")) == 1


def test_every_new_scan_is_said_even_of_the_same_words_within_the_cooldown(
    bus, voice_env, start_node
):
    """A shopper who counts by ear pays for every scan: none may go unheard."""
    start_node("voice", voice_env, SCANTALK_VOICE_COOLDOWN="30")
    wait_online(bus, "voice")
    for n in range(3):
        say(bus, "Banana", scan_id=f"banana-{n}")
        spoken(bus, "Banana", count=n + 1)
    heard = [h.json()["scan_id"] for h in bus.matching(T.spoken)]
    assert heard == ["banana-0", "banana-1", "banana-2"]


def test_the_greeting_is_never_cut_by_a_name_nor_a_name_by_it(bus, node_env, start_node):
    start_node("voice", node_env)  # with the greeting
    greeting = render("startup", "en")
    wait_online(bus, "voice")
    say(bus, "Banana", scan_id="s-1")  # the demo's banana lies there from the start
    (name,) = spoken(bus, "Banana")
    heard = [h.json() for h in bus.matching(T.spoken)]
    if heard[0]["text"] == greeting:  # it had begun: it ends first
        assert not heard[0]["interrupted"], "the greeting was cut off"
    else:  # an item was there before it began: it is dropped
        assert greeting not in [e["text"] for e in heard]
    assert not name["interrupted"]


def test_repeat_says_the_last_words_again_at_once_despite_the_cooldown(bus, voice_env, start_node):
    unsure = render("unsure", "en")
    # An old press left retained on the broker is not a press (it would repeat at every start).
    bus.publish(T.repeat, b"pressed", retain=True)
    start_node("voice", voice_env, SCANTALK_VOICE_COOLDOWN="60")
    wait_online(bus, "voice")
    bus.publish(T.repeat, b"")  # any payload; nothing said yet, and the shopper hears so
    spoken(bus, render("nothing", "en"))
    say(bus, "Lemon", scan_id="s-1")
    (first,) = spoken(bus, "Lemon")
    bus.publish(T.repeat, b"pressed")  # well within the 60 s cooldown
    _, again = spoken(bus, "Lemon", count=2)
    assert again["scan_id"] == first["scan_id"] == "s-1"
    # A new item the lane is not sure of: "repeat" must not name the lemon before it.
    say(bus, unsure, kind="prompt")
    spoken(bus, unsure)
    bus.publish(T.repeat, b"pressed")
    spoken(bus, unsure, count=2)
    (stats,) = bus.wait_for(
        T.stats(NodeName.VOICE), lambda h: h.json()["counters"].get("repeats") == 2
    )
    counters = stats.json()["counters"]
    assert (counters.get("rejected_retained"), counters.get("repeat_nothing")) == (1, 1)
    assert len(bus.matching(T.spoken, lambda h: h.json()["text"] == "Lemon")) == 2


def test_bad_requests_are_counted_not_spoken_and_the_voice_goes_on(bus, voice_env, start_node):
    start_node("voice", voice_env)
    wait_online(bus, "voice")
    bus.publish(T.say, b"{not json")
    say(bus, "   ")
    say(bus, "x" * 201)
    say(bus, "Banana", language="tlh-x-klingon")
    say(bus, "Banana", kind="shout")
    say(bus, "Lemon")
    spoken(bus, "Lemon")
    bus.wait_for(T.stats(NodeName.VOICE), lambda h: h.json()["counters"].get("rejected") == 5)
    assert [h.json()["text"] for h in bus.matching(T.spoken)] == ["Lemon"]


def test_startup_phrase_in_the_lane_language(bus, node_env, start_node):
    start_node("voice", node_env, SCANTALK_LANGUAGE="de")
    (event,) = spoken(bus, "ScanTalk ist bereit.")
    assert event["engine"] == "espeak-ng"


def test_phrases_exist_in_english_and_german_and_numbers_are_for_the_ear():
    # "Not sure" says so, and where to turn: never advice that needs sight.
    assert render("unsure", "en") == "Unsure, use lookup."
    assert render("unsure", "de-AT") == "Unsicher, Suche nutzen."
    assert announcement("Banana", "en", again=True) == "Banana, again"
    assert announcement("Banane", "de", again=True, kg=1.2) == "Banane, noch einmal, 1,2 Kilo"
    assert announcement("Custard apple", "en", coded=False) == (
        "Custard apple, no code: key in or weigh"
    )
    assert announcement("Cherimoya", "de", chosen=True, coded=False) == (
        "Cherimoya, ohne Code: eintippen oder wiegen"
    )
    assert render("item", "en", item="Banana") == "Banana"
    assert render("item", "de", item=1.5) == "1,5"
    assert render("item", "en", item=2.0) == "2"
    assert render("item", "en", item=0.7512) == "0.8"


@pytest.mark.parametrize(
    ("kg", "english", "german"),
    [
        (0.004, "10 grams", "10 Gramm"),  # never "0 grams" for something on the scale
        (0.855, "860 grams", "860 Gramm"),
        (0.996, "1 kilo", "1 Kilo"),
        (1.234, "1.2 kilos", "1,2 Kilo"),
        (12.34, "12.3 kilos", "12,3 Kilo"),
    ],
)
def test_a_weight_is_said_as_a_person_says_it(kg, english, german):
    assert weight(kg, "en") == english
    assert weight(kg, "de-AT") == german
    assert render("weighed", "en", item="Bananas", weight=english) == f"Bananas, {english}"


def test_warm_fills_the_cache_so_the_first_scan_is_a_hit(bus, voice_env, start_node):
    warm = [sys.executable, "-m", "scantalk", "voice", "warm"]
    out = subprocess.run(warm, env=voice_env, capture_output=True, text=True, check=True)
    # 23 names, each as an announcement, again, and as a confirmed choice (the same words for
    # the 5 with no price code); 4 phrases without a name.
    assert "68 texts in en: 0 already cached, 68 synthesised" in out.stdout
    start_node("voice", voice_env)
    wait_online(bus, "voice")
    say(bus, "Granny Smith apple")
    assert spoken(bus, "Granny Smith apple")[0]["cache_hit"] is True


def test_earcons_sound_at_once_over_words_and_are_never_cooled_down(bus, voice_env, start_node):
    start_node("voice", voice_env, SCANTALK_VOICE_COOLDOWN="60")
    wait_online(bus, "voice")
    say(bus, LONG, scan_id="s-1")
    bus.wait_for(T.say, lambda h: h.json()["text"] == LONG)
    for placed in range(1, 4):  # a new placement each time: each is heard, cooldown or not
        say(bus, "detected", kind="earcon")
        chimes = spoken(bus, "detected", count=placed)
    (words,) = spoken(bus, LONG)
    assert {c["engine"] for c in chimes} == {"earcon"}
    assert words["interrupted"] is False, "an earcon cut the words short"
    assert all(c["duration_ms"] < 150 for c in chimes), "an earcon is shorter than a syllable"
    with pytest.raises(ContractError, match="earcon"):  # words are not an earcon
        SayRequest.from_json(SayRequest("lane-1", "Banana", "en", kind="earcon").to_json())


def test_a_question_starts_with_its_earcon_and_repeat_asks_it_again(bus, voice_env, start_node):
    asked = render("ask_2", "en", a="Lemon", b="Lime")
    start_node("voice", voice_env, SCANTALK_VOICE_COOLDOWN="60")
    wait_online(bus, "voice")
    say(bus, asked, kind="prompt")
    (plain,) = spoken(bus, asked)
    say(bus, asked, kind="question")  # the cooldown holds the same words back...
    bus.publish(T.repeat, b"pressed")  # ...but the shopper asked for them again
    _, question = spoken(bus, asked, count=2)
    earcon_ms = 1000 * sum(seconds for _, seconds in TONES[Earcon.QUESTION])
    assert question["duration_ms"] - plain["duration_ms"] == pytest.approx(earcon_ms, abs=60)
    samples = array("h", Path(voice_env["SDL_DISKAUDIOFILE"]).read_bytes())
    assert max(map(abs, samples)) > 3000
