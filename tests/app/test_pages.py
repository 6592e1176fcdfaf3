"""The page's routes (`/`, `/static/*`) and `GET /v1/map` on a real index, plus the PCA behind the map."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.phrase_map import MapCache, compute_map, pca_2d
from app.routes.pages import STATIC_DIR
from app.settings import Settings
from index.search import PhraseSearcher
from tests.app.topic_index import PHRASES, TOPICS, build_topic_index


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_topic_index(tmp_path_factory.mktemp("pages"))


@pytest.fixture(scope="module")
def client(index_dir: Path) -> Iterator[TestClient]:
    settings = Settings(index_dir=index_dir, database_url=f"sqlite:///{index_dir.parent / 'mmwe.db'}")
    with TestClient(create_app(settings)) as c:
        yield c


# --- PCA ---------------------------------------------------------------------------------------------------


def test_pca_matches_the_covariance_eigenvectors() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6)) * np.array([5.0, 2.0, 0.5, 0.2, 0.1, 0.1]) + 3.0
    coords, ratios = pca_2d(x.astype(np.float32))
    eigvals, eigvecs = np.linalg.eigh(np.cov(x, rowvar=False, bias=True))
    top = eigvecs[:, ::-1][:, :2]
    expected = (x - x.mean(axis=0)) @ top
    for axis in range(2):  # equal up to the sign of each component
        corr = np.corrcoef(coords[:, axis], expected[:, axis])[0, 1]
        assert abs(corr) > 0.9999
    assert ratios == pytest.approx(tuple(eigvals[::-1][:2] / eigvals.sum()), rel=1e-6)
    assert ratios[0] > 0.8


def test_pca_is_deterministic_and_sign_stable() -> None:
    x = np.random.default_rng(2).normal(size=(50, 8)).astype(np.float32)
    a, _ = pca_2d(x)
    b, _ = pca_2d(x[::-1].copy())
    np.testing.assert_allclose(a[::-1], b, atol=1e-5)


def test_pca_edge_cases() -> None:
    with pytest.raises(ValueError, match="at least 2 rows"):
        pca_2d(np.zeros((1, 4), np.float32))
    coords, ratios = pca_2d(np.zeros((3, 4), np.float32))  # no variance at all
    assert np.allclose(coords, 0) and ratios == (0.0, 0.0)
    coords, ratios = pca_2d(np.array([[0.0], [1.0], [3.0]], np.float32))  # one dimension
    assert coords.shape == (3, 2) and ratios == (1.0, 0.0)


# --- the map on a real index -------------------------------------------------------------------------------


def test_map_takes_the_most_frequent_phrases_and_skips_function_words(index_dir: Path) -> None:
    searcher = PhraseSearcher.load(index_dir)
    result = compute_map(searcher, n=5)
    assert [p.phrase for p in result.points] == ["dog", "puppy", "hound", "cat", "kitten"]
    counts = [p.count for p in result.points]
    assert counts == sorted(counts, reverse=True)
    assert not {"the", "of", "of the"} & {p.phrase for p in result.points}
    everything = compute_map(searcher, n=2000, include_stopwords=True)
    assert len(everything.points) == searcher.num_phrases
    assert everything.points[0].phrase == "the"  # the most frequent entry of the index
    multi = compute_map(searcher, n=2000, min_words=2)
    assert sorted(p.phrase for p in multi.points) == sorted(set(PHRASES) - {"of the"})


def test_map_separates_the_topics(index_dir: Path) -> None:
    searcher = PhraseSearcher.load(index_dir)
    points = {p.phrase: np.array([p.x, p.y]) for p in compute_map(searcher, n=200).points}
    centres = {t: np.mean([points[w] for w in words], axis=0) for t, words in TOPICS.items()}
    for topic, words in TOPICS.items():
        for w in words:
            nearest = min(centres, key=lambda t: float(np.linalg.norm(points[w] - centres[t])))
            assert nearest == topic, w


def test_map_cache_is_per_loaded_index(index_dir: Path) -> None:
    cache = MapCache(max_entries=2)
    first = PhraseSearcher.load(index_dir)
    a = cache.get(first, 10, 1, False)
    assert cache.get(first, 10, 1, False) is a
    cache.get(first, 11, 1, False)
    cache.get(first, 12, 1, False)
    assert cache.get(first, 10, 1, False) is not a, "evicted beyond max_entries"
    reloaded = PhraseSearcher.load(index_dir)
    b = cache.get(first, 10, 1, False)
    assert cache.get(reloaded, 10, 1, False) is not b, "another loaded index never gets a cached map"


def test_map_endpoint(client: TestClient) -> None:
    response = client.get("/v1/map", params={"n": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "pca" and body["index"] == "index"
    assert len(body["points"]) == 5 and body["num_phrases"] >= len(body["points"])
    assert set(body["points"][0]) == {"phrase", "count", "x", "y"}
    assert 0 < body["explained_variance_ratio"][1] <= body["explained_variance_ratio"][0] < 1
    assert client.get("/v1/map", params={"n": 5}).json() == body
    multi = client.get("/v1/map", params={"min_words": 2, "stopwords": "true"}).json()
    assert sorted(p["phrase"] for p in multi["points"]) == sorted(PHRASES)


@pytest.mark.parametrize(
    "params", [{"n": 1}, {"n": 2001}, {"n": 6}, {"min_words": 0}, {"min_words": 5}, {"n": "many"}]
)
def test_map_rejects_bad_parameters(client: TestClient, params: dict[str, object]) -> None:
    response = client.get("/v1/map", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_map_without_an_index_is_503(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "missing", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    with TestClient(create_app(settings)) as c:
        response = c.get("/v1/map")
    assert response.status_code == 503
    assert "missing" in str(response.json()["error"])


# --- the page and its static files -------------------------------------------------------------------------


def test_page_is_served_at_the_root(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for element in (
        'id="query"',
        'id="phrase-a"',
        'id="phrase-b"',
        'id="evaluations-chart"',
        'id="map-chart"',
    ):
        assert element in response.text
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', response.text):
        served = client.get(asset)
        assert served.status_code == 200, asset
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("name", ["missing.js", "..%2Fpages.py", "..%2F..%2Fmain.py", "%2Fetc%2Fpasswd"])
def test_static_serves_only_its_own_files(client: TestClient, name: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 404


def test_static_files_fetch_nothing_from_the_network() -> None:
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'<>)]*", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, f"{path.name} references {urls}"
        assert "import(" not in text and "@import" not in text, path.name


def test_map_variants_are_few_and_all_cached(client: TestClient) -> None:
    """Issue 14: /v1/map accepted 32k parameter combinations, each a new PCA; now every variant fits the
    cache, so a caller cannot make each request compute a map."""
    from app.routes.pages import MAP_VARIANTS

    assert MAP_VARIANTS <= 100
    assert client.get("/v1/map", params={"n": 137}).status_code == 422
    for n in (5, 10, 20):
        assert client.get("/v1/map", params={"n": n}).status_code == 200
    cache = client.app.state.phrase_maps  # type: ignore[attr-defined]
    assert cache.max_entries == MAP_VARIANTS
