"""Issue 14, security items 1-5 in-process (real app, real FAISS, real SQLite): allowed roots for server
paths, what anonymous callers see, search deadline and concurrency bound, bounded options, rate limit,
security headers, trusted hosts, admin auth before the body, /docs without a CDN. The HTTP-level limits
(header size, read timeouts) are in test_http_guard.py, against a real uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.errors import GatewayTimeout
from app.main import create_app
from app.serving import SearchPool
from evaluation import BenchmarkFormatError
from evaluation.readers import read_pairs_csv
from tests.app.conftest import AUTH, Artifacts, copy_index, make_settings
from tests.app.test_evaluations import poll

SECRET = "root:x:0:0:SECRET-LINE-THAT-MUST-NOT-LEAK-abcdefghijklmnopqrstuvwxyz"


# --- 1. benchmark files: allowed roots, no file content in errors, anonymous view of runs -------------------


def benchmark(path: str | Path, kind: str = "triplets", **options: Any) -> dict[str, Any]:
    return {"benchmarks": [{"name": "b", "kind": kind, "path": str(path), "options": options}]}


def test_benchmark_paths_outside_the_allowed_roots_are_refused(
    client: TestClient, artifacts: Artifacts, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.tsv"
    outside.write_text(SECRET + "\n", encoding="utf-8")
    link_dir = artifacts.root / f"links-{tmp_path.name}"
    link_dir.mkdir()
    (link_dir / "link.tsv").symlink_to(outside)
    (link_dir / "dir").symlink_to(tmp_path, target_is_directory=True)
    for path in (
        "/etc/passwd",
        outside,
        link_dir / "link.tsv",  # a symlink inside the data dir pointing out of it
        link_dir / "dir" / "secret.tsv",  # through a symlinked directory
        f"{artifacts.root}/../{outside.relative_to(artifacts.root.parent)}",  # `..` out of the data dir
        "../" * 12 + "etc/passwd",  # relative: taken under the data dir, then `..`
        "gensim:../../../../etc/passwd",  # the built-in data's prefix cannot climb out either
    ):
        r = client.post("/v1/admin/evaluations", json=benchmark(path), headers=AUTH)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["code"] == "path_not_allowed"
        assert SECRET not in r.text
    assert client.get("/v1/evaluations", headers=AUTH).json()["total"] == 0


def test_benchmark_dirs_allow_another_directory(
    artifacts: Artifacts, sqlite_url: str, tmp_path: Path
) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "t.tsv").write_text("dog\tpuppy\tpizza\n", encoding="utf-8")
    app = create_app(make_settings(artifacts, sqlite_url, benchmark_dirs=[bench]))
    with TestClient(app) as c:
        r = c.post("/v1/admin/evaluations", json=benchmark(bench / "t.tsv"), headers=AUTH)
        assert r.status_code == 202, r.text
        run = poll(c, r.json()["id"])
        assert run["status"] == "succeeded", run
        # the stored request holds the resolved path, so the evaluation process reads what was checked
        assert run["request"]["benchmarks"][0]["path"] == str((bench / "t.tsv").resolve())


def test_csv_reader_quotes_no_file_content(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(SECRET.replace(":", ",") + "\n", encoding="utf-8")
    with pytest.raises(BenchmarkFormatError) as err:  # the header row was quoted whole
        read_pairs_csv(path)
    assert "MUST-NOT-LEAK" not in str(err.value) and "0,0" not in str(err.value)
    path.write_text("word1,word2,score\ndog,cat," + SECRET + "\n", encoding="utf-8")
    with pytest.raises(BenchmarkFormatError) as err:
        read_pairs_csv(path)
    message = str(err.value)
    assert "not a number" in message and "SECRET-LINE-THAT-MUST" not in message
    quoted = re.search(r"score ('.*?') is not a number", message)
    assert quoted is not None and len(quoted.group(1)) <= 24 + 5


def test_anonymous_callers_see_status_and_metrics_not_errors_or_paths(
    client: TestClient, artifacts: Artifacts, tmp_path: Path
) -> None:
    bench_dir = artifacts.root / f"bench-{tmp_path.name}"
    bench_dir.mkdir()
    good = bench_dir / "good.tsv"
    good.write_text("dog\tpuppy\tpizza\ncat\tkitten\tblue\n", encoding="utf-8")
    bad = bench_dir / "bad.csv"
    bad.write_text(SECRET.replace(":", ",") + "\n", encoding="utf-8")
    ok = client.post("/v1/admin/evaluations", json=benchmark(good), headers=AUTH).json()["id"]
    failed = client.post(
        "/v1/admin/evaluations", json=benchmark(bad, kind="similarity"), headers=AUTH
    ).json()["id"]
    assert poll(client, ok)["status"] == "succeeded"
    admin_view = poll(client, failed)
    assert admin_view["status"] == "failed" and "bad.csv" in admin_view["error"]
    assert SECRET not in admin_view["error"]  # not even the admin gets the file's content

    anonymous = [client.get(f"/v1/evaluations/{i}").json() for i in (ok, failed)]
    anonymous += client.get("/v1/evaluations").json()["items"]
    for run in anonymous:
        text = str(run)
        assert str(artifacts.root) not in text and "bad.csv" not in text and "good.tsv" not in text
        assert "Traceback" not in text
    succeeded = client.get(f"/v1/evaluations/{ok}").json()
    assert succeeded["results"][0]["metrics"]["accuracy"] is not None
    assert client.get(f"/v1/evaluations/{failed}").json()["status"] == "failed"


# --- 2. reload: allowed roots -----------------------------------------------------------------------------


def test_reload_outside_the_allowed_roots_is_refused_before_loading(
    client: TestClient, artifacts: Artifacts, tmp_path: Path
) -> None:
    outside = copy_index(artifacts.index_hnsw, tmp_path / "outside")  # a valid index, but not allowed
    link = artifacts.root / f"link-{tmp_path.name}"
    link.symlink_to(outside, target_is_directory=True)
    for path in (outside, link, f"{artifacts.root}/../{outside.relative_to(artifacts.root.parent)}", "/"):
        r = client.post("/v1/admin/reload", json={"index_dir": str(path)}, headers=AUTH)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["code"] == "path_not_allowed"
    assert client.get("/v1/related", params={"q": "dog"}).json()["served_by"]["index"] == "index-flat"


def test_index_roots_allow_another_directory(artifacts: Artifacts, sqlite_url: str, tmp_path: Path) -> None:
    outside = copy_index(artifacts.index_hnsw, tmp_path / "extra" / "hnsw")
    app = create_app(make_settings(artifacts, sqlite_url, index_roots=[tmp_path / "extra"]))
    with TestClient(app) as c:
        r = c.post("/v1/admin/reload", json={"index_dir": str(outside)}, headers=AUTH)
        assert r.status_code == 200, r.text


# --- 3. /v1/info ------------------------------------------------------------------------------------------


def test_info_shows_paths_and_pids_only_to_the_admin(client: TestClient, artifacts: Artifacts) -> None:
    anonymous = client.get("/v1/info").json()
    assert anonymous["index"]["path"] == "index-flat" and anonymous["worker_pid"] is None
    assert str(artifacts.root) not in str(anonymous)
    admin = client.get("/v1/info", headers=AUTH).json()
    assert admin["index"]["path"] == str(artifacts.index) and admin["worker_pid"] == os.getpid()
    wrong = client.get("/v1/info", headers={"Authorization": "Bearer nope"}).json()
    assert wrong["worker_pid"] is None


def test_readyz_reasons_show_paths_only_to_the_admin(artifacts: Artifacts, sqlite_url: str) -> None:
    missing = artifacts.root / "does-not-exist"
    with TestClient(create_app(make_settings(artifacts, sqlite_url, index_dir=missing))) as c:
        anonymous = c.get("/readyz")
        assert anonymous.status_code == 503
        detail = anonymous.json()["index"]["detail"]
        assert ".../does-not-exist" in detail and str(artifacts.root) not in anonymous.text
        admin = c.get("/readyz", headers=AUTH)
        assert admin.status_code == 503 and str(missing) in admin.json()["index"]["detail"]


def test_redact_paths_keeps_the_last_part() -> None:
    from app.security import redact_paths

    text = "'/srv/data/index/a/manifest.json': bad; /tmp/x (generation 2) in /d/ and a/b/c"
    assert redact_paths(text) == "'.../manifest.json': bad; .../x (generation 2) in .../ and a/b/c"


# --- 4. costs: search deadline, concurrency bound, option bounds, rate limit ------------------------------


@pytest.mark.parametrize("fast_path", [True, False])
def test_search_deadline_and_concurrency_bound(
    artifacts: Artifacts, sqlite_url: str, fast_path: bool
) -> None:
    """The pool's one thread is held by a blocker: a search queued behind it answers 504 after the deadline,
    and with the bound reached a search is refused at once with 503 and Retry-After."""
    settings = make_settings(
        artifacts, sqlite_url, fast_path=fast_path, search_timeout_s=0.3, max_concurrent_searches=2
    )
    app = create_app(settings)
    release = threading.Event()

    async def scenario() -> tuple[httpx.Response, float, httpx.Response, httpx.Response]:
        async with app.router.lifespan_context(app):
            pool: SearchPool = app.state.search_pool
            pool.close()  # replaced by a pool of one thread, which the blocker holds
            app.state.search_pool = pool = SearchPool(1, 1, max_pending=2, timeout_s=0.3)
            blocker = asyncio.ensure_future(pool.run(release.wait, 30))
            await asyncio.sleep(0.05)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                params = {"q": "dog", "exact": "true"}  # exact: always searched in the pool
                start = time.monotonic()
                timed_out = await c.get("/v1/related", params=params)
                waited = time.monotonic() - start
                # the blocker passed its deadline too, but holds its slot until its thread ends: of two
                # more searches one is admitted (and times out), the other is refused at once
                _, refused = await asyncio.gather(
                    c.get("/v1/related", params=params), c.get("/v1/related", params=params)
                )
                release.set()
                with contextlib.suppress(GatewayTimeout):  # the blocker passed the deadline too
                    await blocker
                await asyncio.sleep(0.1)
                ok = await c.get("/v1/related", params=params)
            pool.close()
            return timed_out, waited, refused, ok

    timed_out, waited, refused, ok = asyncio.run(scenario())
    assert timed_out.status_code == 504, timed_out.text
    assert timed_out.json()["error"]["code"] == "search_timeout" and 0.25 < waited < 3
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "overloaded" and refused.headers["retry-after"] == "1"
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    "options",
    [
        {"bootstrap": 10**12},
        {"bootstrap": -1},
        {"seed": 2**40},
        {"restrict_vocab": 10**9},
        {"bootstrap": 1.5},
        {"oov_policy": "x" * 1000},
        {"oov_policy": {"nested": 1}},
    ],
)
def test_numeric_options_are_bounded(
    client: TestClient, artifacts: Artifacts, options: dict[str, Any]
) -> None:
    r = client.post("/v1/admin/evaluations", json=benchmark("t.tsv", **options), headers=AUTH)
    assert r.status_code == 422, r.text  # bounds of the evaluator registry (evaluation/evaluators.py)


def test_rate_limit_is_off_by_default_and_answers_429_when_set(
    artifacts: Artifacts, sqlite_url: str, client: TestClient
) -> None:
    assert all(client.get("/v1/related", params={"q": "dog"}).status_code == 200 for _ in range(30))
    app = create_app(make_settings(artifacts, sqlite_url, rate_limit="5/minute"))
    with TestClient(app) as c:
        codes = [c.get("/v1/related", params={"q": "dog"}).status_code for _ in range(4)]
        codes.append(c.get("/v1/info").status_code)  # one budget per client across routes
        limited = c.get("/v1/related", params={"q": "dog"})  # the fast path counts too
        probe = c.get("/healthz")
    assert codes == [200] * 5
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["error"]["code"] == "rate_limited" and "MMWE_RATE_LIMIT" in limited.text
    assert probe.status_code == 200
    with pytest.raises(ValueError):
        make_settings(artifacts, sqlite_url, rate_limit="often")


# --- 5. web hardening -------------------------------------------------------------------------------------


def test_security_headers_on_the_page_static_files_api_and_errors(client: TestClient) -> None:
    for path in ("/", "/static/app.js", "/static/style.css", "/docs", "/v1/related?q=dog", "/nope"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp, path
        script_src = re.search(r"script-src ([^;]*)", csp)
        assert script_src is not None and "unsafe-inline" not in script_src.group(1), path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
        assert r.headers["x-frame-options"] == "DENY", path


def test_pages_have_no_inline_script() -> None:
    static = Path(__file__).resolve().parents[2] / "app" / "static"
    for page in static.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        for tag, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
            assert "src=" in tag and not body.strip(), page
        assert not re.search(r"\son[a-z]+\s*=", html), f"inline event handler in {page}"


def test_docs_are_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 0, url
    assert "cdn" not in client.get("/static/docs.js").text.lower()
    assert client.get("/redoc").status_code == 404
    assert client.get("/docs/assets/..%2F..%2F__init__.py").status_code == 404
    assert client.get("/openapi.json").status_code == 200


def test_allowed_hosts(artifacts: Artifacts, sqlite_url: str) -> None:
    app = create_app(make_settings(artifacts, sqlite_url, allowed_hosts=["api.example.org"]))
    with TestClient(app, base_url="http://api.example.org") as c:
        assert c.get("/healthz").status_code == 200
        evil = c.get("/healthz", headers={"Host": "evil.example.com"})
        assert evil.status_code == 400 and evil.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/v1/admin/reload", "/v1/admin/evaluations"])
def test_admin_authentication_comes_before_the_body(client: TestClient, path: str) -> None:
    """401/403 before the body is parsed: malformed JSON, a wrong shape, or a body over the limit."""
    for body in (b"{not json", b'{"unexpected": 1}', b"[]"):
        headers = {"content-type": "application/json"}
        assert client.post(path, content=body, headers=headers).status_code == 401
        wrong = {**headers, "Authorization": "Bearer wrong"}
        assert client.post(path, content=body, headers=wrong).status_code == 403
        assert client.post(path, content=body, headers={**headers, **AUTH}).status_code == 422
    unauthorized = client.post(path, content=b"{not json", headers={"content-type": "application/json"})
    assert unauthorized.json()["error"]["code"] == "unauthorized"
    assert unauthorized.headers["www-authenticate"] == "Bearer"
