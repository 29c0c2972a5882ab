"""The pieces of the one benchmark report (`python -m bench`): sections of tables, text and
plots, written as Markdown and as one self-contained HTML page (plots inlined as PNG).

matplotlib draws the plots (Agg, no display): the one well-kept plotting library that writes a
PNG without a browser or a server, and it is only in the dev environment.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scantalk.latency import percentile

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Cell = str | int | float | None


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""


@dataclass
class Plot:
    name: str
    """File-like name, unique in the report (`latency-cdf`)."""
    figure: Figure
    caption: str = ""


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    """Paragraphs, Markdown (inline `code` and **bold** only, so HTML can show them too)."""
    tables: list[Table] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)

    def say(self, paragraph: str) -> None:
        self.text.append(paragraph)


def cell(value: Cell) -> str:
    """A float with one decimal, or two below 1 (CPU seconds per placement are tenths)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{2 if abs(value) < 1 else 1}f}"
    return str(value)


def spread(values: Sequence[float]) -> list[Cell]:
    """n, p50, p95, p99 of `values` (None where there are none)."""
    if not values:
        return [0, None, None, None]
    return [
        len(values),
        statistics.median(values),
        percentile(list(values), 0.95),
        percentile(list(values), 0.99),
    ]


def ratio(baseline: float | None, value: float | None) -> str:
    """How many times `value` is below `baseline` (`7.8x`)."""
    if not baseline or not value:
        return "-"
    return f"{baseline / value:.1f}x"


def figure(width: float = 6.4, height: float = 3.2) -> Figure:
    """A new figure that needs no display."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def cdf(plot_name: str, series: dict[str, Sequence[float]], xlabel: str, caption: str) -> Plot:
    """Cumulative distributions of each series on one axis."""
    fig = figure()
    ax = fig.subplots()
    for label, values in series.items():
        if values:
            xs = sorted(values)
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            ax.step(xs, ys, where="post", label=f"{label} (n={len(xs)})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of placements")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return Plot(plot_name, fig, caption)


def bars(plot_name: str, values: dict[str, float], ylabel: str, caption: str) -> Plot:
    fig = figure()
    ax = fig.subplots()
    ax.bar(list(values), list(values.values()))
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=20)
    ax.grid(axis="y", alpha=0.3)
    return Plot(plot_name, fig, caption)


def _png(plot: Plot) -> bytes:
    buffer = io.BytesIO()
    plot.figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def markdown(title: str, sections: list[Section], plot_dir: str) -> str:
    """The report as Markdown; plots are referenced as `plot_dir/<name>.png`."""
    out = [f"# {title}", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for paragraph in section.text:
            out += [paragraph, ""]
        for table in section.tables:
            if table.caption:
                out += [table.caption, ""]
            out.append("| " + " | ".join(table.columns) + " |")
            out.append("|" + "---|" * len(table.columns))
            out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
            out.append("")
        for plot in section.plots:
            out += [f"![{plot.caption}]({plot_dir}/{plot.name}.png)", ""]
    return "\n".join(out)


def _inline(text: str) -> str:
    """Markdown's `code` and **bold** as HTML, the rest escaped."""
    parts = html.escape(text).split("`")
    text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def page(title: str, sections: list[Section]) -> str:
    """The report as one HTML page with nothing outside it: plots are data: URLs."""
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
        "padding:.2em .6em;text-align:right}th{background:#eee}td:first-child{text-align:left}"
        "figure{margin:1em 0}img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for section in sections:
        out.append(f"<h2>{html.escape(section.title)}</h2>")
        out += [f"<p>{_inline(p)}</p>" for p in section.text]
        for table in section.tables:
            out.append("<table>")
            if table.caption:
                out.append(f"<caption>{_inline(table.caption)}</caption>")
            out.append("<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in table.columns) + "</tr>")
            for row in table.rows:
                out.append("<tr>" + "".join(f"<td>{_inline(cell(c))}</td>" for c in row) + "</tr>")
            out.append("</table>")
        for plot in section.plots:
            data = base64.b64encode(_png(plot)).decode()
            out.append(
                f'<figure><img alt="{html.escape(plot.caption)}" '
                f'src="data:image/png;base64,{data}">'
                f"<figcaption>{_inline(plot.caption)}</figcaption></figure>"
            )
    out.append("</body></html>")
    return "\n".join(out)


def write(out_dir: Path, title: str, sections: list[Section]) -> tuple[Path, Path]:
    """Write `report.md` (with its plots in `plots/`) and `report.html` into `out_dir`."""
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    for section in sections:
        for plot in section.plots:
            (plots / f"{plot.name}.png").write_bytes(_png(plot))
    md, page_path = out_dir / "report.md", out_dir / "report.html"
    md.write_text(markdown(title, sections, "plots"))
    page_path.write_text(page(title, sections))
    return md, page_path
