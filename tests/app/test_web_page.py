"""The web page at `/`, end to end in headless Chromium: real uvicorn, index, database and browser.

A small embeddings artifact (three clear topics) goes through the real index builder; `python -m app serve`
runs on a free port with a SQLite database migrated to head (Alembic); two real evaluation runs are
started through the admin API. Playwright drives Debian's `chromium` (never a downloaded browser): it types
into the search box, waits for related phrases, clicks one (and finds the click in the feedback export), asks
for a similarity, and checks the evaluation chart and the phrase map. The screenshot lands in
test-output/web-page.png.

Run: `python -m pytest tests/app/test_web_page.py` (needs Debian's chromium; `make test` installs it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db.migrate import upgrade
from tests.app.topic_index import PHRASES, TOPICS, build_topic_index

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
TOKEN = "browser-test-token"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.slow


def missing_browser(reason: str) -> None:
    """Skip locally; under CI=true a missing browser is a failure, never a silent skip."""
    message = f"{reason}: `make test` installs it (Debian packages chromium chromium-driver, PyPI playwright)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def chromium_path() -> str:
    path = os.environ.get("MMWE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        missing_browser("Debian's chromium is not installed")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_benchmarks(tmp: Path) -> list[dict[str, Any]]:
    pairs = tmp / "pairs.tsv"
    pairs.write_text(
        "dog\tpuppy\t9.0\ncat\tkitten\t8.5\ncar\ttruck\t7.5\ndog\tpizza\t1.0\nbus\tcake\t0.5\nhorse\tpony\t8.0\n",
        encoding="utf-8",
    )
    triplets = tmp / "triplets.tsv"
    triplets.write_text(
        "dog\tpuppy\tpizza\ncar\tbus\tsoup\nbread\tcheese\ttruck\ncat\tkitten\tvan\n"
        "hot dog\tsandwich\tbicycle\n",
        encoding="utf-8",
    )
    return [
        {"name": "pairs", "kind": "similarity", "path": str(pairs)},
        {"name": "triplets", "kind": "triplets", "path": str(triplets)},
    ]


def request_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read())


def wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server was not ready within 60 s:\n{log.read_text()[-3000:]}")


def exported_clicks(base: str) -> list[str]:
    """The feedback recorded so far, as the admin export's click-log lines (without the header)."""
    req = urllib.request.Request(f"{base}/v1/admin/feedback/export")
    req.add_header("Authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(req, timeout=10) as response:
        return list(response.read().decode("utf-8").splitlines()[1:])


def run_evaluation(base: str, benchmarks: list[dict[str, Any]]) -> None:
    accepted = request_json(f"{base}/v1/admin/evaluations", {"benchmarks": benchmarks})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = request_json(f"{base}/v1/evaluations/{accepted['id']}")
        if run["status"] in ("succeeded", "failed"):
            assert run["status"] == "succeeded", run
            return
        time.sleep(0.2)
    raise AssertionError(f"evaluation run {accepted['id']} did not finish within 60 s")


@contextlib.contextmanager
def serving(tmp: Path, env: dict[str, str]) -> Iterator[str]:
    """`python -m app serve` with `env` on a free port, ready; its log in `tmp`; stopped after."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("web")
    index_dir = build_topic_index(tmp)
    env = {
        **os.environ,
        "MMWE_DATA_DIR": str(tmp),
        "MMWE_INDEX_DIR": str(index_dir),
        "DATABASE_URL": f"sqlite:///{tmp / 'mmwe.db'}",
        "MMWE_ADMIN_TOKEN": TOKEN,
        "MMWE_WORKERS": "1",
        "MMWE_LOG_LEVEL": "warning",
        "PYTHONPATH": str(ROOT),
    }
    upgrade(env["DATABASE_URL"])
    with serving(tmp, env) as base:
        benchmarks = write_benchmarks(tmp)
        run_evaluation(base, benchmarks)
        run_evaluation(base, benchmarks)
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_browser("the playwright Python package is not installed")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def wait_js(page: Any, expression: str, timeout: float = 30.0) -> None:
    """Wait until `expression` is truthy in the page. Playwright's wait_for_function evaluates its predicate
    with eval inside the page, which the service's Content-Security-Policy (script-src 'self') forbids, as
    it should; page.evaluate goes through the DevTools protocol instead."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {expression}")
        time.sleep(0.05)


def test_page_search_similarity_chart_and_map(server: str, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    requests: list[str] = []
    problems: list[str] = []
    failed: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")  # those are in `failed`
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(f"{server}/")
    assert page.title().startswith("mmwe")

    # Related phrases as you type, without pressing Enter.
    page.locator("#query").press_sequentially("dog", delay=60)
    page.wait_for_selector("#results li.hit")
    phrases = page.locator("#results .phrase").all_inner_texts()
    assert len(phrases) == 10
    animals = set(TOPICS["animals"]) | {"young dog", "hot dog"}
    assert set(phrases[:5]) <= animals, phrases
    scores = [float(s) for s in page.locator("#results .score").all_inner_texts()]
    assert all(0 < s <= 1 for s in scores)  # the raw cosine; the order is the API's ranking
    api = httpx.get(f"{server}/v1/related", params={"q": "dog", "k": 10}).json()["results"]
    assert phrases == [h["phrase"] for h in api]  # the page shows the API's ranked list, in its order
    assert "related to “dog”" in page.locator("#related-status").inner_text()

    # A word the model does not know: the API's error message is shown.
    page.locator("#query").fill("zzzz")
    wait_js(page, "document.querySelector('#related-status').classList.contains('error')")
    assert "zzzz" in page.locator("#related-status").inner_text()
    assert page.locator("#results li").count() == 0

    # Clicking a phrase searches it, and records the click with what was shown (POST /v1/feedback).
    page.locator("#query").fill("car")
    wait_js(page, "document.querySelector('#related-status').textContent.includes('“car”')")
    shown = page.locator("#results .phrase").all_inner_texts()
    first = shown[0]
    page.locator("#results .phrase").first.click()
    wait_js(page, f"document.querySelector('#related-status').textContent.includes('“{first}”')")
    expected = [f"car\t{phrase}\t{int(phrase == first)}\t1" for phrase in shown]
    deadline = time.monotonic() + 10
    while (lines := exported_clicks(server)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lines == expected

    # Similarity of two phrases.
    page.locator("#phrase-a").fill("puppy")
    page.locator("#phrase-b").fill("kitten")
    wait_js(page, "document.querySelector('#similarity-text').textContent.startsWith('cos(')")
    close = float(page.locator("#similarity-text").inner_text().rsplit("=", 1)[1].split()[0])
    page.locator("#phrase-b").fill("pizza")
    wait_js(page, "document.querySelector('#similarity-text').textContent.includes('pizza')")
    far = float(page.locator("#similarity-text").inner_text().rsplit("=", 1)[1].split()[0])
    assert close > 0.5 > far

    # The evaluation chart: two runs of two benchmarks; triplet accuracy first, then the pairs' spearman.
    page.wait_for_selector("#evaluations-chart svg .series")
    assert page.locator("#metric").input_value() == "accuracy"
    assert page.locator("#evaluations-chart .series").count() == 1
    assert page.locator("#evaluations-chart .legend").inner_text() == "triplets"
    assert page.locator("#evaluations-chart circle.point").count() == 2
    page.locator("#metric").select_option("spearman")
    wait_js(page, "document.querySelector('#evaluations-chart .legend').textContent === 'pairs'")
    assert page.locator("#evaluations-chart circle.point").count() == 2

    # The map: every phrase of the index but the function words ("the", "of", "of the"), fewer than 200;
    # the current results are highlighted.
    page.wait_for_selector("#map-chart circle.map-point")
    total = json.loads(urllib.request.urlopen(f"{server}/v1/info").read())["index"]["num_phrases"]
    points = "document.querySelectorAll('#map-chart circle.map-point').length"
    assert page.locator("#map-chart circle.map-point").count() == total - 3
    page.locator("#query").fill("bread")
    wait_js(page, "document.querySelectorAll('#map-chart .map-point.hit').length >= 5")
    assert page.locator("#map-chart .map-point.query").count() == 1
    page.locator("#map-multiword").check()
    wait_js(page, f"{points} === {len(PHRASES) - 1}")
    page.locator("#map-stopwords").check()
    wait_js(page, f"{points} === {len(PHRASES)}")
    page.locator("#map-multiword").uncheck()
    wait_js(page, f"{points} === {total}")
    page.locator("#map-stopwords").uncheck()
    wait_js(page, f"{points} === {total - 3}")

    page.locator("#query").fill("dog")
    wait_js(page, "document.querySelector('#related-status').textContent.includes('“dog”')")
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "web-page.png"), full_page=True)

    assert not problems, problems
    # The one expected failure: the unknown word (maybe a prefix of "dog" too, if typing outran the debounce).
    expected = {f"422 {server}/v1/related?q={q}&k=10" for q in ("zzzz", "d", "do")}
    assert f"422 {server}/v1/related?q=zzzz&k=10" in failed and set(failed) <= expected, failed
    foreign = [u for u in requests if not u.startswith(server)]
    assert not foreign, f"the page fetched from elsewhere: {foreign}"
    page.close()


def test_page_describes_a_dropped_image(server: str, browser: Any, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="uploads run the CNN of the optional image extra")
    from PIL import Image

    photo, text = tmp_path / "photo.jpg", tmp_path / "notes.png"
    Image.new("RGB", (300, 200), (30, 140, 60)).save(photo)
    text.write_bytes(b"not a picture at all")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(f"{server}/")
    page.locator("#image-file").set_input_files(str(photo))
    page.wait_for_selector("#image-results li.hit", timeout=120_000)  # the first upload loads the CNN
    assert page.locator("#image-results .phrase").count() == 10
    assert page.locator("#image-words .word").count() == 10
    assert "photo.jpg" in page.locator("#image-status").inner_text()
    assert page.locator("#image-caption").inner_text().startswith("Model's caption")
    page.locator("#image-file").set_input_files(str(text))
    wait_js(page, "document.querySelector('#image-status').classList.contains('error')")
    assert "not a JPEG or PNG" in page.locator("#image-status").inner_text()
    assert page.locator("#image-results li").count() == 0
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "web-page-image.png"), full_page=True)


def test_docs_render_offline_under_the_csp(server: str, browser: Any) -> None:
    """/docs (Swagger UI from the wheel, started by app/static/docs.js) renders the API under the service's
    Content-Security-Policy, and every request stays on the service (no CDN)."""
    page = browser.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{server}/docs")
    page.wait_for_selector(".swagger-ui .opblock-summary-path", timeout=30_000)
    paths = page.locator(".swagger-ui .opblock-summary-path").all_inner_texts()
    assert any("/v1/related" in p for p in paths), paths
    assert all(url.startswith(server) for url in requests if not url.startswith("data:")), requests
    assert not problems, problems
    page.close()


def build_shuffled_index(tmp: Path, like: Path) -> Path:
    """The topic index's phrases over its words with their vectors shuffled: a model that disagrees."""
    import numpy as np

    from index.__main__ import main as index_cli
    from index.artifacts import load_embeddings, write_embeddings

    emb = load_embeddings(like / "embeddings")
    vectors = np.asarray(emb.vectors)[np.random.default_rng(3).permutation(len(emb.words))]
    corpus = {"name": "topics", "num_sentences": 0, "num_tokens": 0}
    write_embeddings(tmp / "embeddings", list(emb.words), [int(c) for c in emb.counts], vectors,
                     model_kind="word2vec", corpus=corpus, training={}, metrics={}, seed=3)  # fmt: skip
    phrases = tmp / "phrases.tsv"
    phrases.write_text("".join(f"{p}\t{c}\n" for p, c in PHRASES.items()), encoding="utf-8")
    code = index_cli(
        [
            "build",
            "--embeddings",
            str(tmp / "embeddings"),
            "--phrases",
            str(phrases),
            "--out",
            str(tmp / "index"),
        ]
        + ["--factory", "Flat", "--no-progress", "--threads", "1"]
    )
    assert code == 0, "the index build failed"
    return tmp / "index"


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m app serve` with two named models (MMWE_INDEXES): the topic index and a shuffled one."""
    tmp = tmp_path_factory.mktemp("web-models")
    topics = build_topic_index(tmp / "a")
    shuffled = build_shuffled_index(tmp / "b", topics)
    url = f"sqlite:///{tmp / 'mmwe.db'}"
    upgrade(url)
    env = {
        **os.environ,
        "MMWE_DATA_DIR": str(tmp),
        "MMWE_INDEXES": f"topics={topics},shuffled={shuffled}",
        "DATABASE_URL": url,
        "MMWE_WORKERS": "1",
        "MMWE_LOG_LEVEL": "warning",
        "PYTHONPATH": str(ROOT),
    }
    with serving(tmp, env) as base:
        yield base


def test_page_compares_models_side_by_side(server: str, two_models: str, browser: Any) -> None:
    single = browser.new_page()
    single.goto(f"{server}/")
    single.wait_for_selector("#model-info:not(:empty)")
    wait_js(single, "!document.querySelector('#model-info').textContent.startsWith('Loading')")
    assert single.locator("#compare-card").is_hidden()  # one model: nothing to compare
    single.close()

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{two_models}/")
    page.wait_for_selector("#compare-card:not([hidden])")
    assert page.locator("#compare-models input").count() == 2
    page.locator("#compare-query").press_sequentially("dog", delay=40)
    wait_js(page, "document.querySelectorAll('#compare-grid .compare-column').length === 2")
    wait_js(page, "document.querySelector('#compare-status').textContent.includes('Jaccard')")
    api = httpx.get(
        f"{two_models}/v1/compare", params={"q": "dog", "k": 10, "models": "topics,shuffled"}
    ).json()
    for side in api["models"]:  # each column is the API's list for that model, in order
        shown = page.locator(f".compare-column[data-model='{side['model']}'] .phrase").all_inner_texts()
        assert shown == [h["phrase"] for h in side["results"]], side["model"]
    assert page.locator("#compare-grid li.shared").count() == 2 * len(api["overlap"]["shared"])
    assert f"Jaccard {api['overlap']['jaccard']:.2f}" in page.locator("#compare-status").inner_text()
    assert api["overlap"]["jaccard"] < 1.0  # the shuffled model disagrees
    OUTPUT.mkdir(exist_ok=True)
    page.locator("#compare-card").screenshot(path=str(OUTPUT / "web-page-compare.png"))
    page.locator("#compare-models input[value='shuffled']").uncheck()
    wait_js(page, "document.querySelectorAll('#compare-grid .compare-column').length === 1")
    assert not problems, problems
    assert all(url.startswith(two_models) for url in requests), requests
    page.close()
