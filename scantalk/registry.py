"""The registry: how the core and the CLI find what each package brings, without importing it.

A node package declares one `NodeSpec` as a Python entry point in the group `scantalk.nodes`
(`[project.entry-points."scantalk.nodes"]` in `pyproject.toml`): its settings, how to run it,
any commands of its own for the `scantalk` CLI, and any channels of its own beside the
contract's (the bridge's Home Assistant topics). The CLI's tools (`scantalk contract`, `watch`,
`manifest`, `broker`) are each a `Command` in the group `scantalk.commands`. The module an entry
point names must import only the core and the standard library, so `--help` stays fast and
works in an image that installed another node's extra.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from scantalk.channels import CHANNELS, Channel
from scantalk.contract import NodeName
from scantalk.settings import Settings

GROUP = "scantalk.nodes"
COMMANDS = "scantalk.commands"

log = logging.getLogger("scantalk.registry")


@dataclass(frozen=True)
class Command:
    """A command a node adds to the `scantalk` CLI, e.g. `scantalk model eval`."""

    words: tuple[str, ...]
    """Its words after `scantalk`: `("records",)`, `("model", "eval")`."""
    help: str
    run: Callable[[argparse.Namespace, Any], int]
    """Runs it with the parsed arguments and the node's settings; returns the exit status."""
    arguments: Callable[[argparse.ArgumentParser], None] = lambda _parser: None
    """Adds its own arguments (settings flags are added for it)."""


@dataclass(frozen=True)
class NodeSpec:
    """What a node package tells the core about itself."""

    name: NodeName
    settings: type[Settings]
    """The node's settings: `Settings` (the shared ones) extended with its own."""
    run: Callable[[Any], None]
    """Runs the node with its settings until it is stopped."""
    extra: str
    """The extra that installs what it needs: `pip install scantalk[<extra>]`."""
    commands: tuple[Command, ...] = ()
    channels: tuple[Channel, ...] = ()
    """Channels of its own, beside the contract's: what it publishes or reads elsewhere."""
    messages: Callable[[], dict[str, Any]] = dict
    """The AsyncAPI messages of those channels, by name (built only for the document)."""


class RegistryError(RuntimeError):
    """An entry point in `scantalk.nodes` that is not a usable node."""


def nodes() -> dict[NodeName, NodeSpec]:
    """Every installed node, by name, in the contract's order. A node that cannot be loaded is
    left out with a warning, so it cannot take the others' commands down with it."""
    found: dict[NodeName, NodeSpec] = {}
    for point in entry_points(group=GROUP):
        try:
            spec = point.load()
            if not isinstance(spec, NodeSpec) or spec.name != point.name:
                raise RegistryError(f"{point.value} is not the NodeSpec of {point.name!r}")
        except Exception as exc:  # an entry point may fail in any way its import can
            log.warning("node %s left out: %s", point.name, exc)
            continue
        found[spec.name] = spec
    return {name: found[name] for name in NodeName if name in found}


def commands() -> list[Command]:
    """The CLI's tools, each in its entry point's name order; one that cannot be loaded is
    left out with a warning."""
    found = []
    for point in sorted(entry_points(group=COMMANDS), key=lambda p: p.name):
        try:
            command = point.load()
            if not isinstance(command, Command) or command.words[0] != point.name:
                raise RegistryError(f"{point.value} is not the Command {point.name!r}")
        except Exception as exc:  # an entry point may fail in any way its import can
            log.warning("command %s left out: %s", point.name, exc)
            continue
        found.append(command)
    return found


def lane_channels() -> tuple[Channel, ...]:
    """Every channel a lane's broker carries: the contract's, then each node's own."""
    return (*CHANNELS, *(c for spec in nodes().values() for c in spec.channels))


def packages() -> set[str]:
    """The project's top-level packages: the core and every registered one."""
    points = [*entry_points(group=GROUP), *entry_points(group=COMMANDS)]
    return {"scantalk", *(point.module.split(".")[0] for point in points)}
