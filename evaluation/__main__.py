"""`python -m evaluation <command> ...`: evaluate embeddings on benchmark suites, compare several, and build
triplet benchmarks (`python -m evaluation --help`; each command's `--help` explains its flags).

The commands live in `evaluation/cli.py`; this file only wires them together. Torch-free: it runs wherever
`index/` does (matplotlib is imported only for `compare --chart`).
"""

from __future__ import annotations

import sys

from index import commands

COMMAND_MODULES = ["evaluation.cli"]


CLI = commands.Cli("python -m evaluation", __doc__, COMMAND_MODULES)
build_parser, main = CLI.build_parser, CLI.main

if __name__ == "__main__":
    sys.exit(main())
