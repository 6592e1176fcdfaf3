"""`python -m evaluation evaluate|compare|build-triplets`: the evaluation library on the command line.

    python -m evaluation evaluate runs/a/embeddings     # built-in suite: WS353, SimLex-999, analogies
    python -m evaluation evaluate runs/a/embeddings --triplets my.tsv --out a.json
    python -m evaluation compare runs/text/embeddings runs/a/embeddings --suite s.json --format markdown
    python -m evaluation compare runs/text/embeddings runs/a/embeddings --chart compare.png   # + a PNG chart
    python -m evaluation build-triplets clicks clicks.tsv -o triplets.tsv --top-k 3 --seed 0
    python -m evaluation build-triplets clicks --database "$DATABASE_URL" --since 2026-12-01 -o clicks.tsv
    python -m evaluation build-triplets pairs ws353.tsv -o ws_triplets.tsv --high 7 --low 3

The service runs the same `run_suite`, so its numbers equal these. Formats: docs/evaluation.md.
`python -m training evaluate|compare|build-triplets` are aliases of these commands (kept for one release).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from evaluation import (
    BUILTIN_SUITES,
    BenchmarkSpec,
    DatasetCache,
    SuiteResult,
    build_table,
    read_pairs_csv,
    read_pairs_tsv,
    render_table,
    resolve_suite,
    run_suite,
)
from evaluation.builder import (
    ClickConfig,
    read_clicks,
    read_phrase_pool,
    triplets_from_clicks,
    triplets_from_pairs,
    write_triplets,
)
from evaluation.compare import FORMATS
from index.artifacts import atomic_write, load_embeddings
from index.errors import MmweError


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file (ending in a newline) atomically, so a failed run leaves the old file intact."""
    with atomic_write(path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def _suite_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--suite",
        help=f"built-in suite ({', '.join(sorted(BUILTIN_SUITES))}) or a suite JSON file; "
        "default: 'default' unless benchmark files are given with the flags below",
    )
    parser.add_argument("--triplets", action="append", default=[], metavar="PATH", help="add a triplet file")
    parser.add_argument(
        "--similarity",
        action="append",
        default=[],
        metavar="PATH",
        help="add a graded-pair file (.csv or tsv)",
    )
    parser.add_argument(
        "--analogy",
        action="append",
        default=[],
        metavar="PATH",
        help="add an analogy file (questions-words format)",
    )
    parser.add_argument("--threads", type=int, default=2, help="threads for triplet scoring (default 2)")


def suite_from_args(args: argparse.Namespace) -> tuple[str, list[BenchmarkSpec]]:
    """The suite named by --suite plus the files given with --triplets/--similarity/--analogy."""
    extra = [
        BenchmarkSpec(Path(p).stem, kind, p)
        for kind, paths in (
            ("triplets", args.triplets),
            ("similarity", args.similarity),
            ("analogy", args.analogy),
        )
        for p in paths
    ]
    if args.suite is None and extra:
        return "files", resolve_suite(extra)[1]
    name, specs = resolve_suite(args.suite or "default")
    if extra:
        name, specs = f"{name}+files", resolve_suite([*specs, *extra])[1]  # resolve_suite checks unique names
    return name, specs


class _Progress:
    """A tqdm bar over benchmarks, fed by run_suite's progress callback (called as each benchmark starts)."""

    def __init__(self, total: int, desc: str, quiet: bool) -> None:
        self.bar = tqdm(total=total, desc=desc, unit="benchmark", file=sys.stderr, disable=quiet)
        self.started = False

    def __call__(self, benchmark: str) -> None:
        if self.started:
            self.bar.update(1)
        self.started = True
        self.bar.set_postfix_str(benchmark)

    def finish(self) -> None:
        if self.started:
            self.bar.update(1)
        self.started = False


def _summary(result: SuiteResult) -> str:
    lines = [f"suite: {result.suite}   embeddings: {result.embeddings_path}"]
    for b in result.benchmarks:
        value = b.primary
        shown = "n/a" if value is None else f"{value:.4f}"
        coverage = b.metrics.get("coverage")
        cov = "n/a" if coverage is None else f"{coverage:.1%}"
        counts = ", ".join(f"{k}={v}" for k, v in b.counts.items())
        lines.append(f"  {b.name:<20} {b.primary_metric:<9} {shown:>7}   coverage {cov:>6}   {counts}")
        low, high = b.metrics.get("ci95_low"), b.metrics.get("ci95_high")
        if low is not None and high is not None:
            lines.append(f"  {'':<20} 95% CI    [{low:.4f}, {high:.4f}]")
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    name, specs = suite_from_args(args)
    embeddings = load_embeddings(Path(args.embeddings), verify=args.verify)
    progress = _Progress(len(specs), "evaluate", args.quiet)
    result = run_suite(embeddings, specs, threads=args.threads, progress=progress, name=name)
    progress.finish()
    progress.bar.close()
    if args.out:
        write_text_atomic(Path(args.out), result.to_json())
    print(result.to_json() if args.format == "json" else _summary(result))
    return 0


def _label(path: Path) -> str:
    return (
        path.stem
        if path.suffix == ".json"
        else (path.name if path.name != "embeddings" else path.parent.name)
    )


def cmd_compare(args: argparse.Namespace) -> int:
    if args.label and len(args.label) != len(args.inputs):
        raise ValueError(f"{len(args.label)} --label values for {len(args.inputs)} inputs")
    name, specs = suite_from_args(args)
    datasets = DatasetCache()  # each benchmark file is parsed once for all embeddings
    rows: list[tuple[str, SuiteResult]] = []
    for i, raw in enumerate(args.inputs):
        path = Path(raw)
        if path.is_file() and path.suffix == ".json":
            result = SuiteResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
        else:
            embeddings = load_embeddings(path)
            progress = _Progress(len(specs), path.name, args.quiet)
            result = run_suite(
                embeddings, specs, datasets=datasets, threads=args.threads, progress=progress, name=name
            )
            progress.finish()
            progress.bar.close()
            if args.results_dir:
                write_text_atomic(Path(args.results_dir) / f"{i:02d}-{_label(path)}.json", result.to_json())
        rows.append((args.label[i] if args.label else _label(path), result))
    table = build_table(rows)
    text = render_table(table, args.format)
    if args.out:
        write_text_atomic(Path(args.out), text)
    if args.chart:
        from evaluation.charts import comparison_chart  # matplotlib only when a chart is asked for

        comparison_chart(table, Path(args.chart))
    print(text)
    return 0


def cmd_build_clicks(args: argparse.Namespace) -> int:
    config = ClickConfig(
        top_k=args.top_k,
        min_clicks=args.min_clicks,
        min_impressions=args.min_impressions,
        negatives=args.negatives,
        max_tries=args.max_tries,
        seed=args.seed,
    )
    if (args.log is None) == (args.database is None):
        raise ValueError("give a click log file or --database DATABASE_URL (one of them)")
    if args.database is None and (args.since or args.until):
        raise ValueError("--since and --until select feedback in the database: use them with --database")
    extra: dict[str, object] = {}
    if args.database is not None:
        from evaluation.feedback_db import parse_time, read_feedback  # SQLAlchemy only when used

        since = parse_time(args.since) if args.since else None
        until = parse_time(args.until) if args.until else None
        clicks, records = read_feedback(args.database, since, until)
        extra = {"feedback_records": records}
    else:
        clicks = read_clicks(Path(args.log))
    pool = read_phrase_pool(Path(args.pool)) if args.pool else None
    triplets, stats = triplets_from_clicks(clicks, config, pool)
    write_triplets(Path(args.out), triplets)
    print(json.dumps({"out": args.out, **extra, **stats.to_dict()}, indent=2, sort_keys=True))
    return 0


def cmd_build_pairs(args: argparse.Namespace) -> int:
    path = Path(args.pairs)
    fmt = args.format or ("csv" if path.suffix.lower() == ".csv" else "tsv")
    if fmt == "csv":
        pairs = read_pairs_csv(
            path, word1=args.word1, word2=args.word2, score=args.score, delimiter=args.delimiter or ","
        )
    else:
        pairs = read_pairs_tsv(path, delimiter=args.delimiter or "\t")
    triplets, stats = triplets_from_pairs(pairs, high=args.high, low=args.low, symmetric=not args.one_way)
    write_triplets(Path(args.out), triplets)
    print(json.dumps({"out": args.out, **stats.to_dict()}, indent=2, sort_keys=True))
    return 0


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn the library's expected errors into one clear line on stderr and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (MmweError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


def _moved(func: Callable[[argparse.Namespace], int], command: str) -> Callable[[argparse.Namespace], int]:
    """`func`, first printing on stderr that the command moved to `python -m evaluation`."""

    def run(args: argparse.Namespace) -> int:
        print(f"note: this command moved to `python -m evaluation {command}`", file=sys.stderr)
        return func(args)

    return run


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], *, alias: bool = False
) -> None:
    """Register evaluate, compare and build-triplets. `alias=True` (for `python -m training`) marks each
    command as moved to `python -m evaluation` in its help and on stderr when it runs."""

    def add(
        parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str, description: str
    ) -> argparse.ArgumentParser:
        if alias:
            note = f"moved to `python -m evaluation {name}`; this alias is kept for one release"
            help, description = f"{help} ({note})", f"{description} Note: {note}."
        return parent.add_parser(name, help=help, description=description)

    Command = Callable[[argparse.Namespace], int]

    def guarded(func: Command, command: str) -> Command:
        return _moved(_guarded(func), command) if alias else _guarded(func)

    ev = add(
        subparsers,
        "evaluate",
        "evaluate one embeddings artifact on a benchmark suite",
        "Run a benchmark suite on an embeddings artifact and print (or save) the metrics.",
    )
    ev.add_argument("embeddings", help="embeddings artifact directory (mmwe.embeddings)")
    _suite_arguments(ev)
    ev.add_argument("--out", help="also write the full result as JSON to this file (atomically)")
    ev.add_argument("--format", choices=("text", "json"), default="text", help="what to print (default text)")
    ev.add_argument("--verify", action="store_true", help="check the artifact's sha256 checksums first")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=guarded(cmd_evaluate, "evaluate"))

    cmp = add(
        subparsers,
        "compare",
        "compare several embeddings on one suite (a table like the paper's Table 3)",
        "Evaluate several embeddings on the same suite and print one table: a row per "
        "embeddings, a column per benchmark (its headline metric), and the dimension.",
    )
    cmp.add_argument(
        "inputs", nargs="+", help="embeddings directories, or result .json files written by `evaluate --out`"
    )
    cmp.add_argument(
        "--label", action="append", help="row label per input, in order (default: directory name)"
    )
    _suite_arguments(cmp)
    cmp.add_argument("--format", choices=FORMATS, default="text", help="table format (default text)")
    cmp.add_argument("--out", help="also write the table to this file")
    cmp.add_argument("--chart", help="also draw the table as a PNG bar chart (matplotlib) to this file")
    cmp.add_argument("--results-dir", help="also save each embeddings' full result JSON in this folder")
    cmp.add_argument("--quiet", action="store_true", help="no progress bars")
    cmp.set_defaults(func=guarded(cmd_compare, "compare"))

    build = add(
        subparsers,
        "build-triplets",
        "build a triplet benchmark from a click log or from graded pairs",
        "Write a triplet benchmark (base, positive, negative per line) and print statistics.",
    )
    kinds = build.add_subparsers(dest="source", required=True, metavar="SOURCE")
    clicks = kinds.add_parser(
        "clicks",
        help="from a click log (query<TAB>phrase<TAB>clicks[<TAB>impressions]) or the service's feedback, "
        "the paper's procedure",
        description="Per query, rank phrases by total clicks; the top ones are positives, minus those "
        "sharing a stemmed word with the query; each negative is drawn from the phrase pool and shares no "
        "stemmed word with the query or the positive. Deterministic for a given --seed.",
    )
    clicks.add_argument(
        "log",
        nargs="?",
        help="click log: query<TAB>phrase<TAB>clicks[<TAB>impressions] per line (optional header), e.g. "
        "the service's GET /v1/admin/feedback/export",
    )
    clicks.add_argument(
        "--database",
        metavar="DATABASE_URL",
        help="read the service's feedback table (POST /v1/feedback) at this SQLAlchemy URL, not a log",
    )
    clicks.add_argument("--since", help="with --database: feedback created at or after this ISO 8601 time")
    clicks.add_argument("--until", help="with --database: feedback created before this ISO 8601 time")
    clicks.add_argument("-o", "--out", required=True, help="triplet file to write")
    clicks.add_argument(
        "--pool", help="negative pool: one phrase per line (default: every phrase in the log)"
    )
    clicks.add_argument("--top-k", type=int, default=3, help="positives per query before the stem filter (3)")
    clicks.add_argument(
        "--min-clicks", type=int, default=1, help="ignore phrases with fewer total clicks (1)"
    )
    clicks.add_argument(
        "--min-impressions",
        type=int,
        default=0,
        help="ignore phrases shown fewer times with the query (0; a log without impressions: its clicks)",
    )
    clicks.add_argument("--negatives", type=int, default=1, help="negatives (triplets) per positive (1)")
    clicks.add_argument(
        "--max-tries", type=int, default=100, help="draws per negative before giving up (100)"
    )
    clicks.add_argument("--seed", type=int, default=0, help="random seed for negative sampling (0)")
    clicks.set_defaults(func=guarded(cmd_build_clicks, "build-triplets clicks"))

    pairs = kinds.add_parser(
        "pairs",
        help="from graded pairs (high-score partner = positive, low-score partner = negative)",
        description="For each base term, partners scored >= --high are positives and partners scored "
        "<= --low negatives; every positive is paired with every negative.",
    )
    pairs.add_argument(
        "pairs", help="graded pairs: gensim tsv (term1<TAB>term2<TAB>score) or CSV with a header"
    )
    pairs.add_argument("-o", "--out", required=True, help="triplet file to write")
    pairs.add_argument("--high", type=float, required=True, help="minimum score of a positive partner")
    pairs.add_argument("--low", type=float, required=True, help="maximum score of a negative partner")
    pairs.add_argument(
        "--format", choices=("tsv", "csv"), help="input format (default: csv for .csv, else tsv)"
    )
    pairs.add_argument("--word1", default="word1", help="CSV column of the first term (word1)")
    pairs.add_argument("--word2", default="word2", help="CSV column of the second term (word2)")
    pairs.add_argument("--score", default="score", help="CSV column of the score (score)")
    pairs.add_argument("--delimiter", help="field delimiter (default: tab for tsv, comma for csv)")
    pairs.add_argument("--one-way", action="store_true", help="use each pair only with term1 as the base")
    pairs.set_defaults(func=guarded(cmd_build_pairs, "build-triplets pairs"))
