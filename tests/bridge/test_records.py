"""`scantalk records` shows what the bridge stored, and nothing in a record drives the terminal."""

from __future__ import annotations

import subprocess
import sys

from bridge.outbox import Outbox
from scantalk.contract import InventoryRecord, Scan
from testbench.environ import clean_environ


def test_a_stored_name_with_terminal_control_is_listed_harmlessly(tmp_path):
    # Stored before the contract refused control characters in text.
    scan = Scan("s-old", "lane-1", "melon", "\x1b[2JMelon\x07", None, 0.9, "produce", "", [])
    record = InventoryRecord.from_scan(scan, "dev", "store")
    outbox = Outbox(tmp_path / "data" / "inventory.sqlite")
    outbox.add(record)
    outbox.close()
    env = {**clean_environ(), "SCANTALK_DATA_DIR": str(tmp_path / "data")}
    listing = subprocess.run(
        [sys.executable, "-m", "scantalk", "records"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "\N{REPLACEMENT CHARACTER}[2JMelon\N{REPLACEMENT CHARACTER}" in listing.stdout
    assert "\x1b" not in listing.stdout
    assert "\x07" not in listing.stdout
