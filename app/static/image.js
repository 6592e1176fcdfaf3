// "Phrases for an image": drop or pick a JPEG/PNG; it is POSTed to /v1/related/image (multipart, field
// `image`) and the suggested words, the model's caption and the related phrases are shown. Same origin only.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const drop = $("image-drop"), input = $("image-file"), status = $("image-status");

  function show(body) {
    $("image-caption").textContent = body.caption ? `Model's caption: “${body.caption}”` : "";
    const words = $("image-words");
    words.replaceChildren(...body.words.map((w) => {
      const span = document.createElement("span");
      span.className = "word";
      span.textContent = w.word;
      span.title = `score ${w.score.toFixed(3)}`;
      return span;
    }));
    $("image-results").replaceChildren(...body.results.map((hit) => {
      const li = document.createElement("li");
      li.className = "hit";
      const phrase = document.createElement("span");
      phrase.className = "phrase";
      phrase.textContent = hit.phrase;
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = hit.score.toFixed(3);
      li.append(phrase, " ", score);
      return li;
    }));
  }

  async function describe(file) {
    status.classList.remove("error");
    status.textContent = `Describing ${file.name}…`;
    const form = new FormData();
    form.append("image", file, file.name);
    try {
      const response = await fetch("/v1/related/image?k=10", { method: "POST", body: form });
      let body = null;
      try { body = await response.json(); } catch (_) { body = null; }
      if (!response.ok) {
        throw new Error(body && body.error ? body.error.message : `${response.status} ${response.statusText}`);
      }
      show(body);
      status.textContent = `Words and phrases for ${file.name}`;
    } catch (error) {
      show({ caption: "", words: [], results: [] });
      status.textContent = error.message;
      status.classList.add("error");
    }
  }

  input.addEventListener("change", () => { if (input.files.length) describe(input.files[0]); });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) describe(event.dataTransfer.files[0]);
  });
})();
