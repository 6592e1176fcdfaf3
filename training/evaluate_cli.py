"""Aliases kept for one release: `python -m training evaluate|compare|build-triplets` moved to
`python -m evaluation evaluate|compare|build-triplets` (evaluation/cli.py, docs/evaluation.md).

The aliases run the same code with the same flags; their help says where they moved, and each run prints a
one-line note on stderr.
"""

from __future__ import annotations

import argparse

from evaluation import cli


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cli.add_parser(subparsers, alias=True)
