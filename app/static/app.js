// The mmwe page: related phrases as you type, similarity of two phrases, evaluation runs over time, and a 2-D
// map of the most frequent phrases. Talks only to this server's JSON API (same origin); no other fetch.
// Clicking a related phrase also reports the click (POST /v1/feedback), from which click benchmarks are built.
"use strict";

const $ = (id) => document.getElementById(id);
const DEBOUNCE_MS = 150;
const PREFERRED_METRICS = ["accuracy", "spearman", "pearson", "score", "recall_at_k"];
const MODEL_NAMES = {  // the paper's names for the model kinds of docs/formats.md
  a: "Model A", "a-noshare": "Model A without weight sharing", b: "Model B", c: "Model C",
  text: "Pure-text RNN", word2vec: "word2vec",
};
const plural = (n, word) => `${fmt.format(n)} ${word}${n === 1 ? "" : "s"}`;

// GET a JSON endpoint; throws an Error whose message is the API's error message.
async function getJSON(path, params, signal, headers) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params || {})) url.searchParams.set(key, String(value));
  const response = await fetch(url, { signal, headers: { Accept: "application/json", ...(headers || {}) } });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

// Runs `task(signal)` for the latest call only: an older request still in flight is aborted and ignored.
function latestOnly(task) {
  let controller = null;
  return async (...args) => {
    if (controller) controller.abort();
    const mine = new AbortController();
    controller = mine;
    try {
      return await task(mine.signal, ...args);
    } catch (error) {
      if (error.name === "AbortError") return undefined;
      throw error;
    }
  };
}

const fmt = new Intl.NumberFormat("en");

// --- model information -----------------------------------------------------------------------------------
async function loadInfo() {
  try {
    const info = await getJSON("/v1/info");
    const model = info.model || {}, index = info.index || {};
    const kind = MODEL_NAMES[model.model_kind] || model.model_kind;
    $("model-info").textContent =
      `${kind} · ${model.dim}-d · ${fmt.format(model.vocab_size)} words · ` +
      `index ${index.factory}, ${fmt.format(index.num_phrases)} phrases`;
  } catch (error) {
    $("model-info").textContent = `Model information unavailable: ${error.message}`;
  }
}

// --- related phrases -------------------------------------------------------------------------------------
let lastHits = [];
let lastQuery = "";

const searchRelated = latestOnly(async (signal) => {
  const q = $("query").value.trim();
  const status = $("related-status");
  const list = $("results");
  if (!q) {
    list.textContent = "";
    status.textContent = "Results appear as you type.";
    status.classList.remove("error");
    lastHits = [];
    highlight();
    return;
  }
  status.textContent = "Searching…";
  try {
    // the page's session id as the client id: with an A/B split (MMWE_AB_SPLIT) a visit stays on one model
    const data = await getJSON("/v1/related", { q, k: $("k").value }, signal, { "X-Client-Id": SESSION });
    renderResults(data);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    list.textContent = "";
    lastHits = [];
    status.textContent = error.message;
    status.classList.add("error");
    highlight();
  }
});

function renderResults(data) {
  const status = $("related-status");
  const list = $("results");
  status.classList.remove("error");
  const oov = data.oov && data.oov.length ? ` Unknown words ignored: ${data.oov.join(", ")}.` : "";
  status.textContent = `${plural(data.results.length, "phrase")} related to “${data.normalized}”.${oov}`;
  list.textContent = "";
  const shown = {
    query: data.normalized, phrases: data.results.map((h) => h.phrase),
    model: data.served_by && data.served_by.model, assignment: data.assignment || null,
  };
  for (const hit of data.results) {
    const li = document.createElement("li");
    li.className = "hit";
    const phrase = document.createElement("button");
    phrase.type = "button";
    phrase.className = "phrase";
    phrase.textContent = hit.phrase;
    phrase.title = `Search “${hit.phrase}”`;
    phrase.addEventListener("click", () => { sendFeedback(shown, hit.phrase); setQuery(hit.phrase); });
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${Math.max(0, Math.min(1, hit.score)) * 100}%`;
    bar.appendChild(fill);
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = hit.score.toFixed(3);
    const count = document.createElement("span");
    count.className = "count muted";
    count.textContent = `×${fmt.format(hit.count)}`;
    count.title = "occurrences in the corpus";
    li.append(phrase, bar, score, count);
    list.appendChild(li);
  }
  lastHits = data.results.map((h) => h.phrase);
  lastQuery = data.normalized;
  highlight();
}

// --- feedback: which related phrase a user clicked, among those shown (POST /v1/feedback) ---------------
// An opaque id for this page load only (no cookie, nothing personal), so clicks of one visit can be told apart.
const SESSION = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0"))
  .join("");

function sendFeedback(shown, clicked) {
  const body = JSON.stringify({
    query: shown.query, shown: shown.phrases, clicked: [clicked], model: shown.model || "default",
    session: SESSION, ...(shown.assignment ? { assignment: shown.assignment } : {}),
  });
  // keepalive: the request completes even if the click navigates away; failures are not the user's concern
  const headers = { "Content-Type": "application/json" };
  fetch("/v1/feedback", { method: "POST", keepalive: true, headers, body }).catch(() => {});
}

function setQuery(phrase) {
  $("query").value = phrase;
  searchRelated();
  $("query").focus();
}

// --- similarity ------------------------------------------------------------------------------------------
const compare = latestOnly(async (signal) => {
  const a = $("phrase-a").value.trim(), b = $("phrase-b").value.trim();
  const text = $("similarity-text");
  const fill = $("gauge-fill");
  if (!a || !b) {
    fill.style.width = "0";
    text.textContent = "Cosine similarity, from −1 (opposite) to 1 (same direction).";
    text.classList.remove("error");
    return;
  }
  try {
    const data = await getJSON("/v1/similarity", { a, b }, signal);
    const cosine = data.cosine;
    // The gauge grows from its middle (0) to the right for positive, to the left for negative values.
    fill.style.left = cosine >= 0 ? "50%" : `${50 + cosine * 50}%`;
    fill.style.width = `${Math.abs(cosine) * 50}%`;
    fill.className = cosine >= 0 ? "positive" : "negative";
    const oov = [...(data.a.oov || []), ...(data.b.oov || [])];
    text.classList.remove("error");
    text.textContent = `cos(“${data.a.normalized}”, “${data.b.normalized}”) = ${cosine.toFixed(3)}` +
      (oov.length ? ` (unknown words ignored: ${oov.join(", ")})` : "");
  } catch (error) {
    if (error.name === "AbortError") throw error;
    fill.style.width = "0";
    text.textContent = error.message;
    text.classList.add("error");
  }
});

// --- evaluation runs -------------------------------------------------------------------------------------
let runs = [];

async function loadEvaluations() {
  const status = $("evaluations-status");
  status.textContent = "Loading evaluation runs…";
  status.classList.remove("error");
  try {
    runs = [];
    for (let offset = 0, total = Infinity; offset < total && offset < 500; offset += 100) {
      const page = await getJSON("/v1/evaluations", { limit: 100, offset });
      runs.push(...page.items);
      total = page.total;
      if (page.items.length === 0) break;
    }
    const metrics = metricNames(runs);
    const select = $("metric");
    const previous = select.value;
    select.textContent = "";
    for (const name of metrics) select.appendChild(new Option(name, name));
    select.value = metrics.includes(previous) ? previous :
      (PREFERRED_METRICS.find((m) => metrics.includes(m)) || metrics[0] || "");
    drawEvaluations();
  } catch (error) {
    $("evaluations-chart").textContent = "";
    status.textContent = `Evaluation runs unavailable: ${error.message}`;
    status.classList.add("error");
  }
}

function succeeded(run) { return run.status === "succeeded" && Array.isArray(run.results); }

function metricNames(list) {
  const names = new Set();
  for (const run of list.filter(succeeded)) {
    for (const result of run.results) {
      for (const [key, value] of Object.entries(result.metrics || {})) {
        if (typeof value === "number" && Number.isFinite(value)) names.add(key);
      }
    }
  }
  return [...names].sort();
}

function drawEvaluations() {
  const metric = $("metric").value;
  const container = $("evaluations-chart");
  const status = $("evaluations-status");
  const done = runs.filter(succeeded);
  if (!metric || done.length === 0) {
    container.textContent = "";
    status.textContent = runs.length
      ? `${plural(runs.length, "run")}, none finished with numeric metrics yet.`
      : "No evaluation runs yet. Start one with POST /v1/admin/evaluations (see /docs).";
    return;
  }
  const byBenchmark = new Map();
  for (const run of done) {
    const t = Date.parse(run.finished_at || run.created_at);
    for (const result of run.results) {
      const value = (result.metrics || {})[metric];
      if (typeof value !== "number" || !Number.isFinite(value)) continue;
      if (!byBenchmark.has(result.benchmark)) byBenchmark.set(result.benchmark, []);
      const model = run.artifact_id != null ? ` · embeddings #${run.artifact_id}` : "";
      byBenchmark.get(result.benchmark).push({ t, y: value, label: `run #${run.id}${model}` });
    }
  }
  const series = [...byBenchmark.entries()].sort((a, b) => a[0].localeCompare(b[0]))
    .map(([name, points]) => ({ name, points }));
  window.mmweCharts.lineChart(container, series, { yLabel: metric, ariaLabel: `${metric} of evaluation runs` });
  status.textContent =
    `${plural(done.length, "finished run")}, ${plural(series.length, "benchmark")}; ${metric} by finishing time.`;
}

// --- phrase map ------------------------------------------------------------------------------------------
const loadMap = latestOnly(async (signal) => {
  const status = $("map-status");
  status.textContent = "Computing the map…";
  status.classList.remove("error");
  try {
    const data = await getJSON("/v1/map", {
      n: $("map-n").value,
      min_words: $("map-multiword").checked ? 2 : 1,
      stopwords: $("map-stopwords").checked,
    }, signal);
    window.mmweCharts.scatterMap($("map-chart"), data.points, {
      onPick: setQuery, ariaLabel: "PCA map of frequent phrases",
    });
    const [vx, vy] = data.explained_variance_ratio.map((v) => (100 * v).toFixed(1));
    status.textContent = `${data.points.length} most frequent phrases of ${fmt.format(data.num_phrases)} ` +
      `(${data.method.toUpperCase()}: x ${vx}%, y ${vy}% of the variance). Click a phrase to search it.`;
    highlight();
  } catch (error) {
    if (error.name === "AbortError") throw error;
    $("map-chart").textContent = "";
    status.textContent = `Map unavailable: ${error.message}`;
    status.classList.add("error");
  }
});

function highlight() { window.mmweCharts.highlightMap($("map-chart"), lastHits, lastQuery); }

// --- wiring ----------------------------------------------------------------------------------------------
function start() {
  const typed = debounce(searchRelated, DEBOUNCE_MS);
  $("query").addEventListener("input", typed);
  $("related-form").addEventListener("submit", (event) => { event.preventDefault(); searchRelated(); });
  $("k").addEventListener("change", () => searchRelated());
  const typedPair = debounce(compare, DEBOUNCE_MS);
  $("phrase-a").addEventListener("input", typedPair);
  $("phrase-b").addEventListener("input", typedPair);
  $("similarity-form").addEventListener("submit", (event) => { event.preventDefault(); compare(); });
  $("metric").addEventListener("change", drawEvaluations);
  $("evaluations-refresh").addEventListener("click", loadEvaluations);
  for (const id of ["map-n", "map-multiword", "map-stopwords"]) $(id).addEventListener("change", () => loadMap());
  $("map-form").addEventListener("submit", (event) => { event.preventDefault(); loadMap(); });
  let width = window.innerWidth;
  window.addEventListener("resize", debounce(() => {
    if (window.innerWidth === width) return;
    width = window.innerWidth;
    drawEvaluations();
    loadMap();
  }, 250));
  loadInfo();
  loadEvaluations();
  loadMap();
  if ($("query").value.trim()) searchRelated();
}

document.addEventListener("DOMContentLoaded", start);
