"""The lane-to-store bridge config (`mosquitto/lane-to-store.conf`), rendered for a test.

An operator renders it with `envsubst`; only tests render it from Python, so the renderer
lives here and reads the file from the checkout rather than from the installed package.
"""

from __future__ import annotations

import string

from testbench import CHECKOUT

LANE_TO_STORE = CHECKOUT / "mosquitto" / "lane-to-store.conf"


def lane_to_store_conf(station: str, store_host: str, store_port: int) -> str:
    """`mosquitto/lane-to-store.conf` for one lane, as `envsubst` would render it."""
    return string.Template(LANE_TO_STORE.read_text()).substitute(
        STATION=station, STORE_HOST=store_host, STORE_PORT=store_port
    )
