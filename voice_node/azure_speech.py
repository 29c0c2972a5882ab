"""Azure neural voices through `azure-cognitiveservices-speech`, with SSML for rate and volume."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from voice_node.espeak import SynthesisError

LOCALES = {"en": "en-US", "de": "de-DE"}
DEFAULT_VOICES = {"en-US": "en-US-JennyNeural", "de-DE": "de-DE-KatjaNeural"}


class AzureSpeech:
    name = "azure-speech"

    def __init__(self, key: str, region: str, voice: str | None, rate: float, volume: int) -> None:
        import azure.cognitiveservices.speech as speechsdk  # only the voice image installs it

        self.sdk = speechsdk
        self.config = speechsdk.SpeechConfig(subscription=key, region=region)
        # espeak-ng's own format, so the mixer plays both engines alike.
        self.config.set_speech_synthesis_output_format(
            speechsdk.SpeechSynthesisOutputFormat.Riff22050Hz16BitMonoPcm
        )
        self.voice, self.rate, self.volume = voice, rate, volume

    def _locale_voice(self, language: str) -> tuple[str, str]:
        locale = LOCALES.get(language.lower(), language)
        return locale, self.voice or DEFAULT_VOICES.get(locale, f"{locale}-Neural")

    def voice_id(self, language: str) -> str:
        locale, voice = self._locale_voice(language)
        return f"{locale}/{voice}/r{self.rate}/v{self.volume}"

    def ssml(self, text: str, language: str) -> str:
        locale, voice = self._locale_voice(language)
        return (
            "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' "
            f"xml:lang={quoteattr(locale)}>"
            f"<voice name={quoteattr(voice)}>"
            f"<prosody rate='{self.rate:.2f}' volume='{self.volume}'>{escape(text)}</prosody>"
            "</voice></speak>"
        )

    def synthesize(self, text: str, language: str, out: Path) -> None:
        synthesizer = self.sdk.SpeechSynthesizer(speech_config=self.config, audio_config=None)
        result = synthesizer.speak_ssml_async(self.ssml(text, language)).get()
        if result.reason != self.sdk.ResultReason.SynthesizingAudioCompleted:
            details = result.cancellation_details
            raise SynthesisError(f"Azure Speech: {details.reason}: {details.error_details}")
        out.write_bytes(result.audio_data)
