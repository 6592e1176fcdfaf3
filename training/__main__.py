"""`python -m training <command> ...` — every training-side job. `python -m training --help` lists them.

Each command lives in its own module exposing `add_parser(subparsers)`, which registers the sub-parser and
sets `func(args) -> int` as its default. This file only wires them together.
"""

from __future__ import annotations

import sys

from index import commands

# Modules that provide commands, in the order --help lists them.
COMMAND_MODULES = [
    "training.corpus.prepare_cli",
    "training.features.cli",
    "training.train_cli",
    "training.word2vec",
    "training.evaluate_cli",
    "training.image_export",
    "training.image_triplets_cli",
    "training.seed_study",
]


CLI = commands.Cli("python -m training", __doc__, COMMAND_MODULES)
build_parser, main = CLI.build_parser, CLI.main

if __name__ == "__main__":
    sys.exit(main())
