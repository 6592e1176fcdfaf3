"""Ranking options and the denylist through the API: route and fast path give the same bytes, batch agrees."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from index.build import BuildConfig, build_index
from index.errors import ArtifactError
from tests.app.conftest import Artifacts, make_settings
from tests.index.conftest import make_embeddings

OPTIONS = [
    {},
    {"compounds": "include"},
    {"compounds": "limit"},
    {"compounds": "exclude"},
    {"exclude_query_words": "true", "compounds": "include"},
    {"min_count": "0"},
    {"min_count": "101"},
    {"popularity": "0"},
    {"popularity": "1"},
    {"collapse": "false"},
    {"min_count": "0", "compounds": "include", "popularity": "0", "collapse": "false"},
]


@pytest.fixture(scope="module")
def clients(fast_and_route: tuple[TestClient, TestClient]) -> tuple[TestClient, TestClient]:
    return fast_and_route


def related(client: TestClient, q: str, **params: str) -> list[dict[str, object]]:
    r = client.get("/v1/related", params={"q": q, "k": "10", **params})
    assert r.status_code == 200, r.text
    hits: list[dict[str, object]] = r.json()["results"]
    return hits


@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: "&".join(f"{k}={v}" for k, v in o.items()) or "default"
)
def test_each_option_same_bytes_on_fast_path_and_route_and_batch(
    clients: tuple[TestClient, TestClient], options: dict[str, str]
) -> None:
    fast, slow = clients
    for q in ("dog", "hot dog", "river"):
        a = fast.get("/v1/related", params={"q": q, "k": 10, **options})
        b = slow.get("/v1/related", params={"q": q, "k": 10, **options})
        assert a.status_code == b.status_code == 200 and a.content == b.content
        body: dict[str, object] = {"queries": [q], "k": 10}
        body.update({k: (v == "true") if v in ("true", "false") else v for k, v in options.items()})
        batch = fast.post("/v1/related/batch", json=body)
        assert batch.status_code == 200, batch.text
        assert batch.json()["results"][0]["results"] == a.json()["results"]


def test_options_do_what_they_say(clients: tuple[TestClient, TestClient]) -> None:
    fast, _ = clients
    raw = related(fast, "dog", min_count="0", compounds="include", popularity="0", collapse="false")
    assert [h["score"] for h in raw] == sorted((h["score"] for h in raw), reverse=True)  # cosine order
    assert any(h["count"] == 0 for h in raw)  # the listed phrases (count 0) show without min_count
    assert all(int(h["count"]) >= 2 for h in related(fast, "dog"))  # the default MMWE_MIN_COUNT is 2
    assert all(int(h["count"]) >= 110 for h in related(fast, "dog", min_count="110"))

    def sharing(**params: str) -> int:
        hits = fast.get("/v1/related", params={"q": "hot dog", "k": 5, "min_count": 0, **params}).json()[
            "results"
        ]
        return sum(1 for h in hits if {"hot", "dog"} & set(h["phrase"].split()))

    assert sharing(compounds="include") >= 2 and sharing() == 1 and sharing(compounds="exclude") == 0
    # the order is cosine + w ln(1 + count), the hit keeping its raw cosine as score
    for w in (0.02, 0.5, 1.0):
        hits = related(fast, "dog", popularity=str(w))
        ranks = [float(h["score"]) + w * math.log1p(int(h["count"])) for h in hits]  # type: ignore[call-overload]
        assert ranks == sorted(ranks, reverse=True)
    assert related(fast, "dog", popularity="1") != related(fast, "dog", popularity="0")


def test_invalid_options_are_422_on_both_paths(clients: tuple[TestClient, TestClient]) -> None:
    for client in clients:
        for bad in ({"compounds": "some"}, {"min_count": "-1"}, {"popularity": "2"}, {"collapse": "maybe"}):
            r = client.get("/v1/related", params={"q": "dog", **bad})
            assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text
        r = client.post("/v1/related/batch", json={"queries": ["dog"], "compounds": "some"})
        assert r.status_code == 422


@pytest.fixture(scope="module")
def child_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built WITHOUT the denylist, holding "child pornography": only the query-time list can stop it."""
    root = tmp_path_factory.mktemp("child")
    emb = make_embeddings(root / "emb", ["child", "care", "pornography", "prodigy", "kid", "toy", "school"])
    listed = root / "phrases.txt"
    listed.write_text(
        "child pornography\t50\nchild care\t40\nchild prodigy\t30\nkid toy\t20\n", encoding="utf-8"
    )
    config = BuildConfig(factory="Flat", progress=False, denylist="none")
    build_index(emb, root / "index", phrase_files=[listed], config=config)
    return root / "index"


def served(artifacts: Artifacts, sqlite_url: str, index: Path, denylist: str, fast_path: bool) -> list[str]:
    settings = make_settings(artifacts, sqlite_url, index_dir=index, denylist=denylist, fast_path=fast_path)
    with TestClient(create_app(settings)) as c:
        params = {"compounds": "include", "min_count": "0"}
        hits = [str(h["phrase"]) for h in related(c, "child", **params)]
        batch = c.post("/v1/related/batch", json={"queries": ["child"], **params}).json()["results"][0][
            "results"
        ]
        assert [h["phrase"] for h in batch] == hits
        return hits


@pytest.mark.parametrize("fast_path", [True, False])
def test_denylist_default_custom_and_none(
    artifacts: Artifacts, sqlite_url: str, child_index: Path, tmp_path: Path, fast_path: bool
) -> None:
    default = served(artifacts, sqlite_url, child_index, "default", fast_path)
    assert default and "child pornography" not in default and "pornography" not in default
    assert "child pornography" in served(artifacts, sqlite_url, child_index, "none", fast_path)
    mine = tmp_path / "deny.txt"
    mine.write_text("# ours\nprodigy\n", encoding="utf-8")
    custom = served(artifacts, sqlite_url, child_index, str(mine), fast_path)
    assert "child prodigy" not in custom and "child pornography" in custom


def test_a_missing_denylist_file_stops_the_start(
    artifacts: Artifacts, sqlite_url: str, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactError, match="nowhere.txt"):
        create_app(make_settings(artifacts, sqlite_url, denylist=str(tmp_path / "nowhere.txt")))
