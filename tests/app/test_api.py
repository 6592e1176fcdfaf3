"""The query API through the ASGI transport (FastAPI's TestClient): answers, limits and errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.schemas import RelatedResponse
from index.artifacts import load_embeddings
from index.text import tokenize
from tests.app.conftest import PHRASES, TOPICS, Artifacts, make_settings


def error_code(resp: object) -> str:
    body = resp.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and {"code", "message", "detail"} <= set(body["error"]), body
    return str(body["error"]["code"])


def test_related_returns_topic_neighbours_best_first(client: TestClient) -> None:
    r = client.get("/v1/related", params={"q": "Dog!", "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == "Dog!" and body["normalized"] == "dog" and body["oov"] == []
    phrases = [h["phrase"] for h in body["results"]]
    assert len(phrases) == 5 and "dog" not in phrases
    scores = [h["score"] for h in body["results"]]
    assert scores == sorted(scores, reverse=True) and all(-1.0 <= s <= 1.0001 for s in scores)
    assert "puppy" in phrases or "puppy dog" in phrases
    assert body["assignment"] is None and r.headers["x-mmwe-model"] == "default"
    assert body["served_by"] == {
        "model": "default",
        "model_kind": "word2vec",
        "embeddings_sha256": body["served_by"]["embeddings_sha256"],
        "index": "index-flat",
        "factory": "Flat",
    }


def test_related_body_is_the_documented_schema(client: TestClient) -> None:
    """The route writes its JSON itself: exactly what `RelatedResponse` (its OpenAPI schema) serialises to."""
    r = client.get("/v1/related", params={"q": "hot dog zebra", "k": 3, "exclude_query_words": "true"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = RelatedResponse.model_validate_json(r.content)
    assert r.content == body.model_dump_json().encode() and body.oov == ["zebra"] and len(body.results) == 3
    ok = client.get("/openapi.json").json()["paths"]["/v1/related"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RelatedResponse"}


def test_exclude_query_words_drops_phrases_sharing_a_word(client: TestClient) -> None:
    plain = client.get("/v1/related", params={"q": "hot dog", "k": 20}).json()["results"]
    assert any("dog" in h["phrase"].split() or "hot" in h["phrase"].split() for h in plain)
    r = client.get("/v1/related", params={"q": "hot dog", "k": 20, "exclude_query_words": "true"})
    assert r.status_code == 200
    for hit in r.json()["results"]:
        assert not {"hot", "dog"} & set(hit["phrase"].split()), hit


def test_exact_search_agrees_with_approximate_on_a_small_hnsw(artifacts: Artifacts, sqlite_url: str) -> None:
    app = create_app(make_settings(artifacts, sqlite_url, index_dir=artifacts.index_hnsw))
    with TestClient(app) as c:
        exact = c.get("/v1/related", params={"q": "river", "k": 5, "exact": True}).json()["results"]
        approx = c.get("/v1/related", params={"q": "river", "k": 5}).json()["results"]
    assert [h["phrase"] for h in exact] == [h["phrase"] for h in approx]


def test_oov_words_are_reported_and_skipped(client: TestClient) -> None:
    body = client.get("/v1/related", params={"q": "dog zebra"}).json()
    assert body["oov"] == ["zebra"] and body["normalized"] == "dog zebra"


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 422, "validation_error"),
        ({"q": ""}, 400, "bad_request"),
        ({"q": "   "}, 400, "bad_request"),
        ({"q": "dog " * 60}, 400, "bad_request"),  # 240 chars > MMWE_MAX_QUERY_CHARS (200)
        ({"q": "x" * 20_000}, 422, "validation_error"),
        ({"q": "dog", "k": 0}, 422, "validation_error"),
        ({"q": "dog", "k": -3}, 422, "validation_error"),
        ({"q": "dog", "k": "ten"}, 422, "validation_error"),
        ({"q": "dog", "k": 101}, 400, "bad_request"),  # > MMWE_MAX_K
        ({"q": "dog", "k": 10**30}, 422, "validation_error"),
        ({"q": "dog", "exact": "maybe"}, 422, "validation_error"),
        ({"q": "zebra quokka"}, 422, "unanswerable_query"),
        ({"q": "!!! ???"}, 422, "unanswerable_query"),
    ],
)
def test_bad_input_gets_a_json_4xx(
    client: TestClient, params: dict[str, object], status: int, code: str
) -> None:
    r = client.get("/v1/related", params=params)
    assert r.status_code == status, r.text
    assert error_code(r) == code


@pytest.mark.parametrize(
    "q",
    ["🐶 dog", "Hund über Brücke", "кошка", "猫", "\u202edog", "dog\x00cat", "e\u0301", "\ufffd", "ǅ", "ß"],
)
def test_any_unicode_gets_an_answer_or_a_4xx(client: TestClient, q: str) -> None:
    r = client.get("/v1/related", params={"q": q})
    assert r.status_code in (200, 400, 422), r.text
    if r.status_code == 200:
        assert r.json()["normalized"] == " ".join(tokenize(q))
    else:
        error_code(r)


def test_batch_answers_each_query_in_order(client: TestClient) -> None:
    queries = ["dog", "zebra", "", "pizza", "x" * 300]
    r = client.post("/v1/related/batch", json={"queries": queries, "k": 3})
    assert r.status_code == 200, r.text
    items = r.json()["results"]
    assert [i["query"] for i in items] == queries
    assert items[0]["error"] is None and len(items[0]["results"]) == 3
    assert items[1]["error"]["code"] == "unanswerable_query"
    assert items[2]["error"]["code"] == "bad_query" and items[4]["error"]["code"] == "bad_query"
    single = client.get("/v1/related", params={"q": "pizza", "k": 3}).json()["results"]
    assert items[3]["results"] == single


def test_batch_limits(artifacts: Artifacts, sqlite_url: str) -> None:
    app = create_app(make_settings(artifacts, sqlite_url, max_batch=5, max_body_bytes=4096))
    with TestClient(app) as c:
        assert c.post("/v1/related/batch", json={"queries": ["dog"] * 5}).status_code == 200
        r = c.post("/v1/related/batch", json={"queries": ["dog"] * 6})
        assert r.status_code == 422 and error_code(r) == "unprocessable"
        r = c.post("/v1/related/batch", json={"queries": ["dog" * 500] * 3})
        assert r.status_code == 413 and error_code(r) == "payload_too_large"

        def chunks() -> object:
            yield b'{"queries": ["'
            for _ in range(100):
                yield b"dog " * 20
            yield b'"]}'

        r = c.post("/v1/related/batch", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and error_code(r) == "payload_too_large"
        for bad in (
            {"queries": []},
            {"queries": "dog"},
            {"queries": ["dog"], "k": 0},
            {"nope": 1},
            {"queries": ["dog"], "extra": True},
        ):
            r = c.post("/v1/related/batch", json=bad)
            assert r.status_code == 422, (bad, r.text)
        r = c.post("/v1/related/batch", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 422 and error_code(r) == "validation_error"
        r = c.post(
            "/v1/related/batch",
            content=b'{"queries": ["\\ud800 dog"]}',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422, r.text


def test_similarity_and_vector(client: TestClient, artifacts: Artifacts) -> None:
    near = client.get("/v1/similarity", params={"a": "dog", "b": "puppy"}).json()
    far = client.get("/v1/similarity", params={"a": "dog", "b": "pizza"}).json()
    assert near["cosine"] > far["cosine"]
    r = client.get("/v1/similarity", params={"a": "Hot DOG", "b": "pizza zebra"})
    body = r.json()
    assert (
        body["a"]["normalized"] == "hot dog"
        and body["b"]["oov"] == ["zebra"]
        and body["b"]["known"] == ["pizza"]
    )
    r = client.get("/v1/similarity", params={"a": "dog", "b": "zebra"})
    assert r.status_code == 422 and error_code(r) == "unanswerable_query"
    assert client.get("/v1/similarity", params={"a": "dog"}).status_code == 422

    emb = load_embeddings(artifacts.embeddings)
    idx = emb.word_index()
    v = client.get("/v1/vector", params={"q": "hot dog"}).json()
    expected = (emb.vectors[idx["hot"]] + emb.vectors[idx["dog"]]) / 2
    expected /= np.linalg.norm(expected)
    assert v["dim"] == 16 and np.allclose(v["vector"], expected, atol=1e-5)
    cos = client.get("/v1/similarity", params={"a": "hot dog", "b": "puppy"}).json()["cosine"]
    pv = client.get("/v1/vector", params={"q": "puppy"}).json()["vector"]
    assert cos == pytest.approx(float(np.dot(v["vector"], pv)), abs=1e-5)
    assert client.get("/v1/vector", params={"q": "zebra"}).status_code == 422


def test_info_describes_model_and_index(client: TestClient) -> None:
    body = client.get("/v1/info").json()
    assert body["model"]["model_kind"] == "word2vec" and body["model"]["vocab_size"] == 28
    assert body["model"]["corpus"]["name"] == "test-topics"
    words = {w for ws in TOPICS.values() for w in ws}
    indexable = [p for p in PHRASES if set(p.split()) <= words]  # "black cat", "street food" have OOV words
    assert body["index"]["factory"] == "Flat" and body["index"]["num_phrases"] == len(words) + len(indexable)
    assert body["index"]["memory_bytes"] > 0 and body["index"]["generation"] == 0
    assert body["index"]["memory"]["embeddings"]["mapped"] is True
    assert body["latest_evaluation"] is None and body["database"] == {"ok": True, "detail": None}


def test_health_readiness_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["ready"] is True
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {
        "/v1/related",
        "/v1/related/batch",
        "/v1/similarity",
        "/v1/vector",
        "/v1/info",
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/admin/evaluations",
        "/v1/evaluations",
        "/v1/evaluations/{run_id}",
        "/v1/admin/reload",
    } <= paths
    r = client.get("/nope")
    assert r.status_code == 404 and error_code(r) == "not_found"
    r = client.delete("/v1/related")
    assert r.status_code == 405 and error_code(r) == "method_not_allowed"


def test_missing_index_is_503_and_not_ready(artifacts: Artifacts, sqlite_url: str, tmp_path: object) -> None:
    app = create_app(make_settings(artifacts, sqlite_url, index_dir=artifacts.root / "does-not-exist"))
    with TestClient(app) as c:
        r = c.get("/v1/related", params={"q": "dog"})
        assert r.status_code == 503 and error_code(r) == "unavailable"
        assert "does-not-exist" in r.json()["error"]["detail"]
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["index"]["ok"] is False and ready.json()["database"]["ok"] is True
        assert c.get("/healthz").status_code == 200


def test_database_down_keeps_queries_answering(artifacts: Artifacts) -> None:
    dead = "postgresql+psycopg://nobody@127.0.0.1:9/none"  # port 9 (discard): connection refused
    app = create_app(make_settings(artifacts, dead))
    with TestClient(app) as c:
        assert c.get("/v1/related", params={"q": "dog"}).status_code == 200
        assert c.post("/v1/related/batch", json={"queries": ["dog"]}).status_code == 200
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["index"]["ok"] is True and ready.json()["database"]["ok"] is False
        assert "unreachable" in ready.json()["database"]["detail"]
        info = c.get("/v1/info").json()
        assert info["database"]["ok"] is False and info["latest_evaluation"] is None
        assert c.get("/metrics").status_code == 200


def test_unmigrated_database_is_not_ready(artifacts: Artifacts, tmp_path: object) -> None:
    app = create_app(make_settings(artifacts, f"sqlite:///{tmp_path}/empty.db"))  # type: ignore[str-bytes-safe]
    with TestClient(app) as c:
        ready = c.get("/readyz").json()
        assert ready["ready"] is False and "not migrated" in ready["database"]["detail"]


def test_metrics_count_requests_by_route_template_and_status(client: TestClient) -> None:
    def count(text: str, route: str, status: int) -> float:
        labels = f'method="GET",route="{route}",status="{status}"'
        pattern = rf"^mmwe_http_requests_total\{{{re.escape(labels)}\}} (\S+)$"
        m = re.search(pattern, text, re.M)
        return float(m.group(1)) if m else 0.0

    before = client.get("/metrics").text
    for q in ("dog", "cat", "pizza"):
        client.get("/v1/related", params={"q": q})
    client.get("/v1/related", params={"q": "zebra"})
    client.get("/v1/evaluations/12345")
    client.get("/no/such/path/123")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = r.text
    assert count(after, "/v1/related", 200) - count(before, "/v1/related", 200) == 3
    assert count(after, "/v1/related", 422) - count(before, "/v1/related", 422) == 1
    assert count(after, "/v1/evaluations/{run_id}", 404) - count(before, "/v1/evaluations/{run_id}", 404) == 1
    assert count(after, "unmatched", 404) - count(before, "unmatched", 404) == 1
    assert (
        'mmwe_http_request_duration_seconds_bucket{le="0.01",method="GET",route="/v1/related",status="200"}'
        in after
    )
    assert re.search(r"^mmwe_index_phrases 44\.0$", after, re.M)
    assert 'mmwe_evaluation_runs{status="queued"} 0.0' in after
