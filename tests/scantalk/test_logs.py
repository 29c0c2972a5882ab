"""A node's log: one line per event, and no flood of the same warning."""

from __future__ import annotations

import io
import logging

from scantalk.logs import BURST, Summary, setup_logging


def test_past_a_burst_the_same_warning_is_counted_and_said_once_the_minute_is_over():
    now = [0.0]
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.addFilter(Summary(window_s=60, clock=lambda: now[0]))
    log = logging.getLogger("test.summary")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        for i in range(500):  # an open bus: hundreds of bad messages a second
            log.warning("rejected message %d (contract)", i)
            log.info("frame %d", i)  # information is never held back
        log.warning("lost the broker")  # another cause has its own allowance
        now[0] = 61.0
        log.warning("rejected message %d (contract)", 500)
    finally:
        log.removeHandler(handler)
    said = lines.getvalue().splitlines()
    rejected = [line for line in said if line.startswith("rejected")]
    assert len(rejected) == BURST + 1
    assert "more like this within 60 s are counted" in rejected[BURST - 1]
    assert (
        rejected[-1]
        == f"rejected message 500 (contract) ({500 - BURST} more like this in 60 s not logged)"
    )
    assert "lost the broker" in said
    assert sum(line.startswith("frame") for line in said) == 500


def test_a_message_over_several_lines_is_one_log_line(capsys):
    log = setup_logging("voice", "lane-1")
    log.warning("speech failed: %s", "CANCELED\nReason: Error\nDetails: WS_OPEN_ERROR")
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("speech failed: CANCELED | Reason: Error | Details: WS_OPEN_ERROR")
    assert "node=voice station=lane-1" in line
