"""The wiring shared by the package CLIs (`python -m index|evaluation|training`): each command lives in a
module exposing `add_parser(subparsers)`, which registers its sub-parser and sets `func(args) -> int`.

    parser = build_parser("python -m index", __doc__, ["index.cli_build", "index.cli_query"])
    sys.exit(run(parser, argv))
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from index.errors import MmweError


def build_parser(prog: str, description: str | None, modules: Sequence[str]) -> argparse.ArgumentParser:
    """A parser with one sub-command per `add_parser` of `modules`, in that order (as --help lists them)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in modules:
        importlib.import_module(name).add_parser(sub)
    return parser


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None, *, guard: bool = False) -> int:
    """Parse `argv` and run the chosen command; `guard`: errors the project raises on purpose (MmweError,
    ValueError) print one line on stderr and give exit status 2 instead of a traceback."""
    args = parser.parse_args(argv)
    if not guard:
        return int(args.func(args) or 0)
    try:
        return int(args.func(args) or 0)
    except (MmweError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


class Cli:
    """One package's CLI: `build_parser()` (also used by tests/test_compose.py) and `main(argv)`."""

    def __init__(self, prog: str, description: str | None, modules: Sequence[str], *, guard: bool = False):
        self.prog, self.description, self.modules, self.guard = prog, description, modules, guard

    def build_parser(self) -> argparse.ArgumentParser:
        return build_parser(self.prog, self.description, self.modules)

    def main(self, argv: list[str] | None = None) -> int:
        return run(self.build_parser(), argv, guard=self.guard)
