"""`python -m index <command> ...`: build, inspect and query phrase indexes (`python -m index --help`).

Each command lives in its own module exposing `add_parser(subparsers)`, which registers the sub-parser and
sets `func(args) -> int` as its default. This file only wires them together; errors the project raises on
purpose (bad input files, corrupt artifacts, bad queries) print one line and exit with status 2.
"""

from __future__ import annotations

import sys

from index import commands

# Modules that provide commands, in the order --help lists them.
COMMAND_MODULES = [
    "index.cli_build",
    "index.cli_query",
]


CLI = commands.Cli("python -m index", __doc__, COMMAND_MODULES, guard=True)
build_parser, main = CLI.build_parser, CLI.main

if __name__ == "__main__":
    sys.exit(main())
