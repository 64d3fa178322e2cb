// clipvec search page: plain JS, no dependencies. It talks only to the service's public
// endpoints (/search_text, /search_image, /search_combined, /collection_info, /facets,
// /duplicates, /import, /import_status) and shows images through the page's own thumb/file
// routes. Every text from the service (file names are hostile) goes in as textContent.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    form: $("search-form"),
    q: $("q"),
    file: $("file"),
    drop: $("drop"),
    topk: $("topk"),
    minScore: $("min-score"),
    minScoreLabel: $("min-score-label"),
    info: $("info"),
    error: $("error"),
    status: $("status"),
    results: $("results"),
    preview: $("query-preview"),
    previewImg: $("query-preview-img"),
    previewText: $("query-preview-text"),
    viewer: $("viewer"),
    viewerImg: $("viewer-img"),
    viewerTitle: $("viewer-title"),
    viewerMeta: $("viewer-meta"),
    viewerMore: $("viewer-more"),
    viewerOpen: $("viewer-open"),
    viewerPrev: $("viewer-prev"),
    viewerNext: $("viewer-next"),
    viewerClose: $("viewer-close"),
    importButton: $("import-button"),
    importStatus: $("import-status"),
    sort: $("sort"),
    filters: $("filters"),
    filtersCount: $("filters-count"),
    filtersClear: $("filters-clear"),
    takenAfter: $("taken-after"),
    takenBefore: $("taken-before"),
    takenHint: $("taken-hint"),
    camera: $("camera"),
    lens: $("lens"),
    nearLat: $("near-lat"),
    nearLon: $("near-lon"),
    nearKm: $("near-km"),
    orientation: $("orientation"),
    refineForm: $("refine-form"),
    refineSign: $("refine-sign"),
    refineText: $("refine-text"),
    duplicatesButton: $("duplicates-button"),
    duplicates: $("duplicates"),
    duplicateGroups: $("duplicate-groups"),
    duplicatesTitle: $("duplicates-title"),
  };

  const state = {
    info: null, // the last /collection_info answer
    hits: [],
    metric: null,
    higherIsBetter: true,
    last: null, // {kind: "text", text} | {kind: "image", blob, label, thumb} | {kind: "combined", hit, text, weight, label}
    inflight: null, // AbortController of the running search
    viewerIndex: -1,
    opener: null, // the element focused before the viewer opened
    previewUrl: null,
  };

  // Finished searches (successful or not) are counted on the results list, so tests and
  // assistive tooling can tell when an answer has been rendered.
  let finished = 0;
  const markDone = (query) => {
    finished += 1;
    el.results.dataset.searches = String(finished);
    el.results.dataset.query = query ? (query.kind === "text" ? query.text : query.label) : "";
  };

  // ------------------------------------------------------------------ URLs
  // A hit's path is the stored text exactly (a backslash as "\\", a byte that is not UTF-8
  // as "\xNN", tabs and newlines as they are): URLSearchParams percent-encodes every
  // character, and the route decodes it back to that text. v= (the content hash's start)
  // lets the route find names no Milvus filter can carry (serving/web/paths.py).
  const serviceUrl = (route, params) => {
    const url = new URL("../" + route, document.baseURI);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
    }
    return url;
  };
  const imageUrl = (route, hit, extra) => {
    const url = new URL(route, document.baseURI);
    url.searchParams.set("path", hit.path);
    if (hit.content_hash) url.searchParams.set("v", String(hit.content_hash).slice(0, 16));
    for (const [k, v] of Object.entries(extra || {})) url.searchParams.set(k, v);
    return url.href;
  };
  const thumbUrl = (hit, size = 256) => imageUrl("thumb", hit, { size });
  const fileUrl = (hit) => imageUrl("file", hit);

  // ------------------------------------------------------------------ messages
  class UiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  function describeFailure(status, body, what) {
    const code = body && body.error;
    const detail = body && body.detail ? String(body.detail) : "";
    // 503s that are not Milvus: one near-duplicates run at a time, or a service still starting.
    if (code === "busy") return "The service is busy with another such request; try again in a minute.";
    if (code === "unavailable") return "The service is still starting; try again shortly.";
    if (status === 503 || code === "store_unavailable") {
      return "The image database (Milvus) cannot be reached, so nothing can be searched right now. Check that Milvus is running, then try again.";
    }
    if (code === "model_unavailable") return "The CLIP model is not available: " + detail;
    if (code === "unsupported_image_format" || code === "unsupported_media_type" || status === 415) {
      return `${what} is not an image format clipvec can read (JPEG, PNG, WebP, GIF, BMP, TIFF, TGA, Radiance HDR${detail.includes("AVIF") ? ", AVIF" : ""}).`;
    }
    if (code === "truncated_image") return `${what} is cut short (truncated); it cannot be read.`;
    if (code === "undecodable_image") return `${what} could not be decoded: ${detail}`;
    if (code === "image_too_large" || code === "payload_too_large" || status === 413) {
      return `${what} is too large for the service: ${detail}`;
    }
    if (code === "empty_body") return `${what} is empty.`;
    if (code === "bad_parameter") return "A search option is not valid: " + detail;
    if (status === 401) return "This service needs an API key. Reload the page to enter it.";
    if (detail) return `The service refused the request (${status}): ${detail}`;
    return `The service answered with an unexpected error (HTTP ${status}).`;
  }

  // ------------------------------------------------------------------ API key
  // With CLIPVEC_API_KEY set, the service answers 401 until the page sends the key. The page
  // asks once and keeps it in this browser (localStorage); a same-site cookie limited to /ui
  // lets the thumbnails and the large view (plain <img> loads) carry it too.
  const KEY_STORE = "clipvec.apiKey";
  const storedKey = () => {
    try {
      return localStorage.getItem(KEY_STORE) || "";
    } catch {
      return "";
    }
  };
  const keyCookie = (key) => {
    const base = new URL(".", document.baseURI).pathname;
    const expiry = key ? "" : "; max-age=0";
    document.cookie = `clipvec_key=${encodeURIComponent(key)}; path=${base}; SameSite=Strict${expiry}`;
  };
  function askForKey(again) {
    const key = window.prompt(
      again
        ? "That API key was not accepted. Enter the service's API key (CLIPVEC_API_KEY):"
        : "This clipvec service needs an API key (CLIPVEC_API_KEY). Enter it to continue:"
    );
    if (!key || !key.trim()) return "";
    try {
      localStorage.setItem(KEY_STORE, key.trim());
    } catch {
      /* private mode: the key lasts for this page only */
    }
    keyCookie(key.trim());
    return key.trim();
  }
  let apiKey = storedKey();
  if (apiKey) keyCookie(apiKey);

  // body === undefined: a GET (/facets, /duplicates); otherwise a POST of that body.
  async function send(route, body, contentType, params, signal) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = contentType;
    if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
    const method = body === undefined ? "GET" : "POST";
    return fetch(serviceUrl(route, params), { method, body, headers, signal });
  }

  const get = (route, params, signal, what) => post(route, undefined, null, params, signal, what);

  async function post(route, body, contentType, params, signal, what) {
    let resp;
    try {
      resp = await send(route, body, contentType, params, signal);
      if (resp.status === 401) {
        const key = askForKey(Boolean(apiKey));
        if (key) {
          apiKey = key;
          resp = await send(route, body, contentType, params, signal);
        }
      }
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new UiError("The clipvec service cannot be reached. Is it still running?", 0);
    }
    let data = null;
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
    // An {"error", "detail"} body is a failure whatever the status line says.
    const failed = !resp.ok || (data && typeof data === "object" && typeof data.error === "string");
    if (failed) throw new UiError(describeFailure(resp.status, data, what), resp.status);
    if (!data) throw new UiError("The service sent an answer that is not JSON.", resp.status);
    return data;
  }

  function showError(message) {
    el.error.textContent = message;
    el.error.hidden = false;
  }
  function clearError() {
    el.error.hidden = true;
    el.error.textContent = "";
  }
  function setStatus(message) {
    el.status.textContent = message;
  }

  // ------------------------------------------------------------------ collection info
  const shortModel = (model) => {
    const parts = String(model || "").split(/[\\/]/).filter(Boolean);
    return parts.length ? parts[parts.length - 1] : String(model || "?");
  };

  async function loadInfo() {
    try {
      const info = await post("collection_info", "{}", "application/json", null, undefined, "The request");
      state.info = info;
      state.higherIsBetter = info.higher_is_better !== false;
      const count = Number(info.count) || 0;
      el.info.textContent = "";
      const countEl = document.createElement("span");
      countEl.id = "info-count";
      countEl.textContent = `${count.toLocaleString()} image${count === 1 ? "" : "s"}`;
      const modelEl = document.createElement("span");
      modelEl.id = "info-model";
      modelEl.textContent = shortModel(info.model);
      modelEl.title = String(info.model) + (info.family ? ` (${info.family})` : "");
      const collectionEl = document.createElement("span");
      collectionEl.id = "info-collection";
      collectionEl.textContent = String(info.collection);
      const metricEl = document.createElement("span");
      metricEl.textContent = info.metric;
      metricEl.title = state.higherIsBetter ? "higher scores are closer matches" : "lower scores are closer matches";
      el.info.append(countEl, " in collection ", collectionEl, " · model ", modelEl, " · ", metricEl);
      el.info.dataset.count = String(count);
      el.info.dataset.model = String(info.model);
      el.info.dataset.collection = String(info.collection);
      el.minScoreLabel.textContent = state.higherIsBetter ? "Minimum score" : "Maximum distance";
      if (count === 0) {
        showError(
          "The collection is empty: there is nothing to search yet. Press \u201cImport images folder\u201d " +
            "to import the service's images folder (CLIPVEC_IMAGES_DIR), or add images with POST /add_image."
        );
      }
      return info;
    } catch (err) {
      el.info.textContent = "Collection unavailable";
      showError(err.message);
      return null;
    }
  }

  // ------------------------------------------------------------------ importing the images folder
  // POST /import makes the service import its own images folder: while it holds a Milvus
  // Lite file, no other process (clipvec import, milvus_import.py) can open that file.
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const count = (n) => Number(n || 0).toLocaleString();

  function importText(status) {
    if (status.state === "running") {
      if (status.total === null || status.total === undefined) return "Importing the images folder: looking for files\u2026";
      return `Importing the images folder: ${count(status.done)} of ${count(status.total)} files\u2026`;
    }
    if (status.state === "done" && status.result) {
      const r = status.result;
      return (
        `Import finished: ${count(r.imported)} new, ${count(r.reused)} copies or renames, ` +
        `${count(r.unchanged)} unchanged, ${count(r.skipped)} skipped, ${count(r.failed)} failed.`
      );
    }
    const why = status.error && status.error.detail ? status.error.detail : "no reason given";
    return `The import stopped: ${why}`;
  }

  async function followImport(status) {
    el.importButton.disabled = true;
    el.importStatus.hidden = false;
    try {
      while (status.state === "running") {
        el.importStatus.textContent = importText(status);
        await sleep(500);
        status = await post("import_status", "{}", "application/json", null, undefined, "The import");
      }
      el.importStatus.textContent = importText(status);
      el.importStatus.dataset.state = status.state;
      if (status.state === "done") {
        clearError();
        await loadInfo();
        loadFacets(); // new cameras and lenses become choices
      } else {
        showError(importText(status));
      }
    } finally {
      el.importButton.disabled = false;
    }
  }

  async function startImport() {
    try {
      const answer = await post("import", "{}", "application/json", null, undefined, "The import");
      await followImport(answer.import);
    } catch (err) {
      showError(err.message);
    }
  }
  el.importButton.addEventListener("click", startImport);

  // serve --watch (issue 19): "Indexing N files" while changes wait or a pass runs; the
  // count and results follow when it is done. A manual import's own lines are left alone.
  function watchText(watch) {
    const queued = Number(watch.queued) || 0;
    if (queued === 0) return "Indexing changes\u2026";
    return `Indexing ${count(queued)} file${queued === 1 ? "" : "s"}\u2026`;
  }

  async function followWatch(status) {
    let shown = false;
    for (;;) {
      const watch = status.watch || {};
      const working = (Number(watch.queued) || 0) > 0 || watch.state === "indexing";
      const mine = !el.importButton.disabled && (shown || el.importStatus.hidden);
      if (working && mine) {
        el.importStatus.hidden = false;
        el.importStatus.textContent = watchText(watch);
        el.importStatus.dataset.state = "watching";
        shown = true;
      } else if (!working && shown) {
        if (el.importStatus.dataset.state === "watching") el.importStatus.hidden = true;
        shown = false;
        await loadInfo();
      }
      await sleep(working ? 1000 : 3000);
      try {
        status = await post("import_status", "{}", "application/json", null, undefined, "The import");
      } catch (err) {
        // the status is a nicety: asked again at the next tick
      }
    }
  }

  // ------------------------------------------------------------------ searching
  function searchParams() {
    const params = {};
    const k = parseInt(el.topk.value, 10);
    if (Number.isFinite(k)) params.top_k = Math.min(200, Math.max(1, k));
    const min = el.minScore.value.trim();
    if (min !== "" && Number.isFinite(Number(min))) params.min_score = min;
    if (el.sort.value !== "score") params.sort = el.sort.value;
    return { ...params, ...filterParams() };
  }

  // ------------------------------------------------------------------ photo filters
  // The same names as the API's query parameters; the service is the one validator (a
  // malformed value comes back as 400 bad_parameter and is shown in the error area).
  const nextDay = (day) => {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
  };
  function filterParams() {
    const params = {};
    if (el.takenAfter.value) params.taken_after = el.takenAfter.value;
    // The page's "to" day is included; the API's taken_before is exclusive.
    if (el.takenBefore.value) params.taken_before = nextDay(el.takenBefore.value);
    if (el.camera.value) params.camera = el.camera.value;
    if (el.lens.value) params.lens = el.lens.value;
    const near = [el.nearLat, el.nearLon, el.nearKm].map((input) => input.value.trim());
    if (near.some((v) => v !== "")) params.near = near.join(",");
    if (el.orientation.value) params.orientation = el.orientation.value;
    return params;
  }
  function showFilterCount() {
    const n = Object.keys(filterParams()).length;
    el.filtersCount.textContent = n ? `(${n} on)` : "";
  }

  // One <select> of facet values: "Any" first, then each value with its count.
  function fillChoices(select, values, anyText) {
    const keep = select.value;
    select.textContent = "";
    select.append(new Option(anyText, ""));
    for (const entry of values || []) {
      const value = String(entry.value);
      const option = new Option(`${value} (${Number(entry.count) || 0})`, value);
      select.append(option);
    }
    if (keep && Array.from(select.options).some((o) => o.value === keep)) select.value = keep;
    select.disabled = select.options.length <= 1 && !keep;
  }

  // GET /facets: once when the page loads and after an import. A failure leaves "Any".
  async function loadFacets() {
    try {
      const facets = await get("facets", null, undefined, "The request");
      fillChoices(el.camera, facets.cameras, "Any camera");
      fillChoices(el.lens, facets.lenses, "Any lens");
      const taken = facets.taken || {};
      el.takenHint.textContent = taken.first && taken.last ? `photos from ${taken.first.slice(0, 10)} to ${taken.last.slice(0, 10)}` : "";
      // A version-1 collection has no photo metadata until `clipvec migrate` adds it.
      if (facets.metadata === false && facets.hint) el.takenHint.textContent = String(facets.hint);
      el.filters.dataset.facets = "loaded";
    } catch {
      el.filters.dataset.facets = "failed"; // searching works without the choices
    }
  }

  function setBusy(busy) {
    el.results.setAttribute("aria-busy", busy ? "true" : "false");
    document.body.classList.toggle("busy", busy);
  }

  async function runSearch(query) {
    if (state.inflight) state.inflight.abort();
    const controller = new AbortController();
    state.inflight = controller;
    state.last = query;
    clearError();
    showDuplicates(false);
    showFilterCount();
    setBusy(true);
    setStatus(query.kind === "text" ? `Searching for “${query.text}”…` : `Searching by example: ${query.label}…`);
    try {
      let answer;
      if (query.kind === "text") {
        answer = await post("search_text", query.text, "text/plain; charset=utf-8", searchParams(), controller.signal, "The text");
      } else if (query.kind === "combined") {
        // Query arithmetic (POST /search_combined): the stored image plus or minus a text.
        const body = JSON.stringify({
          parts: [
            { image_path: query.hit.path, weight: 1 },
            { text: query.text, weight: query.weight },
          ],
        });
        answer = await post("search_combined", body, "application/json", searchParams(), controller.signal, "The query");
      } else {
        // "More like this" leaves its example out of the answer (?exclude=its content hash).
        const params = { ...searchParams(), exclude: query.exclude };
        answer = await post("search_image", query.blob, "application/octet-stream", params, controller.signal, query.what || "That file");
      }
      if (state.inflight !== controller) return;
      state.metric = answer.metric;
      state.higherIsBetter = answer.higher_is_better !== false;
      renderHits(answer.hits || [], query);
    } catch (err) {
      if (err.name === "AbortError") return;
      if (state.inflight !== controller) return;
      renderHits([], query, true);
      setStatus("");
      showError(err.message);
    } finally {
      if (state.inflight === controller) {
        state.inflight = null;
        setBusy(false);
        markDone(query);
      }
    }
  }

  function searchText(text) {
    const trimmed = text.trim();
    if (!trimmed) {
      showError("Type what you are looking for, e.g. “a red circle”, or choose an image to search by example.");
      el.q.focus();
      markDone({ kind: "text", text: "" });
      return;
    }
    hidePreview();
    const url = new URL(location.href);
    url.searchParams.set("q", trimmed);
    history.replaceState(null, "", url);
    runSearch({ kind: "text", text: trimmed });
  }

  function searchFile(file) {
    if (!file) return;
    const url = new URL(location.href);
    url.searchParams.delete("q");
    history.replaceState(null, "", url);
    showPreview(URL.createObjectURL(file), `Images like ${file.name || "the pasted image"}`, true);
    runSearch({ kind: "image", blob: file, label: file.name || "pasted image", what: `“${file.name || "The pasted image"}”` });
  }

  async function moreLike(hit) {
    if (state.inflight) state.inflight.abort();
    state.inflight = null; // the aborted search must not report itself as finished
    clearError();
    setBusy(true);
    setStatus(`Fetching ${hit.path}…`);
    let blob;
    try {
      const resp = await fetch(fileUrl(hit));
      if (!resp.ok) throw new Error(String(resp.status));
      blob = await resp.blob();
    } catch {
      setBusy(false);
      setStatus("");
      showError(`The image ${hit.path} cannot be read any more, so it cannot be used as an example.`);
      markDone({ kind: "image", label: hit.path });
      return;
    }
    el.q.value = "";
    const url = new URL(location.href);
    url.searchParams.delete("q");
    history.replaceState(null, "", url);
    showPreview(thumbUrl(hit, 128), `Images like ${hit.path}`, false);
    await runSearch({ kind: "image", blob, label: hit.path, what: `“${hit.path}”`, exclude: hit.content_hash });
    // Keyboard users land on the new results; the example shown above them stays in view.
    el.results.focus({ preventScroll: true });
    el.preview.scrollIntoView({ block: "nearest" });
  }

  // "More like this, but…": the stored image's own vector plus (or minus) a text.
  async function moreLikeBut(hit, text, weight) {
    const trimmed = text.trim();
    if (!trimmed) {
      showError("Type what to add to the example (or take away from it), e.g. “at night”.");
      return;
    }
    el.q.value = "";
    const url = new URL(location.href);
    url.searchParams.delete("q");
    history.replaceState(null, "", url);
    const label = `${hit.path} ${weight > 0 ? "with" : "without"} “${trimmed}”`;
    showPreview(thumbUrl(hit, 128), `Images like ${label}`, false);
    await runSearch({ kind: "combined", hit, text: trimmed, weight, label });
    el.results.focus({ preventScroll: true });
    el.preview.scrollIntoView({ block: "nearest" });
  }

  // ------------------------------------------------------------------ query preview
  function showPreview(src, text, isObjectUrl) {
    if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
    state.previewUrl = isObjectUrl ? src : null;
    el.previewImg.hidden = false;
    el.previewImg.src = src;
    el.previewText.textContent = text;
    el.preview.hidden = false;
  }
  function hidePreview() {
    if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
    state.previewUrl = null;
    el.preview.hidden = true;
    el.previewImg.removeAttribute("src");
  }
  el.previewImg.addEventListener("error", () => {
    el.previewImg.hidden = true; // e.g. HDR or TIFF: the browser cannot show it, the service can read it
  });

  // ------------------------------------------------------------------ results
  const formatScore = (score) => (typeof score === "number" ? score.toFixed(3) : String(score));
  const formatBytes = (n) => {
    if (!Number.isFinite(n)) return "";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  };

  function renderHits(hits, query, failed) {
    state.hits = hits;
    el.results.textContent = "";
    if (failed) return;
    const fragment = document.createDocumentFragment();
    hits.forEach((hit, index) => fragment.append(hitCard(hit, index)));
    el.results.append(fragment);
    const what = query.kind === "text" ? `“${query.text}”` : `images like ${query.label}`;
    const filtered = Object.keys(filterParams()).length > 0;
    if (hits.length === 0) {
      const empty = state.info && Number(state.info.count) === 0;
      setStatus(
        empty
          ? "No results: the collection is empty."
          : `No images matched ${what}.` +
              (filtered ? " Try fewer filters." : el.minScore.value.trim() ? " Try a lower minimum score." : " Try other words.")
      );
    } else {
      const direction = state.higherIsBetter ? "higher is closer" : "lower is closer";
      const order = el.sort.value === "taken" ? ", in the order taken" : "";
      setStatus(`${hits.length} result${hits.length === 1 ? "" : "s"} for ${what} (${state.metric || "score"}, ${direction}${order}).`);
    }
  }

  function hitCard(hit, index) {
    const li = document.createElement("li");
    li.className = "hit";
    li.dataset.path = hit.path;
    li.dataset.score = String(hit.score);

    const open = document.createElement("button");
    open.type = "button";
    open.className = "thumb";
    open.setAttribute("aria-label", `View ${hit.path}, score ${formatScore(hit.score)}`);
    const img = document.createElement("img");
    img.alt = "";
    img.width = 256;
    img.height = 256;
    img.loading = index < 12 ? "eager" : "lazy";
    img.decoding = "async";
    img.src = thumbUrl(hit);
    img.addEventListener("error", () => {
      open.classList.add("missing");
      img.remove();
      open.append(Object.assign(document.createElement("span"), { textContent: "no preview" }));
    });
    open.append(img);
    open.addEventListener("click", () => openViewer(index, open));

    const meta = document.createElement("div");
    meta.className = "hit-meta";
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = formatScore(hit.score);
    score.title = `${state.metric || "score"}: ${hit.score}`;
    const path = document.createElement("span");
    path.className = "path";
    // Long paths lose their start, never their file name: "…/2023/holiday/beach.jpg".
    path.textContent = hit.path.length > 72 ? "…" + hit.path.slice(-71) : hit.path;
    path.title = hit.paths && hit.paths.length > 1 ? hit.paths.join("\n") : hit.path;
    meta.append(score, path);
    const photo = photoLine(hit);
    if (photo) meta.append(photo);

    const actions = document.createElement("div");
    actions.className = "hit-actions";
    const more = document.createElement("button");
    more.type = "button";
    more.className = "more";
    more.textContent = "More like this";
    more.setAttribute("aria-label", `More like ${hit.path}`);
    more.addEventListener("click", () => moreLike(hit));
    const but = document.createElement("button");
    but.type = "button";
    but.className = "more-but";
    but.textContent = "…but";
    but.setAttribute("aria-label", `Similar to ${hit.path}, but…`);
    but.addEventListener("click", () => {
      openViewer(index, but);
      el.refineText.focus();
    });
    actions.append(more, but);

    li.append(open, meta, actions);
    return li;
  }

  // When and with what the photo was taken (when known): "2019-03-02 08:00 · Canon EOS R5".
  const shownTaken = (taken) => (taken ? String(taken).slice(0, 16).replace("T", " ") : "");
  function photoLine(hit) {
    const taken = shownTaken(hit.taken);
    const camera = hit.camera ? String(hit.camera) : "";
    if (!taken && !camera) return null;
    const line = document.createElement("span");
    line.className = "photo";
    if (taken) {
      const time = document.createElement("time");
      time.className = "taken";
      time.dateTime = String(hit.taken);
      time.textContent = taken;
      line.append(time);
    }
    if (camera) {
      const cam = document.createElement("span");
      cam.className = "camera";
      cam.textContent = camera;
      if (taken) line.append(" · ");
      line.append(cam);
    }
    return line;
  }

  // ------------------------------------------------------------------ viewer dialog
  function fillViewer(index) {
    const hit = state.hits[index];
    if (!hit) return;
    state.viewerIndex = index;
    el.viewerTitle.textContent = hit.path;
    el.viewerImg.alt = hit.path;
    el.viewerImg.src = thumbUrl(hit, 512); // cheap placeholder, replaced by the full image
    const full = new Image();
    full.onload = () => {
      if (state.viewerIndex === index) el.viewerImg.src = full.src;
    };
    full.src = fileUrl(hit);
    el.viewerOpen.href = fileUrl(hit);
    el.viewerMeta.textContent = "";
    const rows = [
      ["Score", `${formatScore(hit.score)} (${state.metric || "score"})`],
      ["Size", hit.width && hit.height ? `${hit.width} × ${hit.height}` : ""],
      ["Format", hit.format || ""],
      ["File", formatBytes(hit.size)],
      ["Taken", shownTaken(hit.taken)],
      ["Camera", hit.camera ? String(hit.camera) : ""],
      ["Lens", hit.lens ? String(hit.lens) : ""],
      ["Place", typeof hit.lat === "number" && typeof hit.lon === "number" ? `${hit.lat.toFixed(5)}, ${hit.lon.toFixed(5)}` : ""],
      ["Also at", hit.paths && hit.paths.length > 1 ? hit.paths.filter((p) => p !== hit.path).join(", ") : ""],
      ["Rank", `${index + 1} of ${state.hits.length}`],
    ];
    for (const [label, value] of rows) {
      if (!value) continue;
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = value;
      el.viewerMeta.append(dt, dd);
    }
    el.viewerPrev.disabled = index <= 0;
    el.viewerNext.disabled = index >= state.hits.length - 1;
  }

  function openViewer(index, opener) {
    state.opener = opener || document.activeElement;
    fillViewer(index);
    if (!el.viewer.open) el.viewer.showModal();
    el.viewerClose.focus();
  }

  el.viewer.addEventListener("close", () => {
    el.viewerImg.removeAttribute("src");
    const cards = el.results.querySelectorAll(".hit .thumb");
    const target = cards[state.viewerIndex] || state.opener;
    state.viewerIndex = -1;
    if (target && document.contains(target)) target.focus();
  });
  el.viewerClose.addEventListener("click", () => el.viewer.close());
  el.viewerPrev.addEventListener("click", () => fillViewer(state.viewerIndex - 1));
  el.viewerNext.addEventListener("click", () => fillViewer(state.viewerIndex + 1));
  el.viewerMore.addEventListener("click", () => {
    const hit = state.hits[state.viewerIndex];
    el.viewer.close();
    if (hit) moreLike(hit);
  });
  el.refineForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const hit = state.hits[state.viewerIndex];
    const text = el.refineText.value;
    const weight = Number(el.refineSign.value) < 0 ? -1 : 1;
    el.viewer.close();
    if (hit) moreLikeBut(hit, text, weight);
  });
  el.viewer.addEventListener("keydown", (event) => {
    // Arrows move the caret in the "but…" text field, not between results.
    if (event.target === el.refineText || event.target === el.refineSign) return;
    if (event.key === "ArrowLeft" && state.viewerIndex > 0) {
      fillViewer(state.viewerIndex - 1);
      event.preventDefault();
    } else if (event.key === "ArrowRight" && state.viewerIndex < state.hits.length - 1) {
      fillViewer(state.viewerIndex + 1);
      event.preventDefault();
    }
  });
  // A click on the backdrop (outside the dialog's box) closes it too.
  el.viewer.addEventListener("click", (event) => {
    if (event.target === el.viewer) el.viewer.close();
  });

  // ------------------------------------------------------------------ inputs
  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    // Enter in a filter field searches again for the last query when the box is empty
    // (e.g. after a search by example).
    if (!el.q.value.trim() && state.last && state.last.kind !== "text" && document.activeElement !== el.q) {
      runSearch(state.last);
      return;
    }
    searchText(el.q.value);
  });

  el.file.addEventListener("change", () => {
    const file = el.file.files && el.file.files[0];
    if (file) searchFile(file);
    el.file.value = ""; // choosing the same file again searches again
  });

  const rerun = () => {
    if (state.last && !state.inflight) runSearch(state.last);
  };
  el.topk.addEventListener("change", rerun);
  el.minScore.addEventListener("change", rerun);
  for (const select of [el.sort, el.camera, el.lens, el.orientation]) select.addEventListener("change", rerun);
  for (const input of [el.takenAfter, el.takenBefore, el.nearLat, el.nearLon, el.nearKm]) {
    input.addEventListener("change", showFilterCount);
  }
  el.filtersClear.addEventListener("click", () => {
    for (const input of [el.takenAfter, el.takenBefore, el.nearLat, el.nearLon, el.nearKm]) input.value = "";
    for (const select of [el.camera, el.lens, el.orientation]) select.value = "";
    showFilterCount();
    rerun();
  });

  // ------------------------------------------------------------------ near-duplicates view
  // GET /duplicates: groups side by side with each copy's size, dimensions and date, so a
  // person can pick which to keep. The page never deletes anything.
  function showDuplicates(shown) {
    el.duplicates.hidden = !shown;
    el.results.hidden = shown;
    el.duplicatesButton.setAttribute("aria-pressed", shown ? "true" : "false");
    if (shown) hidePreview();
  }

  async function findDuplicates() {
    if (state.inflight) state.inflight.abort();
    state.inflight = null;
    clearError();
    showDuplicates(true);
    el.duplicateGroups.textContent = "";
    el.duplicates.dataset.state = "running";
    el.duplicatesButton.disabled = true;
    setBusy(true);
    setStatus("Looking for near-duplicates (this reads every stored vector)…");
    try {
      const answer = await get("duplicates", null, undefined, "The request");
      renderGroups(answer);
      el.duplicates.dataset.state = "done";
    } catch (err) {
      setStatus("");
      showError(err.message);
      el.duplicates.dataset.state = "failed";
    } finally {
      el.duplicatesButton.disabled = false;
      setBusy(false);
      el.duplicates.focus({ preventScroll: true });
    }
  }

  function renderGroups(answer) {
    const groups = Array.isArray(answer.groups) ? answer.groups : [];
    const total = Number(answer.group_count) || groups.length;
    const compared = count(answer.images);
    setStatus(
      total === 0
        ? `No near-duplicates among ${compared} images (similarity at least ${answer.threshold}).`
        : `${count(total)} group${total === 1 ? "" : "s"} of near-duplicates among ${compared} images` +
            ` (similarity at least ${answer.threshold})${groups.length < total ? `; the ${groups.length} biggest shown` : ""}.`
    );
    const fragment = document.createDocumentFragment();
    groups.forEach((group, index) => fragment.append(groupCard(group, index)));
    el.duplicateGroups.append(fragment);
  }

  function groupCard(group, index) {
    const li = document.createElement("li");
    li.className = "dup-group";
    const images = Array.isArray(group.images) ? group.images : [];
    const heading = document.createElement("h3");
    const size = Number(group.count) || images.length;
    heading.textContent = `Group ${index + 1}: ${size} images` + (images.length < size ? ` (${images.length} shown)` : "");
    const row = document.createElement("ul");
    row.className = "dup-row";
    images.forEach((member) => row.append(memberCard(member)));
    li.append(heading, row);
    return li;
  }

  function memberCard(member) {
    const item = document.createElement("li");
    item.className = "dup-member";
    item.dataset.path = String(member.path);
    const link = document.createElement("a");
    link.className = "dup-thumb";
    link.href = fileUrl(member);
    link.target = "_blank";
    link.rel = "noopener";
    link.setAttribute("aria-label", `Open ${member.path}`);
    const img = document.createElement("img");
    img.alt = "";
    img.width = 160;
    img.height = 160;
    img.loading = "lazy";
    img.src = thumbUrl(member);
    img.addEventListener("error", () => img.replaceWith(Object.assign(document.createElement("span"), { textContent: "no preview" })));
    link.append(img);
    const lines = document.createElement("dl");
    lines.className = "meta-list dup-meta";
    const rows = [
      ["Path", String(member.path) + (member.path_count > 1 ? ` (+${member.path_count - 1} more)` : "")],
      ["File", formatBytes(member.size)],
      ["Size", member.width && member.height ? `${member.width} × ${member.height}` : ""],
      ["Format", member.format ? String(member.format) : ""],
      ["Modified", member.mtime ? String(member.mtime).slice(0, 16).replace("T", " ") : ""],
      ["Taken", shownTaken(member.taken)],
    ];
    for (const [label, value] of rows) {
      if (!value) continue;
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = value;
      dd.className = "dup-" + label.toLowerCase();
      lines.append(dt, dd);
    }
    item.append(link, lines);
    return item;
  }
  el.duplicatesButton.addEventListener("click", findDuplicates);

  // Drag and drop: anywhere on the page, highlighted on the drop zone.
  let dragDepth = 0;
  const hasFiles = (event) => event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files");
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    dragDepth += 1;
    el.drop.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) el.drop.classList.remove("dragging");
  });
  document.addEventListener("dragover", (event) => {
    if (hasFiles(event)) event.preventDefault();
  });
  document.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    el.drop.classList.remove("dragging");
    const file = event.dataTransfer.files[0];
    if (file) searchFile(file);
  });

  // Paste an image (e.g. a screenshot) to search by example.
  document.addEventListener("paste", (event) => {
    const items = Array.from((event.clipboardData && event.clipboardData.files) || []);
    if (items.length) {
      event.preventDefault();
      searchFile(items[0]);
    }
  });

  // "/" jumps to the search box from anywhere but a text field.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || el.viewer.open) return;
    const tag = (event.target && event.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || (event.target && event.target.isContentEditable)) return;
    event.preventDefault();
    el.q.focus();
    el.q.select();
  });

  // ------------------------------------------------------------------ start
  const initial = new URL(location.href).searchParams.get("q");
  if (initial) el.q.value = initial;
  loadInfo().then((info) => {
    if (initial && info) searchText(initial);
    if (!info) return;
    loadFacets();
    // An import started earlier (another tab, curl) is followed here too.
    post("import_status", "{}", "application/json", null, undefined, "The import")
      .then((status) => {
        if (status.watch) followWatch(status);
        return status.state === "running" && !status.watch ? followImport(status) : null;
      })
      .catch(() => null); // the status is a nicety: searching works without it
  });
})();
