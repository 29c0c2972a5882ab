"""The scale's settings: the shared ones, its serial line, and how it speaks on it."""

from __future__ import annotations

from dataclasses import dataclass

from scantalk.settings import OPTIONAL, Number, Settings, one_of, setting


@dataclass(frozen=True)
class ScaleSettings(Settings):
    scale_port: str | None = setting(
        None,
        OPTIONAL,
        "the scale's serial port, e.g. /dev/ttyUSB0 (or a pyserial URL); unset: no scale",
    )
    scale_protocol: str = setting(
        "nci", one_of("nci", "toledo", "continuous"),
        "nci (W/S/Z with status bytes), toledo (W/Z, ?-status), continuous (a line per reading)",
    )  # fmt: skip
    scale_baud: int = setting(9600, Number(int, 1200, 115200), "the serial line's baud rate")
    scale_parity: str = setting("e", one_of("e", "o", "n"), "parity: e(ven), o(dd) or n(one)")
    scale_bytesize: int = setting(7, Number(int, 7, 8), "data bits: 7 or 8")
    scale_unit: str = setting(
        "kg", one_of("kg", "lb"), "the unit of a toledo scale's numbers (nci and continuous say it)"
    )
    scale_poll: float = setting(
        0.2, Number(float, 0.05, 5), "seconds between weight requests (nci, toledo)"
    )
    scale_deadline: float = setting(
        3.0, Number(float, 0.5, 60), "seconds without a valid reading before the scale is no_scale"
    )
