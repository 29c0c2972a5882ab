"""The `scantalk` command: `up`, `node <name>`, `settings`, the tools and the commands nodes
bring.

It knows no node and no tool by name: each installed node package registers its settings, how
to run it and its own commands (`records`, `model …`, `voice warm`), and each tool its command
(`contract`, `watch`, `manifest`, `broker`), through the registry (entry points).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dotenv import dotenv_values

from scantalk.commands.broker import BrokerError
from scantalk.contract import NodeName
from scantalk.registry import Command, NodeSpec, commands, nodes, packages
from scantalk.settings import SettingError, Settings

Handler = Callable[[argparse.Namespace, Mapping[str, str], Mapping[str, str | None]], int]


def parser(
    specs: Mapping[NodeName, NodeSpec], tools: Sequence[Command] = ()
) -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="scantalk", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="run a whole lane: broker and every node")
    up.add_argument("--demo", action="store_true", help="camera shows the demo photos")
    _add_settings(up, [spec.settings for spec in specs.values()])
    up.set_defaults(handler=_up, settings_classes=[spec.settings for spec in specs.values()])

    node = commands.add_parser("node", help="run one node")
    node_names = node.add_subparsers(dest="name", required=True, metavar="NAME")
    for spec in specs.values():
        sub = node_names.add_parser(spec.name, help=f"run the {spec.name} node")
        _add_settings(sub, [spec.settings])
        sub.set_defaults(handler=_with_settings(spec, _runner(spec)))

    show = commands.add_parser(
        "settings", help="print the settings in force and where each came from"
    )
    show_names = show.add_subparsers(dest="name", metavar="NODE")
    # No flags on `settings` itself: a node's subcommand would overwrite them with its own.
    show.set_defaults(handler=_show_settings, settings_classes=[Settings])
    for spec in specs.values():
        sub = show_names.add_parser(spec.name, help=f"the {spec.name} node's settings")
        _add_settings(sub, [spec.settings])
        sub.set_defaults(handler=_show_settings, settings_classes=[spec.settings])

    for tool in tools:
        sub = commands.add_parser(tool.words[0], help=tool.help)
        tool.arguments(sub)
        _add_settings(sub, [Settings])
        sub.set_defaults(handler=_core(tool.run))

    groups: dict[tuple[str, ...], Any] = {(): commands}
    for spec in specs.values():
        for command in spec.commands:
            for depth in range(1, len(command.words)):
                prefix = command.words[:depth]
                if prefix not in groups:
                    leaves = [c.words[depth] for c in spec.commands if c.words[:depth] == prefix]
                    group = groups[prefix[:-1]].add_parser(prefix[-1], help=", ".join(leaves))
                    groups[prefix] = group.add_subparsers(dest=f"command_{depth}", required=True)
            sub = groups[command.words[:-1]].add_parser(command.words[-1], help=command.help)
            command.arguments(sub)
            _add_settings(sub, [spec.settings])
            sub.set_defaults(handler=_with_settings(spec, command.run))
    return root


def _add_settings(parser: argparse.ArgumentParser, classes: list[type[Settings]]) -> None:
    """Flags for every field of these settings classes, each once; a command's own argument of
    the same name (`watch --station +`) wins."""
    group = parser.add_argument_group("settings (flags win over SCANTALK_* variables)")
    # argparse has no public way to ask which options a parser already has.
    seen: set[str] = {option[2:].replace("-", "_") for option in parser._option_string_actions}
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.name not in seen:
                seen.add(f.name)
                cls.add_argument(group, f)


def _core(run: Callable[[argparse.Namespace, Settings], int]) -> Handler:
    def handler(
        args: argparse.Namespace, environ: Mapping[str, str], dotenv: Mapping[str, str | None]
    ) -> int:
        return run(args, Settings.load(environ, args, dotenv))

    return handler


def _runner(spec: NodeSpec) -> Callable[[argparse.Namespace, Any], int]:
    def run(_args: argparse.Namespace, settings: Any) -> int:
        spec.run(settings)
        return 0

    return run


def _with_settings(spec: NodeSpec, run: Callable[[argparse.Namespace, Any], int]) -> Handler:
    def handler(
        args: argparse.Namespace, environ: Mapping[str, str], dotenv: Mapping[str, str | None]
    ) -> int:
        settings = spec.settings.load(environ, args, dotenv)
        try:
            return run(args, settings)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] in packages():
                raise  # a broken install of ours, not a missing extra
            print(
                f"scantalk: the {spec.name} node needs {exc.name}, which is not installed: "
                f"pip install 'scantalk[{spec.extra}]'",
                file=sys.stderr,
            )
            return 2

    return handler


def _up(
    args: argparse.Namespace, environ: Mapping[str, str], dotenv: Mapping[str, str | None]
) -> int:
    from scantalk.commands import stack

    if args.demo:
        args.camera_source = "demo"
    for cls in args.settings_classes:  # every node's settings: a bad one stops the lane now
        cls.load(environ, args, dotenv)
    settings = Settings.load(environ, args, dotenv)
    flags = {
        Settings.env_name(f.name): value
        for cls in args.settings_classes
        for f in dataclasses.fields(cls)
        if (value := getattr(args, f.name, None)) is not None
    }
    explicit = "SCANTALK_MQTT_PORT" in flags or "SCANTALK_MQTT_PORT" in {**dotenv, **environ}
    return stack.up(stack.choose_port(settings, explicit), flags)


def _show_settings(
    args: argparse.Namespace, environ: Mapping[str, str], dotenv: Mapping[str, str | None]
) -> int:
    (cls,) = args.settings_classes
    origins = cls.load(environ, args, dotenv).origins(environ, args, dotenv)
    width = max(len(o.variable) for o in origins)
    for origin in origins:
        print(f"{origin.variable:<{width}}  {origin.shown or '-':<28} ({origin.source})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(nodes(), commands()).parse_args(argv)
    # Secrets such as the IoT Hub connection string may sit in an (ignored) .env file.
    dotenv = dotenv_values(".env")
    try:
        return args.handler(args, os.environ, dotenv)
    except SettingError as exc:
        print(f"scantalk: {exc}", file=sys.stderr)
        return 2
    except BrokerError as exc:
        print(f"scantalk: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`scantalk records | head`): not our error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
