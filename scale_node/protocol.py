"""What a POS scale says on its serial line, and how to ask it: parsing only, no I/O.

Three families, after the scanner-scale and indicator manuals:

- `nci`: the NCI command set scanner-scales speak to a POS (Datalogic Magellan's single-cable
  scale interface, Ohaus Aviator 7000 service manual "Mandatory Commands", Mettler Toledo DIVA
  service manual "Scale Status Command: S"). `W<CR>` answers `<LF>1.234KG<CR><LF>Shh<CR><ETX>`,
  or `<LF>Shh<CR><ETX>` alone when there is no valid weight (under zero, zero error, motion,
  over capacity); `S<CR>` answers the status; `Z<CR>` zeroes the scale and answers the status.
  Status bytes: byte 1 bit 0 motion, bit 1 at zero, bits 2-3 RAM and EEPROM errors; byte 2 bit 0
  under zero, bit 1 over capacity, bits 2-3 ROM and calibration errors; byte 3 bit 3 initial
  zero error. Bits 4 and 5 are always 1; bit 6 of byte 2 and later says another byte follows.
- `toledo`: the Mettler Toledo 8213-style interface ("SASI Scale" in Magellan's RS-232 Standard
  mode, 9600 baud, 7E1). `W` answers `<STX>01.234<CR>`, in the unit the scale is set to (not on
  the wire), or `<STX>?s<CR>` with one status byte: bit 0 motion, bit 1 over capacity, bit 2
  under zero, bit 3 outside the zero capture range. `Z` zeroes.
- `continuous`: an indicator that sends a line per reading by itself, in the A&D-style format
  many use: `ST,GS,+0001.234kg<CR><LF>` (`ST` stable, `US` unstable, `OL` overload; `GS` gross,
  `NT` net).

Bit 7 of every byte is parity on a 7-bit line; it is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from scantalk.contract import WeightStatus

KG_PER = {"kg": 1.0, "g": 0.001, "lb": 0.45359237, "oz": 0.028349523125}
MAX_FRAME = 64
"""Bytes in any frame of these protocols: more without its end byte is not a scale talking."""
STX, ETX, CR, LF = b"\x02", b"\x03", b"\r", b"\n"

_NUMBER = re.compile(r"([+-]?) *(\d{1,6}(?:\.\d{1,4})?|\.\d{1,4})")
_WEIGHT = re.compile(rf"{_NUMBER.pattern} *(kg|g|lb|oz)", re.IGNORECASE)
_CONTINUOUS = re.compile(rf"(ST|US|OL),(?:GS|NT|TR),{_NUMBER.pattern} *(kg|g|lb|oz)?", re.I)


class ProtocolError(ValueError):
    """Bytes that are no answer of the scale's protocol."""


@dataclass(frozen=True)
class Reading:
    """One answer of the scale."""

    status: WeightStatus
    weight_kg: float | None = None

    @property
    def stable(self) -> bool:
        return self.status is WeightStatus.OK


def _text(frame: bytes) -> str:
    text = bytes(b & 0x7F for b in frame).decode("ascii")
    if any(not c.isprintable() and c not in "\x02\x03\r\n" for c in text):
        raise ProtocolError(f"not a scale's answer: {frame[:MAX_FRAME]!r}")
    return text


def _kg(sign: str, digits: str, unit: str) -> float:
    return float(f"{sign}{digits}") * KG_PER[unit.lower()]


def _status(*, zero_error: bool, over: bool, under: bool, motion: bool) -> WeightStatus:
    """What a scale's flags come to, in every protocol: what needs staff first, then what
    holds no weight, then motion."""
    if zero_error:
        return WeightStatus.ZERO_ERROR
    if over:
        return WeightStatus.OVER_CAPACITY
    if under:
        return WeightStatus.UNDER_ZERO
    return WeightStatus.MOTION if motion else WeightStatus.OK


def _nci_status(text: str) -> WeightStatus:
    if len(text) < 3 or text[0] != "S":
        raise ProtocolError(f"not an NCI status: {text!r}")
    codes = [ord(c) for c in text[1:]]
    if any(code & 0x30 != 0x30 for code in codes):
        raise ProtocolError(f"not NCI status bytes: {text!r}")
    wanted = 2
    while wanted < len(codes) + 1 and codes[wanted - 1] & 0x40:  # bit 6: another byte follows
        wanted += 1
    if len(codes) != wanted:
        raise ProtocolError(f"NCI status of {len(codes)} bytes, {wanted} announced: {text!r}")
    first, second, third = codes[0], codes[1], codes[2] if len(codes) > 2 else 0
    return _status(  # a failed self-check or no zero: no weight to trust
        zero_error=bool(first & 0b1100 or second & 0b1100 or third & 0b1000),
        over=bool(second & 0b10),
        under=bool(second & 0b01),
        motion=bool(first & 0b01),
    )


def nci(frame: bytes, _unit: str) -> Reading:
    lines = [line.strip("\n") for line in _text(frame).rstrip("\x03").split("\r")]
    lines = [line for line in lines if line]
    if not 1 <= len(lines) <= 2:
        raise ProtocolError(f"not an NCI answer: {frame[:MAX_FRAME]!r}")
    status = _nci_status(lines[-1])
    if len(lines) == 1:
        return Reading(status)
    if not (weight := _WEIGHT.fullmatch(lines[0].strip())):
        raise ProtocolError(f"not an NCI weight: {lines[0]!r}")
    return Reading(status, _kg(*weight.groups()))


def toledo(frame: bytes, unit: str) -> Reading:
    text = _text(frame)
    if not (text.startswith("\x02") and text.endswith("\r")):
        raise ProtocolError(f"not a Toledo answer: {frame[:MAX_FRAME]!r}")
    body = text[1:-1]
    if body.startswith("?") and len(body) == 2:
        code = ord(body[1])
        status = _status(
            zero_error=bool(code & 0b1000),
            over=bool(code & 0b10),
            under=bool(code & 0b100),
            motion=bool(code & 0b1),
        )
        if status is WeightStatus.OK:
            raise ProtocolError(f"a Toledo status without a reason: {body!r}")
        return Reading(status)
    if not (weight := _NUMBER.fullmatch(body.strip())):
        raise ProtocolError(f"not a Toledo weight: {body!r}")
    sign, digits = weight.groups()
    return Reading(WeightStatus.OK, _kg(sign, digits, unit))


def continuous(frame: bytes, unit: str) -> Reading:
    line = _text(frame).strip("\r\n")
    if not (match := _CONTINUOUS.fullmatch(line)):
        raise ProtocolError(f"not a reading line: {line[:MAX_FRAME]!r}")
    head, sign, digits, said = match.groups()
    if head.upper() == "OL":
        return Reading(WeightStatus.OVER_CAPACITY)
    kg = _kg(sign, digits, said or unit)
    if kg < 0:
        return Reading(WeightStatus.UNDER_ZERO, kg)
    return Reading(WeightStatus.OK if head.upper() == "ST" else WeightStatus.MOTION, kg)


@dataclass(frozen=True)
class Protocol:
    """How to talk to one family of scales."""

    name: str
    end: bytes
    """The byte that ends each of its frames."""
    parse: Callable[[bytes, str], Reading]
    """A frame (with its end byte) and the configured unit, to a reading."""
    weigh: bytes | None = None
    """What asks for the weight; None: the scale sends readings by itself."""
    status: bytes | None = None
    """What asks for the status only (to see the scale is there)."""
    zero: bytes | None = None
    """What zeroes the scale."""


PROTOCOLS = {
    p.name: p
    for p in (
        Protocol("nci", ETX, nci, weigh=b"W\r", status=b"S\r", zero=b"Z\r"),
        Protocol("toledo", CR, toledo, weigh=b"W", zero=b"Z"),
        Protocol("continuous", LF, continuous),
    )
}
