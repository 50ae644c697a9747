// The microfleet playground: chat over the WebSocket API, the fleet's trace, ratings, and the
// knowledge base. Plain JavaScript with no build step; every server text goes in as textContent.

const $ = (selector, root = document) => root.querySelector(selector);
const KEY = "microfleet.apiKey";
const MODEL = "microfleet.model";
const SESSION = "microfleet.session";
const MAX_TOKENS = 256;
const ANSWER_TIMEOUT_MS = 180000;

const state = { socket: null, pending: null, polling: false };

// ---------- the API ----------

function apiKey() {
  return localStorage.getItem(KEY) || "";
}

function authHeaders(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function newId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function session() {
  let id = sessionStorage.getItem(SESSION);
  if (!id) {
    id = `playground-${newId()}`;
    sessionStorage.setItem(SESSION, id);
  }
  return id;
}

async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: authHeaders(), signal: AbortSignal.timeout(30000) };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    serverDown();
    throw new Error("the server cannot be reached; retrying");
  }
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) keyProblem();
  if (!response.ok) throw new Error(data.error?.message || `HTTP ${response.status}`);
  return data;
}

// ---------- status line: key problems, and a server that is down ----------

function showStatus(text) {
  const status = $("#status");
  status.textContent = text;
  status.hidden = !text;
}

function keyProblem() {
  showStatus("The server wants an API key: enter a valid one above.");
}

async function serverDown() {
  if (state.polling) return;
  state.polling = true;
  for (let wait = 2; ; wait = Math.min(wait * 2, 15)) {
    showStatus(`The server cannot be reached. Retrying in ${wait} s…`);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    try {
      if ((await fetch("/healthz", { signal: AbortSignal.timeout(5000) })).ok) break;
    } catch (error) {
      // still down
    }
  }
  state.polling = false;
  showStatus("");
  refresh();
}

// ---------- models and the knowledge base ----------

async function loadModels() {
  const select = $("#model");
  const { data } = await api("/v1/models");
  const chosen = localStorage.getItem(MODEL);
  select.replaceChildren(
    ...data.map((m) => new Option(modelLabel(m), m.id)),
  );
  if (data.some((m) => m.id === chosen)) select.value = chosen;
  else if (data.some((m) => m.id === "fleet")) select.value = "fleet"; // the orchestrator
}

// The picker's text: the orchestrator, and micromodels the base model answers for.
function modelLabel(m) {
  if (m.id === "fleet") return "fleet (orchestrator)";
  return m.champion === false ? `${m.id} (no adapter: base model)` : m.id;
}

async function loadStats() {
  const { documents, chunks } = await api("/v1/kb/stats");
  $("#kb-stats").textContent = `${documents} documents · ${chunks} chunks`;
}

function refresh() {
  loadModels().catch(report);
  loadStats().catch(report);
}

function report(error) {
  if (!state.polling && !$("#status").textContent) showStatus(error.message);
}

async function search(query) {
  $("#search-query").value = query;
  const list = $("#search-results");
  list.replaceChildren(item("searching…", "muted"));
  try {
    const { data } = await api("/v1/search", { method: "POST", body: { query, k: 5 } });
    list.replaceChildren(...(data.length ? data.map(hitItem) : [item("no matches", "muted")]));
  } catch (error) {
    list.replaceChildren(item(error.message, "error"));
  }
}

function hitItem(hit) {
  const li = document.createElement("li");
  const name = hit.title || hit.doc_id;
  const title = hit.url ? link(name, hit.url) : document.createElement("strong");
  if (!hit.url) title.textContent = name;
  const score = item(` ${Number(hit.score).toFixed(3)}`, "muted small", "span");
  const text = item(`${(hit.text || "").slice(0, 220)}…`, "snippet", "p");
  li.append(title, score, text);
  return li;
}

function uploadOne(file, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1/ingest?filename=${encodeURIComponent(file.name)}`);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onerror = () => {
      serverDown();
      resolve({ ok: false, message: "the server cannot be reached" });
    };
    xhr.onload = () => {
      let body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch (error) {
        // not JSON: reported by status below
      }
      if (xhr.status === 401) keyProblem();
      if (xhr.status !== 200) resolve({ ok: false, message: body.error?.message || `HTTP ${xhr.status}` });
      else if (body.errors?.length) resolve({ ok: false, message: body.errors.map((e) => e.reason).join("; ") });
      else resolve({ ok: true, message: `${body.documents} document(s), ${body.chunks} chunk(s)${body.unchanged ? ", unchanged" : ""}` });
    };
    xhr.send(file);
  });
}

async function upload(files) {
  const progress = $("#upload-progress");
  const results = $("#upload-results");
  progress.hidden = false;
  progress.value = 0;
  for (const [i, file] of [...files].entries()) {
    const done = await uploadOne(file, (part) => (progress.value = (i + part) / files.length));
    results.prepend(item(`${file.name}: ${done.message}`, done.ok ? "ok" : "error"));
  }
  progress.value = 1;
  progress.hidden = true;
  $("#upload").value = "";
  loadStats().catch(report);
}

// ---------- chat ----------

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const key = apiKey();
  return `${scheme}://${location.host}/v1/ws${key ? `?api_key=${encodeURIComponent(key)}` : ""}`;
}

function openSocket() {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) return Promise.resolve(state.socket);
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(socketUrl());
    socket.onopen = () => {
      state.socket = socket;
      resolve(socket);
    };
    socket.onmessage = (event) => onFrame(JSON.parse(event.data));
    socket.onclose = () => {
      if (state.socket !== socket) {
        reject(new Error("the connection was refused"));
        return;
      }
      state.socket = null;
      finish("the connection to the server was lost; send again to retry");
    };
  });
}

async function ask(question) {
  const model = $("#model").value;
  $("#messages").append(item(question, "msg user"));
  const li = $("#assistant-template").content.firstElementChild.cloneNode(true);
  li.dataset.model = model;
  $("#messages").append(li);
  state.pending = { li, text: $(".text", li), timer: setTimeout(() => finish("no answer in time; retry"), ANSWER_TIMEOUT_MS) };
  $("#send").disabled = true;
  $(".text", li).textContent = "…";
  try {
    const socket = await openSocket();
    const messages = [{ role: "user", content: question }];
    socket.send(JSON.stringify({ model, messages, session_id: session(), max_tokens: MAX_TOKENS }));
  } catch (error) {
    const healthy = await fetch("/healthz").then((r) => r.ok, () => false);
    if (!healthy) serverDown();
    else keyProblem();
    finish(healthy ? "the server refused the connection: check the API key" : "the server cannot be reached");
  }
}

function onFrame(frame) {
  const pending = state.pending;
  if (!pending) return;
  if (frame.type === "delta") {
    if (!pending.started) pending.text.textContent = "";
    pending.started = true;
    pending.text.textContent += frame.content;
    pending.li.scrollIntoView({ block: "end" });
  } else if (frame.type === "done") {
    showSources(pending.li, frame.sources || []);
    showTrace(pending.li, frame.trace);
    showFeedback(pending.li, frame.id);
    finish(null);
  } else if (frame.type === "error") {
    finish(frame.message);
  }
}

function finish(errorMessage) {
  const pending = state.pending;
  if (!pending) return;
  clearTimeout(pending.timer);
  state.pending = null;
  if (errorMessage) {
    pending.li.classList.add("failed");
    pending.text.textContent = `Error: ${errorMessage}`;
  }
  $("#send").disabled = false;
}

function showSources(li, sources) {
  const list = $(".sources", li);
  list.hidden = !sources.length;
  list.replaceChildren(...sources.map((s) => {
    const entry = document.createElement("li");
    const name = s.title || s.doc_id;
    const anchor = link(`[${s.index}] ${name}`, s.url || `#search=${encodeURIComponent(name)}`);
    if (!s.url) anchor.addEventListener("click", (event) => {
      event.preventDefault();
      search(name);
    });
    entry.append(anchor);
    return entry;
  }));
}

function showTrace(li, trace) {
  if (!trace) return;
  const box = $(".trace", li);
  box.hidden = false;
  const calls = trace.calls || [];
  $("summary", box).textContent = `Micromodel calls: ${calls.length} (router ${trace.router}, ${trace.rounds} round${trace.rounds === 1 ? "" : "s"})`;
  const rows = calls.map(callItem);
  for (const note of trace.notes || []) rows.push(item(`note: ${note}`, "muted"));
  for (const drop of trace.dropped || []) rows.push(item(`dropped ${drop.name || "call"}: ${drop.reason || ""}`, "error"));
  $(".calls", box).replaceChildren(...rows);
}

function callItem(call) {
  const li = document.createElement("li");
  const details = document.createElement("details");
  const args = Object.entries(call.arguments || {}).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : v}`);
  const summary = document.createElement("summary");
  summary.textContent = `${call.name}(${args.join(", ")}) · ${call.latency_ms} ms · ${call.error ? "error" : "ok"}`;
  if (call.error) summary.classList.add("error");
  const facts = document.createElement("dl");
  for (const [term, value] of [
    ["arguments", JSON.stringify(call.arguments)],
    ["output", call.output ?? "—"],
    ["error", call.error ?? "—"],
    ["adapter", call.adapter],
    ["round", call.round],
  ]) facts.append(item(term, "", "dt"), item(String(value), "", "dd"));
  details.append(summary, facts);
  li.append(details);
  return li;
}

function showFeedback(li, responseId) {
  if (!responseId) return;
  const box = $(".feedback", li);
  box.hidden = false;
  let chosen = null;
  const send = async (rating, correction) => {
    chosen = rating;
    $(".up", box).setAttribute("aria-pressed", String(rating === 1));
    $(".down", box).setAttribute("aria-pressed", String(rating === -1));
    const status = $(".feedback-status", box);
    status.textContent = "saving…";
    try {
      const body = { response_id: responseId, rating, ...(correction ? { correction } : {}) };
      const saved = await api("/v1/feedback", { method: "POST", body });
      status.textContent = `Thanks: feedback #${saved.id} saved${correction ? " with your answer" : ""}.`;
    } catch (error) {
      status.textContent = `Not saved: ${error.message}`;
    }
  };
  $(".up", box).addEventListener("click", () => send(1));
  $(".down", box).addEventListener("click", () => send(-1));
  $(".send-correction", box).addEventListener("click", () => {
    const text = $(".correction", box).value.trim();
    if (text) send(chosen ?? -1, text);
  });
}

// ---------- small helpers and wiring ----------

function item(text, className = "", tag = "li") {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

// Only http(s) links leave the page, and "#..." links stay on it; any other scheme
// (javascript:, data:, ...) is shown as plain text, never followed.
function link(text, href) {
  const url = String(href || "");
  if (!/^https?:\/\//i.test(url) && !url.startsWith("#")) return item(text, "", "span");
  const anchor = document.createElement("a");
  anchor.textContent = text;
  anchor.href = url;
  if (!url.startsWith("#")) {
    anchor.target = "_blank";
    anchor.rel = "noopener noreferrer";
  }
  return anchor;
}

function wire() {
  const keyField = $("#api-key");
  keyField.value = apiKey();
  keyField.addEventListener("change", () => {
    localStorage.setItem(KEY, keyField.value.trim());
    state.socket?.close();
    showStatus("");
    refresh();
  });
  $("#model").addEventListener("change", (e) => localStorage.setItem(MODEL, e.target.value));
  $("#new-conversation").addEventListener("click", () => {
    sessionStorage.removeItem(SESSION);
    $("#messages").replaceChildren();
    $("#question").focus();
  });
  $("#ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const question = $("#question").value.trim();
    if (!question || state.pending) return;
    $("#question").value = "";
    ask(question);
  });
  $("#question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("#ask-form").requestSubmit();
    }
  });
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search($("#search-query").value.trim());
  });
  $("#upload").addEventListener("change", (event) => upload(event.target.files));
  refresh();
}

wire();
