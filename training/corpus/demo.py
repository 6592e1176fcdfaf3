"""Readers for the demo corpus: the Tux Paint stamps tree (image + description) and WordNet 3.0 (text only).

Both ship as Debian packages (`tuxpaint-stamps-default`, `wordnet-base`); `python -m training prepare
--source demo` reads them from their default locations below.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from training.corpus.records import Problems, Record

TUXPAINT_DIR = Path("/usr/share/tuxpaint/stamps")
WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
IMAGE_SUFFIXES = (".png", ".svg")


def read_tuxpaint(root: Path, problems: Problems) -> Iterator[Record]:
    """One record per stamp: the first line of `<stem>.txt` describes the sibling `<stem>.png` or `.svg`.

    The image id is the image's path relative to `root`. A description without an image is reported and kept
    as a text-only record; an empty description is reported and skipped.
    """
    root = Path(root)
    for txt in sorted(root.rglob("*.txt")):
        try:
            with open(txt, encoding="utf-8", errors="replace") as f:
                first = f.readline().strip()
        except OSError as exc:
            problems.add(txt, 0, f"unreadable: {exc}", "unreadable file")
            continue
        if not first:
            problems.add(txt, 1, "empty description", "empty description")
            continue
        image = next((p for s in IMAGE_SUFFIXES if (p := txt.with_suffix(s)).is_file()), None)
        if image is None:
            problems.add(txt, 1, "no .png or .svg beside the description; kept as text", "no image")
            yield Record(sentences=[first], key=f"tuxpaint:{txt.relative_to(root)}")
            continue
        image_id = str(image.relative_to(root))
        yield Record(sentences=[first], image_id=image_id, image=str(image))


_QUOTED = re.compile(r'"([^"]*)"')
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")


def parse_wordnet_line(line: str) -> tuple[str, list[str], str] | None:
    """(offset, lemmas, gloss) of one `data.*` line, or None for a licence/header line. Raises ValueError."""
    if line.startswith("  ") or not line.strip():
        return None
    left, bar, gloss = line.partition(" | ")
    fields = left.split()
    if not bar or len(fields) < 6:
        raise ValueError("expected 'offset lex_filenum ss_type w_cnt word lex_id ... | gloss'")
    count = int(fields[3], 16)
    words = fields[4 : 4 + 2 * count : 2]
    if len(words) != count or count == 0:
        raise ValueError(f"w_cnt says {count} lemmas, found {len(words)}")
    return fields[0], [_ADJ_MARKER.sub("", w) for w in words], gloss.strip()


def wordnet_sentences(lemmas: list[str], gloss: str) -> list[str]:
    """The synset's sentences: its lemmas (underscores as spaces), its definition(s), its quoted examples."""
    lemma_text = " ".join(lemma.replace("_", " ") for lemma in lemmas)
    examples = [e.strip() for e in _QUOTED.findall(gloss) if e.strip()]
    definition = _QUOTED.sub(" ", gloss)
    parts = [p.strip(" ;") for p in definition.split(";")]
    return [lemma_text, *[p for p in parts if p], *examples]


def read_wordnet(directory: Path, problems: Problems) -> Iterator[Record]:
    """One text-only record per synset of `data.{noun,verb,adj,adv}`; multi-word lemmas become its phrases."""
    directory = Path(directory)
    for name in WORDNET_FILES:
        path = directory / name
        if not path.is_file():
            problems.add(path, 0, "missing WordNet data file", "missing file")
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                try:
                    parsed = parse_wordnet_line(line.rstrip("\n"))
                except ValueError as exc:
                    problems.add(path, lineno, str(exc), "malformed synset")
                    continue
                if parsed is None:
                    continue
                offset, lemmas, gloss = parsed
                phrases = tuple(lemma.replace("_", " ") for lemma in lemmas if "_" in lemma)
                yield Record(
                    sentences=wordnet_sentences(lemmas, gloss),
                    key=f"wordnet:{name}:{offset}",
                    phrases=phrases,
                )
