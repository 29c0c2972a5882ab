"""The edge broker's users (`mosquitto/acl`) and `scantalk broker passwd`, which writes its
password file from one password per user, kept in the (ignored) `.env` or the environment.

The file is hashed by Mosquitto's own `mosquitto_passwd`, so the broker reads it as it reads
its own. Only the standard library at the top: the CLI imports this for `--help`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from scantalk.contract import NodeName
from scantalk.settings import Settings

USERS = (*(str(node) for node in NodeName), "checkout", "homeassistant")
"""Every user of the edge broker: one per node (its SCANTALK_MQTT_USERNAME), `checkout` for
third parties and `homeassistant`. `mosquitto/acl` grants each its topics."""
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


def run(args: argparse.Namespace, _settings: Settings) -> int:
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
