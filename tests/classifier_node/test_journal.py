"""The scan journal on its own: kept until acknowledged, numbered across restarts, bounded, and
never blocked by a row it cannot read."""

from __future__ import annotations

import dataclasses

from classifier_node.journal import Journal
from scantalk.contract import Scan


def a_scan(n: int) -> Scan:
    return Scan(f"s{n}", "lane-1", "banana", "Banana", "4011", 0.9, "produce", "", [])


def test_a_scan_stays_until_its_revision_is_acked_and_numbers_go_on_after_a_restart(tmp_path):
    journal = Journal(tmp_path / "scans.sqlite", bound=100)
    first, _ = journal.add(a_scan(1))
    revised, _ = journal.add(dataclasses.replace(first, revision=2, weight_kg=None))
    assert (first.seq, revised.seq) == (1, 1)  # a revision keeps its scan's number
    assert journal.acknowledged("s1", 1)
    assert journal.pending() == 1  # revision 2 waits for its own ack
    unacked, _ = journal.due(everything=True)
    assert [(u.scan.scan_id, u.scan.revision) for u in unacked] == [("s1", 2)]
    assert journal.acknowledged("s1", 2)
    journal.close()

    reopened = Journal(tmp_path / "scans.sqlite", bound=100)
    second, _ = reopened.add(a_scan(2))
    assert second.seq == 2
    assert reopened.due() == ([], 0)  # not overdue yet


def test_the_bound_keeps_the_newest_rows_and_an_unreadable_row_is_let_go(tmp_path):
    journal = Journal(tmp_path / "scans.sqlite", bound=3)
    for n in range(3):
        journal.add(a_scan(n))
    journal.acknowledged("s0", 1)
    _, dropped = journal.add(a_scan(3))
    assert dropped == 0, "the bound counts rows, not ids"
    _, dropped = journal.add(a_scan(4))
    assert dropped == 1
    with journal._db:  # a row written under an older contract
        journal._db.execute("UPDATE scans SET body = '{}' WHERE scan_id = 's2'")
    unacked, unreadable = journal.due(everything=True)
    assert [u.scan.scan_id for u in unacked] == ["s3", "s4"]
    assert unreadable == 1
    assert journal.pending() == 2
