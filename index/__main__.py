"""`python -m index <command> ...`: build, inspect and query phrase indexes (`python -m index --help`).

Each command lives in its own module exposing `add_parser(subparsers)`, which registers the sub-parser and
sets `func(args) -> int` as its default. This file only wires them together; errors the project raises on
purpose (bad input files, corrupt artifacts, bad queries) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from index.errors import MmweError

# Modules that provide commands, in the order --help lists them.
COMMAND_MODULES = [
    "index.cli_build",
    "index.cli_query",
    "index.cli_convert",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m index", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (MmweError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
