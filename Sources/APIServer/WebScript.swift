/// The gallery's script (plain JavaScript, no libraries): a hash router over three views — the batches list
/// (`#/`), one batch with its gallery (`#/batches/ID`) and the submit form (`#/submit`) — polling the /v1 API
/// every 2 s while something is in progress. Images are fetched with the Authorization header and shown
/// through object URLs, so a token never appears in a URL; the token itself stays in localStorage. Every
/// text from the API goes into the page as text (textContent), never as HTML.
enum WebScript {
    static let javascript = #"""
"use strict";
(function () {
  const TOKEN_KEY = "ternflux.token";
  const POLL_MS = 2000;
  const PAGE_SIZE = 60;
  const view = document.getElementById("view");
  let timer = null;          // the current view's polling timer
  let generation = 0;        // bumped on every navigation, so late answers of an old view are dropped
  const imageURLs = new Map(); // job id -> object URL of its fetched PNG

  // ---- API access ---------------------------------------------------------------------------------

  class APIError extends Error {
    constructor(status, body) {
      const e = body && body.error;
      super(e && e.message ? e.message : "HTTP " + status);
      this.status = status;
      this.lineErrors = e && Array.isArray(e.errors) ? e.errors : [];
      this.batchID = e && e.batch_id;
      this.hint = e && e.hint;
    }
  }

  function token() { return localStorage.getItem(TOKEN_KEY) || ""; }

  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = Object.assign({}, opts.headers || {});
    if (token()) opts.headers["Authorization"] = "Bearer " + token();
    const response = await fetch(path, opts);
    if (response.status === 401 || response.status === 403) showTokenForm(response.status);
    return response;
  }

  async function apiJSON(path, options) {
    const response = await api(path, options);
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) throw new APIError(response.status, body);
    return body;
  }

  // ---- token field ---------------------------------------------------------------------------------

  const tokenForm = document.getElementById("token-form");
  const tokenInput = document.getElementById("token-input");
  const tokenState = document.getElementById("token-state");

  function showTokenForm(status) {
    tokenForm.hidden = false;
    tokenState.hidden = true;
    notice(status === 403 ? "This token may only read; submitting and canceling need a submit token."
                          : "This server needs an API token.", true);
  }

  function showTokenState() {
    tokenState.hidden = !token();
    if (token()) tokenForm.hidden = true;
  }

  tokenForm.addEventListener("submit", function (event) {
    event.preventDefault();
    const value = tokenInput.value.trim();
    if (!value) return;
    localStorage.setItem(TOKEN_KEY, value);
    tokenInput.value = "";
    clearImages();
    notice("");
    showTokenState();
    route();
  });

  document.getElementById("token-forget").addEventListener("click", function () {
    localStorage.removeItem(TOKEN_KEY);
    clearImages();
    showTokenState();
    route();
  });

  // ---- helpers -------------------------------------------------------------------------------------

  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  function notice(message, isError) {
    const box = document.getElementById("notice");
    box.hidden = !message;
    box.textContent = message || "";
    box.className = isError ? "error" : "";
  }

  function ms(value) {
    if (value === undefined || value === null) return "–";
    return value >= 1000 ? (value / 1000).toFixed(1) + " s" : Math.round(value) + " ms";
  }

  function when(text) { return text ? new Date(text).toLocaleString() : "–"; }

  function progressBar(p) {
    const bar = el("div", { className: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": p.total,
                            "aria-valuenow": p.succeeded + p.failed + p.canceled, "data-batch-id": p.batch_id });
    for (const state of ["succeeded", "failed", "canceled", "running"]) {
      const share = p.total > 0 ? (100 * p[state]) / p.total : 0;
      const segment = el("span", { className: "seg-" + state, title: p[state] + " " + state });
      segment.style.width = share + "%";
      bar.appendChild(segment);
    }
    return bar;
  }

  function counts(p) {
    const done = p.total ? Math.floor((100 * (p.succeeded + p.failed + p.canceled)) / p.total) : 100;
    return p.total + " jobs: " + p.succeeded + " succeeded, " + p.failed + " failed, " + p.canceled + " canceled, "
      + p.running + " running, " + p.queued + " queued (" + done + "% done" + (p.finished ? ", finished" : "") + ")";
  }

  function poll(fn) {
    stopPolling();
    const mine = generation;
    const tick = async function () {
      if (mine !== generation) return;
      let again = true;
      try { again = (await fn()) !== false; } catch (e) { notice(e.message, true); }
      if (mine === generation && again) timer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  function stopPolling() { if (timer) clearTimeout(timer); timer = null; }

  function clearImages() {
    for (const url of imageURLs.values()) URL.revokeObjectURL(url);
    imageURLs.clear();
  }

  function setCurrentNav(id) {
    for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("current", a.id === id);
  }

  // ---- the batches list ----------------------------------------------------------------------------

  function showBatches() {
    setCurrentNav("nav-batches");
    const tbody = el("tbody", { id: "batch-rows" });
    view.replaceChildren(
      el("h1", { text: "Batches" }),
      el("table", { id: "batches" }, [
        el("thead", {}, [el("tr", {}, ["Batch", "Created", "Progress", "p95 latency", "Images/s"].map(function (h) {
          return el("th", { text: h });
        }))]),
        tbody,
      ]),
      el("p", { id: "batches-empty", className: "muted", text: "No batches yet: submit one.", hidden: true }));
    poll(async function () {
      const list = await apiJSON("/v1/batches?limit=50");
      document.getElementById("batches-empty").hidden = list.batches.length > 0;
      tbody.replaceChildren(...list.batches.map(function (b) {
        return el("tr", { className: "batch-row", "data-batch-id": b.batch_id, "data-finished": b.finished }, [
          el("td", {}, [el("a", { href: "#/batches/" + b.batch_id, text: b.name || b.batch_id }),
                        el("div", { className: "counts", text: b.batch_id })]),
          el("td", { className: "num", text: when(b.created_at) }),
          el("td", {}, [progressBar(b), el("div", { className: "counts", text: counts(b) })]),
          el("td", { className: "num", text: ms(b.p95_latency_ms) }),
          el("td", { className: "num", text: b.images_per_second ? b.images_per_second.toFixed(2) : "–" }),
        ]);
      }));
      notice("");
      return true;
    });
  }

  // ---- one batch -----------------------------------------------------------------------------------

  function showBatch(id, offset, state) {
    setCurrentNav("");
    const title = el("h1", { id: "batch-title", text: "Batch " + id });
    const summary = el("div", { id: "batch-summary" });
    const cancel = el("button", { id: "cancel-button", className: "danger", type: "button", text: "Cancel batch" });
    const filter = el("select", { id: "state-filter", "aria-label": "show jobs" },
      ["", "queued", "running", "succeeded", "failed", "canceled"].map(function (s) {
        return el("option", { value: s, text: s ? s + " only" : "all jobs", selected: s === state });
      }));
    const prev = el("button", { id: "page-prev", type: "button", text: "← previous" });
    const next = el("button", { id: "page-next", type: "button", text: "next →" });
    const page = el("span", { id: "page-info", className: "muted" });
    const gallery = el("div", { id: "gallery" });
    view.replaceChildren(title, summary, el("div", { className: "toolbar" }, [cancel, filter, prev, next, page]), gallery);

    const go = function (newOffset, newState) {
      location.hash = "#/batches/" + id + (newOffset || newState ? "?" + new URLSearchParams(
        Object.assign({}, newOffset ? { offset: newOffset } : {}, newState ? { state: newState } : {})).toString() : "");
    };
    filter.addEventListener("change", function () { go(0, filter.value); });
    prev.addEventListener("click", function () { go(Math.max(0, offset - PAGE_SIZE), state); });
    next.addEventListener("click", function () { go(offset + PAGE_SIZE, state); });
    cancel.addEventListener("click", async function () {
      cancel.disabled = true;
      try {
        const p = await apiJSON("/v1/batches/" + id + "/cancel", { method: "POST" });
        renderSummary(p);
        await renderJobs();
        notice("Batch canceled: " + counts(p));
      } catch (e) {
        notice("Cancel failed: " + e.message, true);
        cancel.disabled = false;
      }
    });

    function renderSummary(p) {
      title.textContent = p.name ? p.name : "Batch " + p.batch_id;
      cancel.disabled = p.finished;
      const cell = function (label, value) { return el("div", {}, [el("b", { text: label }), document.createTextNode(value)]); };
      summary.replaceChildren(progressBar(p), el("div", { className: "counts", id: "batch-counts", text: counts(p) }),
        el("div", { className: "summary" }, [
          cell("batch", p.batch_id), cell("created", when(p.created_at)),
          cell("latency p50 / p95", ms(p.p50_latency_ms) + " / " + ms(p.p95_latency_ms)),
          cell("generation p50 / p95", ms(p.p50_generation_ms) + " / " + ms(p.p95_generation_ms)),
          cell("images/s", p.images_per_second ? p.images_per_second.toFixed(2) : "–"),
          cell("canceled", p.canceled_at ? when(p.canceled_at) : "no"),
        ]));
      const total = state ? p[state] : p.total;
      page.textContent = total ? "jobs " + Math.min(offset + 1, total) + "–" + Math.min(offset + PAGE_SIZE, total) + " of " + total : "no jobs";
      prev.disabled = offset <= 0;
      next.disabled = offset + PAGE_SIZE >= total;
    }

    const cards = new Map(); // job id -> { card, state, errorsShown }
    async function renderJobs() {
      const query = new URLSearchParams({ limit: PAGE_SIZE, offset: offset });
      if (state) query.set("state", state);
      const page = await apiJSON("/v1/batches/" + id + "/jobs?" + query.toString());
      const seen = new Set();
      for (const job of page.jobs) {
        seen.add(job.job_id);
        let entry = cards.get(job.job_id);
        if (!entry || entry.state !== job.state) {
          const card = jobCard(job);
          if (entry) gallery.replaceChild(card, entry.card); else gallery.appendChild(card);
          entry = { card: card, state: job.state };
          cards.set(job.job_id, entry);
          if (job.state === "succeeded") loadThumbnail(job.job_id, card);
          if (job.error_count > 0) loadErrors(job.job_id, card);
        }
      }
      for (const [jobID, entry] of cards) if (!seen.has(jobID)) { entry.card.remove(); cards.delete(jobID); }
    }

    poll(async function () {
      const p = await apiJSON("/v1/batches/" + id);
      renderSummary(p);
      await renderJobs();
      notice("");
      return !p.finished; // one last round once it is finished, then the page stays as it is
    });
  }

  function jobCard(job) {
    // Width, height and steps are absent until a worker claims a job that left them to its model.
    const size = job.width && job.height ? job.width + "×" + job.height : "model's size";
    return el("div", { className: "job-card", "data-job-id": job.job_id, "data-state": job.state }, [
      el("div", { className: "frame" }, [el("span", { className: "placeholder", text: job.state })]),
      el("div", { className: "prompt", text: job.prompt }),
      el("div", { className: "meta", text: "line " + (job.line === undefined ? "–" : job.line) + " · seed " + job.seed + " · "
        + size + " · " + (job.steps ? job.steps + " steps" : "model's steps") + " · " + job.state
        + (job.attempt > 1 ? " · attempt " + job.attempt : "") }),
      el("div", { className: "timings", text: "worker " + ms(job.total_ms) + " · enqueue to finish " + ms(job.latency_ms) }),
    ]);
  }

  async function loadThumbnail(jobID, card) {
    const frame = card.querySelector(".frame");
    try {
      let url = imageURLs.get(jobID);
      if (!url) {
        const response = await api("/v1/jobs/" + jobID + "/image");
        if (!response.ok) {
          let message = "HTTP " + response.status;
          try { message = (await response.json()).error.message; } catch (e) { /* keep the status */ }
          throw new Error(message);
        }
        url = URL.createObjectURL(await response.blob());
        imageURLs.set(jobID, url);
      }
      const img = el("img", { className: "thumb", alt: card.querySelector(".prompt").textContent, "data-job-id": jobID });
      img.src = url;
      frame.replaceChildren(img);
    } catch (e) {
      frame.replaceChildren(el("span", { className: "placeholder", text: "no image: " + e.message }));
    }
  }

  async function loadErrors(jobID, card) {
    try {
      const job = await apiJSON("/v1/jobs/" + jobID);
      const list = el("ol", { className: "job-error" }, job.errors.map(function (e) {
        // Attempt 0: the worker refused the job before running it (bad parameters, a model it does not serve).
        const when = e.attempt > 0 ? "attempt " + e.attempt : "refused before running";
        return el("li", { text: when + (e.terminal ? " (final)" : "") + ": " + e.message });
      }));
      const old = card.querySelector(".job-error");
      if (old) old.replaceWith(list); else card.appendChild(list);
    } catch (e) {
      card.appendChild(el("p", { className: "job-error", text: "errors unavailable: " + e.message }));
    }
  }

  // ---- the submit form -----------------------------------------------------------------------------

  function showSubmit() {
    setCurrentNav("nav-submit");
    const text = el("textarea", { id: "submit-text", name: "text", required: true, spellcheck: "false",
      placeholder: "one prompt per line, or JSONL: {\"prompt\": \"a red circle\", \"seed\": 7}" });
    const name = el("input", { id: "submit-name", name: "name", placeholder: "api" });
    const steps = el("input", { id: "submit-steps", name: "steps", type: "number", min: 1, max: 100, placeholder: "model's" });
    const images = el("input", { id: "submit-images", name: "images", type: "number", min: 1, max: 64, placeholder: "1" });
    const negative = el("input", { id: "submit-negative", name: "negative_prompt", placeholder: "model's" });
    const button = el("button", { id: "submit-button", className: "primary", type: "submit", text: "Submit batch" });
    const errors = el("ul", { id: "submit-errors" });
    const form = el("form", { id: "submit-form", className: "submit" }, [
      el("label", { for: "submit-text" }, [document.createTextNode("Prompts (plain text, one per line, or JSONL)"), text]),
      el("div", { className: "row" }, [
        el("label", {}, [document.createTextNode("Name"), name]),
        el("label", {}, [document.createTextNode("Steps"), steps]),
        el("label", {}, [document.createTextNode("Images per prompt"), images]),
        el("label", {}, [document.createTextNode("Negative prompt"), negative]),
      ]),
      el("div", {}, [button]),
      el("p", { id: "submit-message" }),
      errors,
    ]);
    view.replaceChildren(el("h1", { text: "Submit a batch" }), form);
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      errors.replaceChildren();
      const message = document.getElementById("submit-message");
      message.textContent = "";
      const query = new URLSearchParams();
      if (name.value.trim()) query.set("name", name.value.trim());
      if (steps.value) query.set("steps", steps.value);
      if (images.value) query.set("images", images.value);
      if (negative.value) query.set("negative_prompt", negative.value);
      button.disabled = true;
      try {
        const outcome = await apiJSON("/v1/batches" + (query.toString() ? "?" + query.toString() : ""), {
          method: "POST", headers: { "Content-Type": "text/plain; charset=utf-8" }, body: text.value });
        location.hash = "#/batches/" + outcome.batch_id;
      } catch (e) {
        message.textContent = e.message + (e.hint ? " — " + e.hint : "");
        errors.replaceChildren(...e.lineErrors.map(function (le) {
          return el("li", { "data-line": le.line, text: (le.line > 0 ? "line " + le.line : "batch") + ": " + le.message });
        }));
      } finally {
        button.disabled = false;
      }
    });
  }

  // ---- routing -------------------------------------------------------------------------------------

  function route() {
    generation += 1;
    stopPolling();
    notice("");
    const hash = location.hash || "#/";
    const match = /^#\/batches\/([0-9a-fA-F-]{36})(?:\?(.*))?$/.exec(hash);
    if (match) {
      const params = new URLSearchParams(match[2] || "");
      showBatch(match[1].toLowerCase(), Math.max(0, parseInt(params.get("offset") || "0", 10) || 0), params.get("state") || "");
    } else if (hash === "#/submit") {
      showSubmit();
    } else {
      showBatches();
    }
  }

  window.addEventListener("hashchange", function () { clearImages(); route(); });
  showTokenState();
  route();
})();
"""#
}
