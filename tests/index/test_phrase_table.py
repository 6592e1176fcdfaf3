"""index/phrase_table.py: the vectorised ranking filters give exactly what index.ranking.select gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.phrase_table import PAD, PhraseTable
from index.ranking import Ranking, load_denylist, read_denylist, select

WORDS = ["dog", "dogs", "hot", "cat", "cats", "of", "the", "child", "children", "park", "bad", "word", "box"]
PHRASES = sorted(
    {" ".join(p) for p in ([a] for a in WORDS)}
    | {f"{a} {b}" for a in WORDS for b in WORDS if a != b}
    | {"hot dog stand", "bad word here", "dog of the park", "the bad word", "word bad dog"}
)


def reference(table: PhraseTable, query: list[str], ids: np.ndarray, k: int, ranking: Ranking, fill: bool):
    ordered = [(table.phrases[i], 0.0, 5) for i in ids.tolist()]
    return [c[0] for c in select(query, ordered, k, ranking, fill)]


def vectorised(table: PhraseTable, query: list[str], ids: np.ndarray, k: int, ranking: Ranking, fill: bool):
    keep = table.select(table.match(query), ids, k, ranking, fill)
    return [table.phrases[int(ids[j])] for j in keep.tolist()]


def test_rows_fold_plurals_and_sort(tmp_path: Path) -> None:
    table = PhraseTable.build(["hot dogs", "dog hot", "children", "hot dog stand"])
    assert (table.rows[0] == table.rows[1]).all()
    assert table.rows[2][0] == PAD and table.rows[2][-1] == table.folded_ids["child"]
    assert table.rows.shape == (4, 3) and table.nbytes == 4 * 3 * 4 + 4 * 8


DENY_FILE_LINES = "bad\nword bad\nhot dog stand\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    query=st.lists(st.sampled_from(WORDS + ["unknown"]), min_size=0, max_size=3),
    picks=st.lists(st.integers(0, len(PHRASES) - 1), min_size=0, max_size=60),
    k=st.integers(1, 12),
    compounds=st.sampled_from(["include", "limit", "exclude"]),
    collapse=st.booleans(),
    deny=st.booleans(),
    fill=st.booleans(),
    share=st.sampled_from([0.0, 0.3, 0.5]),
    packed=st.booleans(),
)
def test_select_matches_the_reference(
    tmp_path: Path,
    query: list[str],
    picks: list[int],
    k: int,
    compounds: str,
    collapse: bool,
    deny: bool,
    fill: bool,
    share: float,
    packed: bool,
) -> None:
    table = PhraseTable.build(PHRASES)
    assert table.keys is not None
    if not packed:  # the fallback for folded vocabularies too large to pack a row in an int64
        table._weights = table.keys = None
    path = tmp_path / "deny.txt"
    path.write_text(DENY_FILE_LINES)
    denylist = read_denylist(path) if deny else None
    ranking = Ranking(
        compounds=compounds,  # type: ignore[arg-type]
        collapse=collapse,
        denylist=denylist,
        compound_share=share,
    )
    ids = np.array(picks, np.int64)
    assert vectorised(table, query, ids, k, ranking, fill) == reference(table, query, ids, k, ranking, fill)


def test_default_denylist_mask_matches_phrase_by_phrase() -> None:
    deny = load_denylist("default")
    assert deny is not None
    phrases = ["child pornography", "child", "happy child", "park", *sorted(deny.words)[:20]]
    table = PhraseTable.build(phrases)
    assert table.blocked(deny).tolist() == [deny.blocks_text(p) for p in phrases]
    assert table.blocked(deny) is table.blocked(deny)  # cached per denylist
