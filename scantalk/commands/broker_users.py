"""The edge broker's users (`mosquitto/acl`) and `scantalk broker passwd`, which writes its
password file from one password per user, kept in the (ignored) `.env` or the environment.

The file is hashed by Mosquitto's own `mosquitto_passwd`, so the broker reads it as it reads
its own. Only the standard library at the top: the CLI imports this for `--help`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from scantalk.channels import OUTSIDE, ROOT, Channel
from scantalk.contract import NodeName
from scantalk.registry import Command, lane_channels
from scantalk.settings import Settings

USERS = (*(str(node) for node in NodeName), *OUTSIDE)
"""Every user of the edge broker: one per node (its SCANTALK_MQTT_USERNAME), `checkout` for
third parties and `homeassistant`. `mosquitto/acl` grants each its topics."""
ACL_FILE = Path("mosquitto/acl")
ACL_HEADER = """\
# Who may publish (write) and receive (read) what on the edge broker (mosquitto/edge.conf).
#
# Generated from the contract's channel table (scantalk/channels.py) by
# `scantalk broker acl > mosquitto/acl`; a test fails when the two differ. Each line is one
# topic of one user, `+` standing for the station, so one file serves a lane and a store broker
# alike. Each node writes only the topics it publishes and reads only what it subscribes to;
# every node writes its own `…/<node>/status` (also its last will) and `…/<node>/stats`. Users
# are those of `scantalk broker passwd` (USERS); no one else, and no anonymous client, gets in.
# Everything not granted here is denied: a publish with "not authorized" (reason code 0x87 to
# an MQTT 5 client), a message the reader may not read is not delivered. Home Assistant's
# topics assume the default discovery prefix `homeassistant` (SCANTALK_DISCOVERY_PREFIX).
"""
MIN_LENGTH = 12
DEFAULT_OUTPUT = Path("mosquitto/secrets/passwords")
"""Where the broker module's bind mount (`/mosquitto/secrets/`) comes from."""


def password_variable(user: str) -> str:
    """`SCANTALK_BROKER_PASSWORD_CAMERA`: where a user's password is set."""
    return f"SCANTALK_BROKER_PASSWORD_{user.upper()}"


def passwords(
    environ: Mapping[str, str], dotenv: Mapping[str, str | None]
) -> tuple[dict[str, str], list[str]]:
    """Each user's password (the environment wins over the env file, as for settings), and
    the variables that are missing or unusable."""
    found, bad = {}, []
    for user in USERS:
        name = password_variable(user)
        # Stripped, as the nodes' settings strip SCANTALK_MQTT_PASSWORD.
        password = (environ.get(name) or dotenv.get(name) or "").strip()
        # `mosquitto_passwd -U` reads `user:password` lines: a `:` or a line break would cut
        # the password short.
        if len(password) < MIN_LENGTH or ":" in password or not password.isprintable():
            bad.append(name)
        else:
            found[user] = password
    return found, bad


def write_password_file(found: Mapping[str, str], output: Path, tool: str) -> None:
    """Hash the passwords into `output` (mode 0600) with `tool` (mosquitto_passwd), replacing
    the file whole only once done."""
    output.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp makes the file 0600 before a password is in it; `-U` hashes the plain file in
    # place, so no password is ever on a command line, where `ps` would show it.
    fd, name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    plain = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.writelines(f"{user}:{password}\n" for user, password in found.items())
        subprocess.run([tool, "-U", str(plain)], check=True, capture_output=True, text=True)
        plain.chmod(0o600)
        plain.replace(output)
    finally:
        plain.unlink(missing_ok=True)


def acl_topic(channel: Channel, node: str | None = None) -> str:
    """A channel's address as an ACL topic: `+` for each level that varies, the node's own name
    for `{node}`, Home Assistant's default prefix."""
    levels = {"node": node or "+", "prefix": "homeassistant"}
    return re.sub(r"\{(\w+)\}", lambda m: levels.get(m[1], "+"), channel.address)


@dataclass(frozen=True)
class Grants:
    """What one user of the edge broker may do, as ACL topics."""

    writes: list[str]
    reads: list[str]
    everything: bool = False
    """It reads every topic of the lanes (`scantalk/#`) but `denied`, besides `reads`."""
    denied: tuple[str, ...] = ()


def grants(user: str, channels: tuple[Channel, ...]) -> Grants:
    """`user`'s writes and reads on the edge broker, from `channels`."""
    node = user if user in set(NodeName) else None
    writes = [acl_topic(c, node) for c in channels if c.publisher(user)]
    reads = [
        acl_topic(c, use.node or node)
        for c in channels
        if (use := c.reader(user)) and not (user in OUTSIDE and c.address.startswith(ROOT))
    ]
    if user not in OUTSIDE:
        return Grants(writes, reads)
    return Grants(writes, reads, True, tuple(acl_topic(c) for c in channels if c.private))


def acl(channels: tuple[Channel, ...]) -> str:
    """The edge broker's ACL: each user's writes and reads, from `channels`."""
    blocks = []
    for user in USERS:
        granted = grants(user, channels)
        lines = [f"user {user}", *(f"topic deny {t}" for t in granted.denied)]
        lines += [f"topic read {ROOT}/#"] if granted.everything else []
        lines += [f"topic write {t}" for t in granted.writes]
        lines += [f"topic read {t}" for t in granted.reads]
        if user in set(NodeName):
            own = _titles(c for c in channels if user in {u.user for u in c.publishers})
            read = _titles(c for c in channels if c.reader(user)) or "nothing"
            note = f"{user}: writes {own}, its status and stats; reads {read}."
        else:
            note = f"{user}: {OUTSIDE[user]}."
        blocks.append("\n".join([*_comment(note), *lines]))
    return ACL_HEADER + "\n" + "\n\n".join(blocks) + "\n"


def _titles(channels: Iterable[Channel]) -> str:
    return ", ".join(c.title.lower() for c in channels)


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, 94)]


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "The edge broker's users (mosquitto/acl): " + ", ".join(USERS) + "."
    commands = parser.add_subparsers(dest="broker_command", required=True, metavar="COMMAND")
    passwd = commands.add_parser(
        "passwd",
        help="write the broker's password file",
        description=(
            "Write the edge broker's password file, hashed by mosquitto_passwd, from one "
            f"password per user of at least {MIN_LENGTH} characters: "
            + ", ".join(password_variable(user) for user in USERS)
            + " (the environment wins over the env file)."
        ),
    )
    passwd.add_argument("--env", type=Path, default=Path(".env"), help="env file (default .env)")
    passwd.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}"
    )
    commands.add_parser(
        "acl",
        help=f"print the broker's ACL from the channel table (into {ACL_FILE})",
        description=f"Print the edge broker's ACL, generated from the contract's channel table: "
        f"`scantalk broker acl > {ACL_FILE}`.",
    )


def run(args: argparse.Namespace, _settings: Settings) -> int:
    if args.broker_command == "acl":
        sys.stdout.write(acl(lane_channels()))
        return 0
    from dotenv import dotenv_values

    dotenv = dotenv_values(args.env) if args.env.is_file() else {}
    found, bad = passwords(os.environ, dotenv)
    if bad:
        print(
            f"scantalk broker passwd: set {', '.join(bad)} (in {args.env} or the environment) "
            f"to passwords of at least {MIN_LENGTH} characters, without ':'",
            file=sys.stderr,
        )
        return 2
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        print("scantalk broker passwd: needs mosquitto_passwd: apt-get install mosquitto",
              file=sys.stderr)  # fmt: skip
        return 1
    try:
        write_password_file(found, args.output, tool)
    except subprocess.CalledProcessError as exc:
        print(f"scantalk broker passwd: mosquitto_passwd failed: {exc.stderr}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} for {', '.join(USERS)}")
    return 0


COMMAND = Command(
    ("broker",),
    "the edge broker's users: `broker passwd` writes its password file, `broker acl` its ACL",
    run,
    arguments,
)
