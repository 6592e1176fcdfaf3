"""Admin authentication and hot reload, through the ASGI transport."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.app.conftest import AUTH, TOKEN, Artifacts, make_settings

ADMIN_CALLS = [
    ("post", "/v1/admin/reload", {"index_dir": "index-hnsw"}),
    ("post", "/v1/admin/evaluations", {"suite": "default"}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_admin_requires_the_bearer_token(
    client: TestClient, method: str, path: str, body: dict[str, str]
) -> None:
    r = client.request(method, path, json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "unauthorized"
    for header in (
        "Bearer wrong-token",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer é".encode(),
        f"Basic {TOKEN}",
    ):
        r = client.request(method, path, json=body, headers={"Authorization": header})
        assert r.status_code in (401, 403), header
        assert r.json()["error"]["code"] in ("unauthorized", "forbidden")
    r = client.request(method, path, json=body, headers={"Authorization": "Bearer wrong-token"})
    assert r.status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
@pytest.mark.parametrize("token", [None, ""])
def test_admin_is_refused_when_no_token_is_configured(
    artifacts: Artifacts, sqlite_url: str, token: str | None, method: str, path: str, body: dict[str, str]
) -> None:
    app = create_app(make_settings(artifacts, sqlite_url, admin_token=token))
    with TestClient(app) as c:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
            r = c.request(method, path, json=body, headers=headers)
            assert r.status_code == 403 and "MMWE_ADMIN_TOKEN" in r.json()["error"]["message"]


def test_reload_swaps_the_index(client: TestClient, artifacts: Artifacts) -> None:
    listed = {"q": "purple", "k": 40, "min_count": 0}  # the listed phrases have no corpus count (0)
    before = client.get("/v1/related", params=listed).json()
    assert "purple horse" not in [h["phrase"] for h in before["results"]]
    r = client.post("/v1/admin/reload", json={"index_dir": "index-hnsw"}, headers=AUTH)  # relative: DATA_DIR
    assert r.status_code == 200, r.text
    assert r.json()["previous"] == str(artifacts.index)
    assert r.json()["index"]["path"] == str(artifacts.index_hnsw) and r.json()["index"]["generation"] == 1
    after = client.get("/v1/related", params=listed).json()
    assert after["served_by"]["index"] == "index-hnsw"
    assert "purple horse" in [h["phrase"] for h in after["results"]]
    assert client.get("/v1/info").json()["index"]["factory"].startswith("HNSW")


def _break(src: Path, dst: Path, how: str) -> Path:
    shutil.copytree(src, dst)
    if how == "corrupt-faiss":
        (dst / "index.faiss").write_bytes(b"not a faiss index at all")
    elif how == "truncated-phrases":
        text = (dst / "phrases.tsv").read_text()
        (dst / "phrases.tsv").write_text(text[: len(text) // 2])
    elif how == "bad-manifest":
        (dst / "manifest.json").write_text("{")
    elif how == "no-embeddings":
        shutil.rmtree(dst / "embeddings")
    return dst


@pytest.mark.parametrize(
    "how", ["corrupt-faiss", "truncated-phrases", "bad-manifest", "no-embeddings", "missing"]
)
def test_broken_index_is_rejected_and_the_old_one_keeps_serving(
    client: TestClient, artifacts: Artifacts, tmp_path: Path, how: str
) -> None:
    under_data_dir = artifacts.root / f"broken-{tmp_path.name}"  # reload loads only under MMWE_DATA_DIR
    target = under_data_dir if how == "missing" else _break(artifacts.index_hnsw, under_data_dir, how)
    r = client.post("/v1/admin/reload", json={"index_dir": str(target)}, headers=AUTH)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "unprocessable" and "previous one keeps serving" in err["message"]
    assert str(target) in err["message"]
    ok = client.get("/v1/related", params={"q": "dog"})
    assert ok.status_code == 200 and ok.json()["served_by"]["index"] == "index-flat"
    assert client.get("/v1/info").json()["index"]["generation"] == 0


def test_reload_body_is_validated(client: TestClient) -> None:
    for body in (
        {},
        {"index_dir": ""},
        {"index_dir": 3},
        {"index_dir": "x", "more": 1},
        {"index_dir": "a\x00b"},
    ):
        r = client.post("/v1/admin/reload", json=body, headers=AUTH)
        assert r.status_code == 422, (body, r.text)


def test_requests_in_flight_finish_while_the_index_swaps(artifacts: Artifacts, sqlite_url: str) -> None:
    """Queries racing with reloads (ASGI transport, concurrent tasks): no errors, answers self-consistent."""
    app = create_app(make_settings(artifacts, sqlite_url))
    flat_only = "index-flat"

    async def scenario() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:

                async def query(i: int) -> httpx.Response:
                    return await c.get("/v1/related", params={"q": "purple horse river", "k": 30})

                async def reloads() -> list[httpx.Response]:
                    out = []
                    for path in (artifacts.index_hnsw, artifacts.index, artifacts.index_hnsw):
                        await asyncio.sleep(0.01)
                        out.append(
                            await c.post("/v1/admin/reload", json={"index_dir": str(path)}, headers=AUTH)
                        )
                    return out

                *answers, swaps = await asyncio.gather(*[query(i) for i in range(80)], reloads())
                responses = [*answers, *swaps]
                final = await c.get("/v1/related", params={"q": "purple", "k": 40})
                return [*responses, final]

    responses = asyncio.run(scenario())
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    for r in responses:
        body = r.json()
        if "served_by" in body:
            phrases = {h["phrase"] for h in body["results"]}
            # phrases only the HNSW index has never appear in an answer attributed to the Flat index
            if body["served_by"]["index"] == flat_only:
                assert not phrases & {"purple horse", "city street", "forest river", "pizza burger"}
    assert responses[-1].json()["served_by"]["index"] == "index-hnsw"
