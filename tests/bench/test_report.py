"""`python -m bench --quick`: the one benchmark report is written whole, on real parts, so it
cannot rot. No timing is asserted: only that every part ran and said what it measured."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from testbench.environ import clean_environ

ROOT = Path(__file__).resolve().parents[2]

SECTIONS = (
    "The machine",
    "Where we stand",
    "Latency per placement",
    "ScanTalk against the 2019 pattern, same machine, same run",
    "Cost at rest and under work",
    "The lane's cost choices, before and after",
    "Scale",
)


@pytest.mark.timeout(900)
def test_the_quick_report_has_every_part_measured(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT, env=clean_environ(), capture_output=True, text=True, timeout=850, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    markdown = (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    for title in SECTIONS:
        assert f"## {title}" in markdown, title
        assert f"<h2>{html.escape(title)}</h2>" in page, title
    # Self-contained: every plot inlined, nothing fetched from elsewhere.
    assert 'src="data:image/png;base64,' in page
    assert not re.search(r'(src|href)="(?!data:)', page)
    for plot in re.findall(r"\]\((plots/[^)]+\.png)\)", markdown):
        assert (tmp_path / plot).stat().st_size > 1000, plot
    # The lane announced placements and the 2019 pattern classified frames, in this run.
    announced = re.search(r"(\d+) of (\d+) placements were announced", markdown)
    assert announced
    assert int(announced[1]) > 0, "the lane announced nothing"
    row = re.search(r"\| frames classified per placement \| ([\d.]+) \| ([\d.]+) \|", markdown)
    assert row
    assert float(row[1]) > 0, "the lane classified no frames"
    assert float(row[2]) > 0, "the 2019 pattern classified no frames"
    # Every target has a figure from this run, even where --quick skips the int8 lane.
    targets = markdown.split("## Where we stand")[1].split("## ")[0]
    assert len(re.findall(r"^\| (?!measure|---)", targets, re.M)) == 6
