// The "Compare models" card: one query, the related phrases of several served models side by side
// (GET /v1/compare), phrases every model returned marked as shared, and the overlap (Jaccard). Hidden when the
// server serves one model. Same origin only; no inline script (the page's CSP).
"use strict";

(() => {
  const byId = (id) => document.getElementById(id);
  const DEBOUNCE_MS = 200;
  let controller = null;
  let timer = null;

  async function fetchJSON(path, params, signal) {
    const url = new URL(path, window.location.origin);
    for (const [key, value] of Object.entries(params || {})) url.searchParams.set(key, String(value));
    const response = await fetch(url, { signal, headers: { Accept: "application/json" } });
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (!response.ok) throw new Error(body && body.error ? body.error.message : `${response.status}`);
    return body;
  }

  function chosen() {
    return Array.from(document.querySelectorAll("#compare-models input:checked")).map((box) => box.value);
  }

  function column(side, shared) {
    const col = document.createElement("div");
    col.className = "compare-column";
    col.dataset.model = side.model;
    const title = document.createElement("h3");
    title.textContent = side.model;
    const kind = document.createElement("span");
    kind.className = "muted";
    kind.textContent = ` ${side.served_by.model_kind} · ${side.served_by.index}`;
    title.appendChild(kind);
    col.appendChild(title);
    if (side.error) {
      const problem = document.createElement("p");
      problem.className = "error";
      problem.textContent = side.error.message;
      col.appendChild(problem);
      return col;
    }
    const list = document.createElement("ol");
    list.className = "compare-hits";
    for (const hit of side.results) {
      const item = document.createElement("li");
      item.className = shared.has(hit.phrase) ? "hit shared" : "hit";
      const phrase = document.createElement("span");
      phrase.className = "phrase";
      phrase.textContent = hit.phrase;
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = hit.score.toFixed(3);
      item.append(phrase, score);
      list.appendChild(item);
    }
    col.appendChild(list);
    return col;
  }

  async function run() {
    const q = byId("compare-query").value.trim();
    const models = chosen();
    const status = byId("compare-status");
    const grid = byId("compare-grid");
    if (controller) controller.abort();
    if (!q || models.length === 0) {
      grid.textContent = "";
      status.classList.remove("error");
      status.textContent = models.length ? "Type a phrase to compare the models." : "Pick at least one model.";
      return;
    }
    const mine = new AbortController();
    controller = mine;
    try {
      const data = await fetchJSON("/v1/compare", { q, models: models.join(","), k: byId("compare-k").value }, mine.signal);
      const shared = new Set(data.overlap.shared);
      grid.textContent = "";
      for (const side of data.models) grid.appendChild(column(side, shared));
      status.classList.remove("error");
      const pairs = data.overlap.pairs.map((p) => `${p.a}–${p.b} ${p.jaccard.toFixed(2)}`).join(", ");
      status.textContent = `“${data.query}”: ${data.overlap.shared.length} shared phrase` +
        `${data.overlap.shared.length === 1 ? "" : "s"}, Jaccard ${data.overlap.jaccard.toFixed(2)}` +
        (data.overlap.pairs.length > 1 ? ` (pairs: ${pairs})` : "");
    } catch (error) {
      if (error.name === "AbortError") return;
      grid.textContent = "";
      status.classList.add("error");
      status.textContent = error.message;
    }
  }

  function later() { clearTimeout(timer); timer = setTimeout(run, DEBOUNCE_MS); }

  async function start() {
    const card = byId("compare-card");
    let info = null;
    try { info = await fetchJSON("/v1/info"); } catch (_) { return; }
    const models = (info && info.models) || [];
    if (models.length < 2) return;  // one model: nothing to compare
    const boxes = byId("compare-models");
    for (const model of models) {
      const label = document.createElement("label");
      label.className = "inline";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = model.name;
      box.checked = true;
      box.addEventListener("change", run);
      label.append(box, document.createTextNode(model.name));
      boxes.appendChild(label);
    }
    card.hidden = false;
    byId("compare-query").addEventListener("input", later);
    byId("compare-k").addEventListener("change", run);
    byId("compare-form").addEventListener("submit", (event) => { event.preventDefault(); run(); });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
