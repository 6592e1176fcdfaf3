"""`python -m evaluation <command> ...`: evaluate embeddings on benchmark suites, compare several, and build
triplet benchmarks (`python -m evaluation --help`; each command's `--help` explains its flags).

The commands live in `evaluation/cli.py`; this file only wires them together. Torch-free: it runs wherever
`index/` does (matplotlib is imported only for `compare --chart`).
"""

from __future__ import annotations

import argparse
import sys

from evaluation import cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
