"""Several named models (MMWE_INDEXES): `?model=` on every query route, unknown names, /v1/info, /readyz,
/metrics, per-model reload, `GET /v1/compare`, and the A/B split of `GET /v1/related` (MMWE_AB_SPLIT),
through the fast path and the route alike."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.main import create_app
from app.registry import ModelRegistry, bucket
from app.schemas import CompareResponse, RelatedResponse
from app.settings import Settings
from tests.app.conftest import AUTH, Artifacts, make_settings, serve

MODELS = "flat=index-flat,hnsw=index-hnsw"  # relative: under MMWE_DATA_DIR


def models_app(artifacts: Artifacts, url: str, **overrides: object) -> FastAPI:
    return create_app(make_settings(artifacts, url, indexes=MODELS, **overrides))


@pytest.fixture
def mclient(artifacts: Artifacts, sqlite_url: str) -> Iterator[TestClient]:
    with TestClient(models_app(artifacts, sqlite_url), raise_server_exceptions=False) as c:
        yield c


def error_code(r: Any) -> str:
    body = r.json()
    return str(body["error"]["code"])


def test_settings_parse_and_refuse_bad_model_lists(artifacts: Artifacts, tmp_path: Path) -> None:
    s = Settings(data_dir=artifacts.root, indexes=MODELS, ab_split="flat:90, hnsw:10")
    assert list(s.models) == ["flat", "hnsw"] and s.models["hnsw"] == artifacts.index_hnsw.resolve()
    assert s.split == [("flat", 90), ("hnsw", 10)]
    assert list(Settings(data_dir=artifacts.root).models) == ["default"]  # unset: one model, as before
    bad = [
        {"indexes": "Flat=index-flat"},  # upper case
        {"indexes": "flat=index-flat,flat=index-hnsw"},  # twice
        {"indexes": "flat"},  # no directory
        {"indexes": f"x={tmp_path}"},  # outside MMWE_DATA_DIR and MMWE_INDEX_ROOTS
        {"indexes": "up=../../etc"},  # relative, escaping the data directory
        {"indexes": "a" * 33 + "=index-flat"},
        {"indexes": MODELS, "ab_split": "flat:90,other:10"},  # not served
        {"indexes": MODELS, "ab_split": "flat:x"},
        {"indexes": MODELS, "ab_split": "flat:0,hnsw:0"},
        {"ab_split": "default:-1"},
    ]
    for values in bad:
        with pytest.raises(ValidationError):
            Settings(data_dir=artifacts.root, **values)  # type: ignore[arg-type]
    allowed = Settings(data_dir=tmp_path, index_roots=[artifacts.root], indexes=f"x={artifacts.index}")
    assert allowed.models == {"x": artifacts.index.resolve()}


def test_model_parameter_on_every_query_route(mclient: TestClient) -> None:
    listed = {"q": "purple", "k": 40, "min_count": 0}  # "purple horse" is only in the HNSW index
    default = mclient.get("/v1/related", params=listed)
    assert default.status_code == 200 and default.headers["x-mmwe-model"] == "flat"
    assert (
        default.json()["served_by"]["model"] == "flat"
        and default.json()["served_by"]["index"] == "index-flat"
    )
    assert "purple horse" not in [h["phrase"] for h in default.json()["results"]]
    other = mclient.get("/v1/related", params={**listed, "model": "hnsw"})
    assert other.status_code == 200 and other.headers["x-mmwe-model"] == "hnsw"
    assert other.json()["served_by"]["model"] == "hnsw" and other.json()["assignment"] is None
    assert "purple horse" in [h["phrase"] for h in other.json()["results"]]
    for path, params, method in (
        ("/v1/related/batch", {"model": "hnsw"}, "POST"),
        ("/v1/similarity", {"a": "dog", "b": "puppy", "model": "hnsw"}, "GET"),
        ("/v1/vector", {"q": "dog", "model": "hnsw"}, "GET"),
        ("/v1/map", {"n": 200, "model": "hnsw"}, "GET"),
        ("/v1/info", {"model": "hnsw"}, "GET"),
    ):
        r = mclient.request(
            method, path, params=params, json={"queries": ["dog"]} if method == "POST" else None
        )
        assert r.status_code == 200, (path, r.text)
        body = r.json()
        if path == "/v1/map":
            assert body["index"] == "index-hnsw"
        elif path == "/v1/info":
            assert body["index"]["factory"].startswith("HNSW")
        else:
            assert body["served_by"]["model"] == "hnsw", path
    assert mclient.get("/v1/info").json()["index"]["factory"] == "Flat"


def test_unknown_model_is_a_404_listing_the_served_ones(mclient: TestClient) -> None:
    for method, path, params in (
        ("GET", "/v1/related", {"q": "dog", "model": "nope"}),
        ("GET", "/v1/similarity", {"a": "dog", "b": "cat", "model": "nope"}),
        ("GET", "/v1/vector", {"q": "dog", "model": "nope"}),
        ("GET", "/v1/map", {"model": "nope"}),
        ("GET", "/v1/info", {"model": "nope"}),
        ("GET", "/v1/compare", {"q": "dog", "models": "flat,nope"}),
        ("POST", "/v1/related/batch", {"model": "nope"}),
    ):
        r = mclient.request(
            method, path, params=params, json={"queries": ["dog"]} if method == "POST" else None
        )
        assert r.status_code == 404, (path, r.text)
        assert error_code(r) == "unknown_model" and r.json()["error"]["detail"] == {
            "models": ["flat", "hnsw"]
        }
    r = mclient.post("/v1/admin/reload", json={"index_dir": "index-flat", "model": "nope"}, headers=AUTH)
    assert r.status_code == 404 and error_code(r) == "unknown_model"


def test_info_readyz_and_metrics_show_each_model(mclient: TestClient) -> None:
    info = mclient.get("/v1/info").json()
    assert [(m["name"], m["default"], m["index"]) for m in info["models"]] == [
        ("flat", True, "index-flat"),
        ("hnsw", False, "index-hnsw"),
    ]
    assert info["models"][1]["num_phrases"] > info["models"][0]["num_phrases"]
    ready = mclient.get("/readyz").json()
    assert ready["ready"] and set(ready["models"]) == {"flat", "hnsw"}
    assert all(c["ok"] for c in ready["models"].values())
    metrics = mclient.get("/metrics").text
    for name in ("flat", "hnsw"):
        assert f'mmwe_model_phrases{{model="{name}"}}' in metrics
        assert f'mmwe_model_generation{{model="{name}",' in metrics


def test_reload_of_one_model_leaves_the_others(mclient: TestClient, artifacts: Artifacts) -> None:
    r = mclient.post("/v1/admin/reload", json={"index_dir": "index-flat", "model": "hnsw"}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["index"]["factory"] == "Flat" and r.json()["previous"] == str(artifacts.index_hnsw)
    both = {m["name"]: m for m in mclient.get("/v1/info").json()["models"]}
    assert both["hnsw"]["index"] == "index-flat" and both["hnsw"]["generation"] == 1
    assert both["flat"]["index"] == "index-flat" and both["flat"]["generation"] == 0
    default = mclient.post("/v1/admin/reload", json={"index_dir": "index-hnsw"}, headers=AUTH)  # the first
    assert default.status_code == 200
    assert mclient.get("/v1/related", params={"q": "dog"}).json()["served_by"]["index"] == "index-hnsw"


def test_compare_puts_models_side_by_side(mclient: TestClient) -> None:
    params = {"q": "purple", "k": 10, "min_count": 0, "models": "flat,hnsw"}
    r = mclient.get("/v1/compare", params=params)
    assert r.status_code == 200, r.text
    body = CompareResponse.model_validate(r.json())
    assert [m.model for m in body.models] == ["flat", "hnsw"]
    for m in body.models:  # each side is exactly what /v1/related answers with the same options
        alone = RelatedResponse.model_validate(
            mclient.get(
                "/v1/related", params={"q": "purple", "k": 10, "min_count": 0, "model": m.model}
            ).json()
        )
        assert m.results == alone.results and m.served_by == alone.served_by
    a, b = ({h.phrase for h in m.results} for m in body.models)
    assert body.overlap.shared == sorted(a & b)
    assert body.overlap.jaccard == pytest.approx(len(a & b) / len(a | b))
    assert [(p.a, p.b, p.shared) for p in body.overlap.pairs] == [("flat", "hnsw", len(a & b))]
    assert "purple horse" in b - a  # only in the HNSW index
    everyone = mclient.get("/v1/compare", params={"q": "dog"}).json()  # default: every model
    assert [m["model"] for m in everyone["models"]] == ["flat", "hnsw"]
    one = mclient.get("/v1/compare", params={"q": "dog", "models": "hnsw"}).json()
    assert one["overlap"]["jaccard"] == 1.0 and one["overlap"]["pairs"] == []
    for bad, status in (({"q": ""}, 400), ({"q": "dog", "models": ","}, 400), ({"q": "dog", "k": 0}, 422)):
        assert mclient.get("/v1/compare", params=bad).status_code == status, bad
    unknown = mclient.get("/v1/compare", params={"q": "zebra"})
    assert unknown.status_code == 422 and error_code(unknown) == "unanswerable_query"


def test_split_is_deterministic_by_client_and_follows_the_weights() -> None:
    holders: dict[str, Any] = {"a": object(), "w2v": object()}
    registry = ModelRegistry(holders, [("a", 90), ("w2v", 10)])
    assert registry.assign("user-1") == registry.assign("user-1")
    assert bucket("user-1", 100) == bucket("user-1", 100)  # no per-process salt: every worker agrees
    counts = Counter(registry.assign(f"client-{i}") for i in range(20_000))
    assert 0.085 <= counts["w2v"] / 20_000 <= 0.115, counts  # 10% +- 1.5 points (binomial sd 0.2)
    randoms = Counter(registry.assign(None) for _ in range(20_000))
    assert 0.085 <= randoms["w2v"] / 20_000 <= 0.115, randoms
    assert registry.choose("w2v", "user-1")[2] is None  # an explicit model: no assignment
    assert ModelRegistry(holders, [("a", 0), ("w2v", 5)]).assign("anyone") == "w2v"
    assert ModelRegistry(holders).assign("anyone") is None


@pytest.fixture(scope="module")
def split_apps(
    artifacts: Artifacts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, TestClient]]:
    """A 50:50 split, with and without the fast path."""
    from app.db.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('split') / 'app.db'}"
    upgrade(url)
    fast = models_app(artifacts, url, ab_split="flat:50,hnsw:50", fast_path=True)
    slow = models_app(artifacts, url, ab_split="flat:50,hnsw:50", fast_path=False)
    with (
        TestClient(fast, raise_server_exceptions=False) as f,
        TestClient(slow, raise_server_exceptions=False) as s,
    ):
        yield f, s


def test_split_assigns_related_requests_and_says_so(split_apps: tuple[TestClient, TestClient]) -> None:
    fast, slow = split_apps
    seen: dict[str, str] = {}
    for i in range(40):
        client = f"user-{i}"
        r = fast.get("/v1/related", params={"q": "dog"}, headers={"X-Client-Id": client})
        body = r.json()
        assert r.headers["x-mmwe-model"] == body["served_by"]["model"] == body["assignment"]
        seen[client] = body["assignment"]
        again = slow.get("/v1/related", params={"q": "dog", "session": client})  # the same id as a parameter
        assert again.json()["assignment"] == seen[client]
    assert set(seen.values()) == {"flat", "hnsw"}
    named = fast.get("/v1/related", params={"q": "dog", "model": "hnsw"}, headers={"X-Client-Id": "user-1"})
    assert named.json()["assignment"] is None and named.headers["x-mmwe-model"] == "hnsw"


def test_feedback_records_the_model_and_arm_that_served(
    split_apps: tuple[TestClient, TestClient], artifacts: Artifacts
) -> None:
    """What a front end does: send back `served_by.model` and `assignment` of the answer it showed."""
    from app.db.models import Feedback

    fast, _ = split_apps
    sent = []
    for client in ("user-1", "user-2", "user-3", "user-4"):
        body = fast.get("/v1/related", params={"q": "dog", "k": 3}, headers={"X-Client-Id": client}).json()
        shown = [h["phrase"] for h in body["results"]]
        item = {"query": "dog", "shown": shown, "clicked": shown[:1], "session": client}
        item |= {"model": body["served_by"]["model"], "assignment": body["assignment"]}
        assert fast.post("/v1/feedback", json=item).status_code == 202
        sent.append((item["model"], item["assignment"], body["served_by"]["index"]))
    app = fast.app
    assert isinstance(app, FastAPI)
    with app.state.sessionmaker() as s:
        rows = s.query(Feedback).order_by(Feedback.id).all()[-4:]
    assert [(r.served_by, r.assignment, r.index_name) for r in rows] == sent
    bad = {"query": "dog", "shown": ["puppy"], "assignment": ""}
    assert fast.post("/v1/feedback", json=bad).status_code == 422


@pytest.mark.parametrize(
    "query, client",
    [
        ("q=dog", "user-1"),
        ("q=dog", "user-2"),
        ("q=hot+dog&k=3&session=user-3", None),
        ("q=dog&model=hnsw", "user-4"),
        ("q=purple&min_count=0&model=flat", None),
        ("q=dog&model=nope", None),
        ("q=dog&model=", "user-5"),
        ("q=dog&session=" + "x" * 129, None),
        ("q=zebra&model=hnsw", None),
    ],
)
def test_fast_path_gives_the_routes_bytes_with_models(
    split_apps: tuple[TestClient, TestClient], query: str, client: str | None
) -> None:
    fast, slow = split_apps
    headers = {"X-Client-Id": client} if client else {}
    a, b = (
        fast.get("/v1/related?" + query, headers=headers),
        slow.get("/v1/related?" + query, headers=headers),
    )
    assert a.status_code == b.status_code and a.content == b.content, (a.text, b.text)
    assert a.headers.get("x-mmwe-model") == b.headers.get("x-mmwe-model")
    assert a.headers["content-length"] == b.headers["content-length"]


@pytest.mark.slow
def test_each_model_reloads_across_workers_on_real_uvicorn(artifacts: Artifacts, tmp_path: Path) -> None:
    """Two workers, two models: a reload of one model reaches both workers (its own reload file) and leaves
    the other model alone; the split and ?model= answer alike on both workers."""
    import httpx

    from app.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    env = {"MMWE_INDEXES": MODELS, "MMWE_AB_SPLIT": "flat:1,hnsw:1"}
    with serve(artifacts, tmp_path, url, workers=2, **env) as server, httpx.Client(base_url=server.url) as c:

        def indexes(model: str) -> set[str]:
            return {
                c.get("/v1/related", params={"q": "dog", "model": model}).json()["served_by"]["index"]
                for _ in range(20)
            }

        assert indexes("flat") == {"index-flat"} and indexes("hnsw") == {"index-hnsw"}
        arms = {
            c.get("/v1/related", params={"q": "dog", "session": "u7"}).json()["assignment"] for _ in range(20)
        }
        assert len(arms) == 1  # the same arm from every worker
        r = c.post(
            "/v1/admin/reload", json={"index_dir": "index-flat", "model": "hnsw"}, headers=AUTH, timeout=60
        )
        assert r.status_code == 200, r.text
        assert [w["generation"] for w in r.json()["workers"]] == [1, 1]
        assert indexes("hnsw") == {"index-flat"} and indexes("flat") == {"index-flat"}
        ready = c.get("/readyz").json()
        assert ready["ready"] and set(ready["models"]) == {"flat", "hnsw"}
