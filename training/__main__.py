"""`python -m training <command> ...` — every training-side job. `python -m training --help` lists them.

Each command lives in its own module exposing `add_parser(subparsers)`, which registers the sub-parser and
sets `func(args) -> int` as its default. This file only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that provide commands, in the order --help lists them.
COMMAND_MODULES = [
    "training.corpus.prepare_cli",
    "training.features.cli",
    "training.train",
    "training.word2vec",
    "training.evaluate_cli",
    "training.image_export",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
