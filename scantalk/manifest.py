"""Placeholder: being written."""

from __future__ import annotations

import argparse

from scantalk.settings import Settings


def arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace, settings: Settings) -> int:
    raise NotImplementedError
