"""Click benchmarks: POST /v1/admin/benchmarks builds the paper's triplets from feedback (deterministic with
a seed, the same file as `build-triplets clicks --database`), GET /v1/benchmarks lists them, and
POST /v1/admin/evaluations runs them as a suite: the model whose neighbours match the clicks ranks first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from evaluation.__main__ import main as evaluation_main
from index.artifacts import load_embeddings, write_embeddings
from index.build import BuildConfig, build_index
from tests.app.conftest import AUTH, TOPICS, Artifacts, make_settings
from tests.app.test_evaluations import poll


def simulated_clicks(rounds: int = 2) -> list[dict[str, Any]]:
    """Users who search a word and click phrases of its topic: shown are three words of the same topic and
    three of others (rotating), clicked the first two of the same topic."""
    topics = list(TOPICS.values())
    out = []
    for r in range(rounds):
        for t, words in enumerate(topics):
            for i, query in enumerate(words):
                same = [w for w in words if w != query]
                same = same[(i + r) % len(same) :] + same[: (i + r) % len(same)]
                others = [topics[(t + k) % len(topics)][(i + r + k) % 7] for k in (1, 2, 3)]
                shown = same[:3] + others
                out.append({"query": query, "shown": shown, "clicked": same[:2], "session": f"user-{i}"})
    return out


def post_clicks(c: TestClient, items: list[dict[str, Any]]) -> None:
    for item in items:
        assert c.post("/v1/feedback", json=item).status_code == 202


def build(c: TestClient, **body: Any) -> Any:
    return c.post("/v1/admin/benchmarks", json={"name": "clicks", "from": "feedback", **body}, headers=AUTH)


def test_too_little_feedback_is_a_409_with_the_reason(client: TestClient, artifacts: Artifacts) -> None:
    r = build(client)
    assert r.status_code == 409, r.text
    assert "too little feedback" in r.json()["error"]["message"]
    assert r.json()["error"]["detail"]["feedback_records"] == 0
    # a click on a phrase sharing the query's stem makes no triplet either
    client.post("/v1/feedback", json={"query": "dogs", "shown": ["dog", "cat"], "clicked": ["dog"]})
    r = build(client)
    assert r.status_code == 409 and r.json()["error"]["detail"]["dropped_shared_stem"] == 1
    assert client.get("/v1/benchmarks").json() == {"items": []}
    assert not (artifacts.root / "benchmarks").exists() or not list(
        (artifacts.root / "benchmarks").glob("clicks-*")
    )


@pytest.mark.parametrize(
    "body",
    [
        {"name": "default", "from": "feedback"},
        {"name": "ws353", "from": "feedback"},
        {"name": "Clicks", "from": "feedback"},
        {"name": "../x", "from": "feedback"},
        {"name": "clicks", "from": "logs"},
        {"name": "clicks"},
        {"name": "clicks", "from": "feedback", "seed": -1},
        {"name": "clicks", "from": "feedback", "min_impressions": -1},
        {"name": "clicks", "from": "feedback", "since": "2026-12-02", "until": "2026-12-01"},
        {"name": "clicks", "from": "feedback", "since": "soon"},
        {"name": "clicks", "from": "feedback", "extra": 1},
    ],
)
def test_bad_benchmark_requests_are_422(client: TestClient, body: dict[str, Any]) -> None:
    r = client.post("/v1/admin/benchmarks", json=body, headers=AUTH)
    assert r.status_code == 422, r.text


def test_admin_only(client: TestClient) -> None:
    assert client.post("/v1/admin/benchmarks", json={}).status_code == 401
    assert (
        client.post("/v1/admin/benchmarks", json={}, headers={"Authorization": "Bearer x"}).status_code == 403
    )


def test_benchmarks_are_deterministic_recorded_and_listed(
    artifacts: Artifacts, migrated_database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(make_settings(artifacts, migrated_database_url))) as c:
        post_clicks(c, simulated_clicks())
        first = build(c, seed=7)
        assert first.status_code == 201, first.text
        again = build(c, seed=7, min_impressions=0)
        other = build(c, seed=8)
        stricter = build(c, seed=7, min_impressions=3)
        public = c.get("/v1/benchmarks").json()["items"]
        admin = c.get("/v1/benchmarks", headers=AUTH).json()["items"]
    one, two = first.json(), again.json()
    assert one["sha256"] == two["sha256"] and one["path"] != two["path"]
    assert other.json()["sha256"] != one["sha256"] and other.json()["rows"] == one["rows"]
    # over the two rounds each query had three distinct clicked phrases: top_k=3 positives, one negative each
    assert one["rows"] == 3 * sum(len(w) for w in TOPICS.values())
    assert one["feedback_records"] == len(simulated_clicks()) and one["stats"]["queries"] == 28
    assert stricter.status_code == 409  # each phrase was shown at most twice for its query
    path = artifacts.root / one["path"]
    assert one["path"].startswith("benchmarks/clicks-") and path.is_file()
    assert [b["id"] for b in public] == [other.json()["id"], two["id"], one["id"]]
    assert all(b["path"] is None for b in public) and [b["path"] for b in admin][-1] == one["path"]
    assert public[-1]["sha256"] == one["sha256"] and public[-1]["since"] is None
    # the same file as the command line on the same database and seed
    out = tmp_path / "cli.tsv"
    cmd = ["build-triplets", "clicks", "--database", migrated_database_url, "-o", str(out), "--seed", "7"]
    assert evaluation_main(cmd) == 0
    assert out.read_bytes() == path.read_bytes()
    capsys.readouterr()


def shuffled_index(artifacts: Artifacts, out: Path) -> Path:
    """The same words and phrases with the word vectors permuted: neighbours no longer match the topics."""
    emb = load_embeddings(artifacts.embeddings)
    vectors = np.asarray(emb.vectors)[np.random.default_rng(1).permutation(len(emb.words))]
    write_embeddings(
        out / "embeddings-shuffled",
        list(emb.words),
        [100] * len(emb.words),
        vectors,
        model_kind="word2vec",
        corpus={"name": "shuffled", "num_sentences": 0, "num_tokens": 0},
        training={"shuffled": True},
        metrics={},
        seed=1,
    )
    build_index(
        out / "embeddings-shuffled",
        out / "index-shuffled",
        phrase_files=[artifacts.root / "phrases.txt"],
        config=BuildConfig(factory="Flat", progress=False),
    )
    return out / "index-shuffled"


def accuracy(run: dict[str, Any], name: str) -> float:
    assert run["status"] == "succeeded", run
    result = next(r for r in run["results"] if r["benchmark"] == name)
    value: float = result["metrics"]["accuracy"]
    return value


@pytest.mark.slow
def test_the_click_benchmark_ranks_the_model_that_matches_the_clicks_first(
    artifacts: Artifacts, migrated_database_url: str
) -> None:
    shuffled = shuffled_index(artifacts, artifacts.root / f"shuffled-{Path(migrated_database_url).name[-8:]}")
    settings = make_settings(artifacts, migrated_database_url, eval_poll_seconds=0.2)
    with TestClient(create_app(settings)) as c:
        post_clicks(c, simulated_clicks())
        built = build(c, seed=3).json()
        good = poll(c, c.post("/v1/admin/evaluations", json={"suite": "clicks"}, headers=AUTH).json()["id"])
        # the default suite pins the newest click benchmark beside the built-in ones
        default = c.post("/v1/admin/evaluations", json={"suite": "default"}, headers=AUTH).json()["id"]
        request = c.get(f"/v1/evaluations/{default}", headers=AUTH).json()["request"]
        assert [b["name"] for b in request["benchmarks"]] == ["ws353", "simlex999", "analogy", "clicks"]
        assert request["benchmarks"][-1]["path"] == str((artifacts.root / built["path"]).resolve())
        public = c.get(f"/v1/evaluations/{default}").json()["request"]["benchmarks"]
        assert all("path" not in b for b in public)
        unknown = c.post("/v1/admin/evaluations", json={"suite": "nope"}, headers=AUTH)
        assert unknown.status_code == 422 and "clicks" in unknown.json()["error"]["detail"]["suites"]
    settings = make_settings(artifacts, migrated_database_url, index_dir=shuffled, eval_poll_seconds=0.2)
    with TestClient(create_app(settings)) as c:
        bad = poll(c, c.post("/v1/admin/evaluations", json={"suite": "clicks"}, headers=AUTH).json()["id"])
    good_acc, bad_acc = accuracy(good, "clicks"), accuracy(bad, "clicks")
    assert good["results"][0]["dataset_sha256"] == built["sha256"] == bad["results"][0]["dataset_sha256"]
    assert good_acc > 0.9 and bad_acc < 0.75 and good_acc > bad_acc, (good_acc, bad_acc)
