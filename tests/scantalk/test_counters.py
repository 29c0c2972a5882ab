"""Counter names come from `scantalk.counters`: no node counts a free string, and every name
a reader takes from the stats (Home Assistant, `scantalk watch`) is one a node reports."""

from __future__ import annotations

import ast
import re
from enum import StrEnum
from pathlib import Path

import pytest

import scantalk
from bridge.homeassistant import discovery
from classifier_node import questions
from scantalk import counters
from scantalk.commands.watch import GAUGE_LABELS, GAUGES
from scantalk.contract import NodeName, SayRequest, Stats, Topics, now_rfc3339
from scantalk.counters import (
    COUNTERS,
    ClassifierCounter,
    RuntimeCounter,
    VoiceCounter,
    counter_names,
)
from scantalk.runtime import Refused

ROOT = Path(scantalk.__file__).parent.parent
COUNTING = ("camera_node", "classifier_node", "voice_node", "bridge", "scale_node")
"""The node packages; the runtime (`scantalk/runtime.py`) counts too."""
SOURCES = sorted(p for package in COUNTING for p in (ROOT / package).rglob("*.py"))
SOURCES.append(ROOT / "scantalk" / "runtime.py")
ENUMS: tuple[type[StrEnum], ...] = (RuntimeCounter, *COUNTERS.values())
REASONS = {
    RuntimeCounter: (Refused.CONTRACT, Refused.STATION, Refused.CONFIG, Refused.RETAINED),
    ClassifierCounter: (questions.CLOSED, questions.UNKNOWN, questions.NOT_OFFERED),
}
"""Every `Refused` reason, by the enum its `rejected_<reason>` counter is in."""
TEMPLATE_COUNTER = re.compile(r"value_json\.counters\.(\w+)")


def _literals(expr: ast.expr) -> list[str]:
    """String literals a counter's name may come from: `"a"`, `f"a_{b}"`, `"a" if c else "b"`."""
    match expr:
        case ast.Constant(value=str(text)):
            return [text]
        case ast.JoinedStr():
            return [ast.unparse(expr)]
        case ast.IfExp(body=body, orelse=orelse):
            return _literals(body) + _literals(orelse)
        case ast.BoolOp(values=values):
            return [text for value in values for text in _literals(value)]
    return []


def _counted_literally() -> list[str]:
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("count", "gauge", "measure")
                and node.args
            ):
                found += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {node.func.attr}({text!r})"
                    for text in _literals(node.args[0])
                ]
    return found


def test_the_sources_are_found():
    assert {p.relative_to(ROOT).parts[0] for p in SOURCES} == {*COUNTING, "scantalk"}


def test_no_node_counts_a_free_string():
    """A counter's name is a member of its node's enum in `scantalk.counters`, never a string
    literal: a reader that names it through the enum cannot miss a rename."""
    assert _counted_literally() == []


def test_every_member_is_counted():
    """No enum keeps a name nothing counts; the `rejected_<reason>` counters and the voice's
    `SayRequest.unsaid_because` reasons are counted by a name made at run time."""
    named = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                named.add(f"{node.value.id}.{node.attr}")
    dynamic = {
        f"{enum.__name__}.{enum(RuntimeCounter.rejected(reason)).name}"
        for enum, reasons in REASONS.items()
        for reason in reasons
    }
    dynamic |= {f"VoiceCounter.{VoiceCounter.STALE.name}"}
    members = {f"{enum.__name__}.{member.name}" for enum in ENUMS for member in enum}
    assert members - named - dynamic == set()


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.__name__)
def test_members_are_named_as_they_go_on_the_wire(enum: type[StrEnum]):
    assert [m.value for m in enum] == [m.name.lower() for m in enum]


def test_every_member_says_what_it_counts():
    """Each member is followed by its docstring, as in `scantalk.contract`'s enums."""
    tree = ast.parse(Path(counters.__file__).read_text())
    undocumented = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        body = cls.body
        for i, statement in enumerate(body):
            if isinstance(statement, ast.Assign):
                after = body[i + 1] if i + 1 < len(body) else None
                if not (
                    isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)
                ):
                    undocumented.append(f"{cls.name}.{ast.unparse(statement.targets[0])}")
    assert undocumented == []


def test_no_node_counts_a_name_of_the_runtime():
    """The runtime's counters are in every node's stats: a node's own of the same name would
    add up with them."""
    runtime = set(RuntimeCounter)
    assert {node: sorted(runtime & set(enum)) for node, enum in COUNTERS.items()} == {
        node: [] for node in COUNTERS
    }


def test_every_node_has_its_enum():
    assert set(COUNTERS) == set(NodeName)


@pytest.mark.parametrize("enum", list(REASONS), ids=lambda e: e.__name__)
def test_every_refusal_reason_has_its_counter(enum: type[StrEnum]):
    assert {RuntimeCounter.rejected(reason) for reason in REASONS[enum]} <= set(enum)


def test_a_voice_counts_why_it_does_not_say_a_request():
    ahead = SayRequest("lane-1", "Banana", "en", time=now_rfc3339(SayRequest.CLOCK_SKEW_S + 30))
    old = SayRequest("lane-1", "Banana", "en", time=now_rfc3339(-SayRequest.MAX_AGE_S - 30))
    reasons = [ahead.unsaid_because(0), old.unsaid_because(0)]
    assert [VoiceCounter(r) for r in reasons] == [VoiceCounter.SAY_FUTURE, VoiceCounter.STALE]


def test_home_assistant_reads_counters_its_nodes_report():
    """Each template reads counters the node of its `…/stats` topic has, by their names."""
    topics = Topics("lane-1")
    stats_of = {topics.stats(node): node for node in NodeName}
    read = {}
    for config in discovery("lane-1", "homeassistant").values():
        for name in TEMPLATE_COUNTER.findall(config.get("value_template", "")):
            read[name] = stats_of[config["state_topic"]]
    assert read  # the templates are found
    assert {name: node for name, node in read.items() if name not in counter_names(node)} == {}


def test_a_counter_goes_on_the_wire_by_its_name():
    voice = Stats("lane-1", NodeName.VOICE, {VoiceCounter.CLOUD_TIMEOUTS: 1}).to_json()
    assert b'"cloud_timeouts": 1' in voice


def test_watch_shows_counters_its_nodes_report():
    unknown = {
        node: [name for name in names if name not in counter_names(node)]
        for node, names in GAUGES.items()
    }
    assert unknown == {node: [] for node in GAUGES}


def test_watch_labels_only_gauges_it_takes():
    taken = {name for names in GAUGES.values() for name in names}
    assert set(GAUGE_LABELS) <= taken
