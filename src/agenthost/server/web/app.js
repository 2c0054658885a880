// The agenthost web chat: a plain ES module over the native API (docs/server.md), no build step.
// Runs are POSTed and their server-sent events read from the response body (EventSource cannot
// POST); a stream that breaks before the run ends is resumed with Last-Event-ID.

const $ = (id) => document.getElementById(id);
const ui = {
  agent: $("agent"),
  toggleSessions: $("toggle-sessions"),
  newSession: $("new-session"),
  sessions: $("sessions"),
  keyPanel: $("key-panel"),
  keyForm: $("key-form"),
  keyHint: $("key-hint"),
  apiKey: $("api-key"),
  error: $("error"),
  sessionLabel: $("session-label"),
  transcript: $("transcript"),
  composer: $("composer"),
  message: $("message"),
  send: $("send"),
  cancel: $("cancel"),
};

const KEY_STORAGE = "agenthost.apiKey";
const AGENT_STORAGE = "agenthost.agent";
const TERMINAL = new Set(["run.completed", "run.failed", "run.interrupted"]);
const RECONNECTS = 3;

let agent = ""; // the selected agent
let sessionId = null; // the open session; null: the next message starts a new one
let run = null; // the run this page follows: {agent, sessionId, runId, controller}
let view = null; // what the transcript is rendering: {bubble, tools, error}

// ---- HTTP ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const enc = encodeURIComponent;
const appPath = (name, rest = "") => `v1/apps/${enc(name)}${rest && "/" + rest}`;

async function api(path, { method = "GET", body, headers = {}, signal } = {}) {
  const key = localStorage.getItem(KEY_STORAGE);
  const init = { method, signal, headers: { ...headers } };
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(new URL(path, document.baseURI), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "unreachable", `Cannot reach the server: ${error.message}`);
  }
  if (!response.ok) throw await apiError(response);
  return response;
}

async function apiError(response) {
  let code = "http_error";
  let message = `${response.status} ${response.statusText}`;
  try {
    const { error } = await response.json();
    code = error.code ?? code;
    message = error.message ?? message;
  } catch {
    // not our JSON error body (a proxy's page): keep the status line
  }
  return new ApiError(response.status, code, message);
}

const getJSON = async (path) => (await api(path)).json();

// Server-sent events from a fetch response: {id, event, data} per frame, comments skipped.
async function* sseFrames(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = /\r?\n\r?\n/.exec(buffer)) !== null) {
        const frame = parseFrame(buffer.slice(0, end.index));
        buffer = buffer.slice(end.index + end[0].length);
        if (frame) yield frame;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function parseFrame(block) {
  const frame = { id: null, event: "message", data: [] };
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "data") frame.data.push(value);
    else if (name === "id" || name === "event") frame[name] = value;
  }
  if (frame.data.length === 0) return null;
  return { id: frame.id, event: frame.event, data: JSON.parse(frame.data.join("\n")) };
}

// ---- runs ------------------------------------------------------------------------------

// Follow a run: `start(signal)` makes the request whose response streams its events.
async function drive(start) {
  const mine = { agent, sessionId: null, runId: null, controller: new AbortController() };
  run = mine;
  updateControls();
  try {
    const response = await start(mine.controller.signal);
    mine.runId = response.headers.get("X-Run-Id");
    mine.sessionId = response.headers.get("X-Session-Id");
    updateControls();
    await follow(response, mine);
  } catch (error) {
    if (error.name !== "AbortError") showError(error);
  } finally {
    if (run === mine) {
      run = null;
      finishBubble();
      updateControls();
    }
  }
}

async function follow(response, mine) {
  let lastId = null;
  for (let attempt = 1; ; attempt++) {
    try {
      for await (const frame of sseFrames(response)) {
        if (frame.id) lastId = frame.id;
        if (run !== mine) return; // the page moved on; the run goes on at the server
        render(frame.data);
        if (TERMINAL.has(frame.data.type)) return;
      }
    } catch (error) {
      if (error.name === "AbortError" || attempt >= RECONNECTS) throw error;
    }
    if (attempt >= RECONNECTS) throw new Error("The stream ended before the run did.");
    await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    const path = `sessions/${enc(mine.sessionId)}/runs/${enc(mine.runId)}/events`;
    response = await api(appPath(mine.agent, path), {
      headers: lastId ? { "Last-Event-ID": lastId } : {},
      signal: mine.controller.signal,
    });
  }
}

// ---- attachments: files picked with the attach button go with the next message -----------

const attach = { input: $("attach"), button: $("attach-button"), list: $("attached") };
let attachments = []; // native API parts: {kind, data (base64), mime_type, name}

function readPart(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const data = String(reader.result).split(",", 2)[1] ?? "";
      const mime = file.type || "application/octet-stream";
      const kind = mime.startsWith("image/") ? "image" : "file";
      resolve({ kind, data, mime_type: mime, name: file.name });
    };
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function showAttachments() {
  attach.list.textContent = attachments.length
    ? `Attached: ${attachments.map((part) => part.name).join(", ")}`
    : "";
}

attach.button.addEventListener("click", () => attach.input.click());
attach.input.addEventListener("change", async () => {
  const parts = await Promise.all([...attach.input.files].map(readPart));
  attachments = attachments.concat(parts);
  attach.input.value = "";
  showAttachments();
});

function messageBody(text) {
  if (!attachments.length) return text;
  return [{ kind: "text", text }, ...attachments];
}

async function send(text) {
  const target = sessionId ? `sessions/${enc(sessionId)}/runs` : "runs";
  await drive(async (signal) => {
    const response = await api(appPath(agent, target), {
      method: "POST",
      body: { message: messageBody(text) },
      signal,
    });
    ui.message.value = "";
    attachments = [];
    showAttachments();
    if (!sessionId) {
      sessionId = response.headers.get("X-Session-Id");
      showSession();
      refreshSessions();
    }
    return response;
  });
  refreshSessions();
}

async function cancelRun() {
  const current = run;
  if (!current?.runId) return;
  ui.cancel.disabled = true;
  ui.cancel.textContent = "Cancelling…";
  const path = `sessions/${enc(current.sessionId)}/runs/${enc(current.runId)}/cancel`;
  try {
    await api(appPath(current.agent, path), { method: "POST" });
  } catch (error) {
    if (error.code !== "run_finished") showError(error);
  }
}

function detach() {
  if (run === null) return;
  run.controller.abort();
  run = null;
  updateControls();
}

// ---- transcript ------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  el.append(...children);
  return el;
}

function resetView() {
  ui.transcript.replaceChildren();
  view = { bubble: null, reply: null, tools: new Map(), error: null, approvals: new Map() };
}

function textOf(message) {
  const parts = message?.parts ?? [];
  const shown = (p) => (p.kind === "image" || p.kind === "file" ? `[${p.name ?? p.kind}]` : "");
  return parts.map((p) => (p.kind === "text" ? p.text : shown(p))).join("");
}

function render(event) {
  const box = ui.transcript;
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  switch (event.type) {
    case "message.received":
      addMessage("user", "You", textOf(event.message));
      break;
    case "message.delta":
      streamText(event);
      break;
    case "message.completed":
      completeMessage(event);
      break;
    case "tool.call.started": {
      const { tool_call_id: id, tool_name: name, parameters } = event.data ?? {};
      setStatus(toolCard(id, name, parameters), "running");
      break;
    }
    case "tool.call.completed":
      toolResult(event);
      break;
    case "knowledge.retrieved":
      showSources(event);
      break;
    case "error": // the frame before run.failed, which shows it
      view.error = event.error;
      break;
    case "approval.requested":
      approvalCard(event);
      break;
    case "approval.answered":
      approvalAnswered(event);
      break;
    case "run.completed":
      finishBubble();
      if (event.data?.finish_reason === "length" && view.reply) markCut(view.reply);
      view.reply = null;
      if (event.data?.status === "paused") {
        const text = "Waiting for your approval.";
        ui.transcript.append(h("p", { class: "notice paused", "data-status": "paused" }, text));
      }
      break;
    case "run.failed":
    case "run.interrupted":
      runFailed(event);
      break;
  }
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function addMessage(role, who, text) {
  const body = h("div", { class: "body" }, text);
  const el = h("article", { class: `msg ${role}` }, h("p", { class: "who" }, who), body);
  ui.transcript.append(el);
  return { el, body };
}

function streamText(event) {
  if (view.bubble === null) {
    view.bubble = addMessage("assistant", event.author, "");
    view.bubble.el.setAttribute("aria-busy", "true");
  }
  view.bubble.body.append(textOf(event.message));
}

function finishBubble() {
  const bubble = view?.bubble;
  if (!bubble) return;
  view.bubble = null;
  bubble.el.setAttribute("aria-busy", "false");
  bubble.body.normalize();
}

function completeMessage(event) {
  const text = textOf(event.message);
  let bubble = view.bubble;
  finishBubble();
  if (bubble && text) bubble.body.textContent = text; // the whole text, deltas missed or not
  else if (bubble) bubble.el.remove();
  else if (text) bubble = addMessage("assistant", event.author, text);
  if (bubble && text && event.data?.incomplete) markIncomplete(bubble);
  if (bubble && text) view.reply = bubble;
  for (const part of event.message?.parts ?? []) {
    if (part.kind === "tool_call") toolCard(part.id, part.name, part.arguments);
  }
}

// a reply cut mid-stream: stored as it was received, marked `data.incomplete`
function markIncomplete(bubble) {
  bubble.el.classList.add("incomplete");
  bubble.el.dataset.incomplete = "true";
  const note = "The reply was cut off: this is what arrived before it stopped.";
  bubble.el.append(h("p", { class: "hint incomplete-note", title: note }, "(incomplete)"));
}

// a reply that reached its length limit (the model's cap, or the embedded model stopped a
// reply that began to repeat itself): `finish_reason` "length" on the run's run.completed
function markCut(bubble) {
  bubble.el.classList.add("incomplete");
  bubble.el.dataset.cut = "true";
  const note = "The reply reached its length limit and was cut there.";
  bubble.el.append(h("p", { class: "hint incomplete-note cut-note", title: note }, "(cut: length limit)"));
}

function pretty(value) {
  if (typeof value !== "string") return JSON.stringify(value, null, 2);
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

function toolCard(id, name, args) {
  let card = view.tools.get(id);
  if (!card) {
    const status = h("span", { class: "tool-status" });
    const argsBox = h("pre", { class: "tool-args" });
    const result = h("pre", { class: "tool-result" });
    result.hidden = true;
    const nameBox = h("code", { class: "tool-name" }, name);
    const title = h("p", { class: "tool-title" }, "Tool ", nameBox, " ", status);
    const attrs = { class: "tool", role: "group", "aria-label": `Tool call ${name}` };
    const el = h("section", attrs, title, argsBox, result);
    ui.transcript.append(el);
    card = { el, status, args: argsBox, result };
    view.tools.set(id, card);
    setStatus(card, "called");
  }
  if (args !== undefined && args !== null) card.args.textContent = pretty(args);
  return card;
}

const STATUS_TEXT = {
  called: "called",
  running: "running…",
  done: "done",
  error: "failed",
  waiting: "waiting for approval",
};

function setStatus(card, status) {
  card.el.dataset.status = status;
  card.status.textContent = STATUS_TEXT[status];
}

function toolResult(event) {
  const part = (event.message?.parts ?? []).find((p) => p.kind === "tool_result");
  const id = event.data?.tool_call_id ?? part?.tool_call_id;
  const card = toolCard(id, event.data?.tool_name ?? part?.name ?? "tool");
  card.result.textContent = part?.content || event.error?.message || "";
  card.result.hidden = false;
  setStatus(card, event.error || part?.is_error ? "error" : "done");
}

// ---- approvals (docs/tools.md, Human approval) ------------------------------------------

const DECISION_TEXT = {
  approved: "Approved.",
  rejected: "Rejected.",
  expired: "Expired: a new message was sent instead.",
};

function approvalCard(event) {
  const { approval_id: id, tool_call_id: callId, tool_name: name, arguments: args } =
    event.data ?? {};
  setStatus(toolCard(callId, name, args), "waiting");
  const editor = h("textarea", { class: "approval-args", rows: "4", "aria-label": "Arguments" });
  editor.value = pretty(args);
  const approve = h("button", { type: "button", class: "approve" }, "Approve");
  const reject = h("button", { type: "button", class: "reject" }, "Reject");
  const note = h("p", { class: "hint approval-note" }, "Check the arguments (you may edit them).");
  const title = h("p", { class: "tool-title" }, "Approve ", h("code", {}, name), "?");
  const attrs = { class: "approval", role: "group", "aria-label": `Approval of ${name}` };
  const el = h("section", attrs, title, editor, h("p", { class: "actions" }, approve, reject), note);
  el.dataset.approval = id;
  el.dataset.state = "pending";
  approve.addEventListener("click", () => answerApproval(id, true, editor.value, args));
  reject.addEventListener("click", () => answerApproval(id, false));
  ui.transcript.append(el);
  view.approvals.set(id, { el, editor, approve, reject, note });
}

function approvalAnswered(event) {
  const { approval_id: id, decision, answered_by: by } = event.data ?? {};
  const card = view.approvals.get(id);
  if (!card) return;
  card.el.dataset.state = decision;
  card.editor.readOnly = true;
  card.approve.remove();
  card.reject.remove();
  card.note.textContent = (DECISION_TEXT[decision] ?? decision) + (by ? ` (${by})` : "");
}

async function answerApproval(id, approve, text, original) {
  if (run !== null || !agent) return;
  clearError();
  const body = { approve };
  if (approve && text.trim() !== pretty(original).trim()) {
    try {
      body.arguments = JSON.parse(text);
    } catch (error) {
      showError(new Error(`The arguments are not JSON: ${error.message}`));
      return;
    }
  }
  const path = appPath(agent, `approvals/${enc(id)}`);
  await drive((signal) => api(path, { method: "POST", body, signal }));
  refreshSessions();
}

// what a knowledge base (or the memory) search found: its sources, and a fallback notice
function showSources(event) {
  const { citations = [], notice, mode } = event.data ?? {};
  const label = mode === "memory" ? "Remembered" : "Sources";
  const names = citations.map((c) => (c.chunk == null ? c.document : `${c.document} #${c.chunk}`));
  const text = `${label}: ${names.length ? names.join(", ") : "none found"}`;
  ui.transcript.append(h("p", { class: "hint sources", "data-mode": mode ?? "" }, text));
  if (notice) ui.transcript.append(h("p", { class: "notice fallback" }, notice));
}

function runFailed(event) {
  finishBubble();
  const error = event.error ?? view.error;
  view.error = null;
  const cancelled = event.data?.status === "cancelled";
  const why = error?.message ? `: ${error.message}` : "";
  let text = `Failed${why}${error?.code ? ` (${error.code})` : ""}`;
  if (cancelled) text = `Cancelled${why}`;
  else if (event.type === "run.interrupted") text = "Interrupted: the server stopped during it.";
  const kind = cancelled ? "cancelled" : "failed";
  ui.transcript.append(h("p", { class: `notice ${kind}`, "data-status": kind }, text));
}

// ---- sessions and agents ---------------------------------------------------------------

async function refreshSessions() {
  if (!agent) return;
  const forAgent = agent;
  try {
    const { sessions } = await getJSON(appPath(forAgent, "sessions"));
    if (forAgent !== agent) return;
    const items = sessions.map((s) => {
      const when = new Date(s.updated_at * 1000).toLocaleString();
      // titled by its first message; the id is there too (and alone before a message)
      const button = h(
        "button",
        { type: "button", class: "session", "data-session": s.id, title: s.id },
        h("span", { class: s.title ? "session-title" : "session-id" }, s.title ?? s.id),
        h("span", { class: "hint" }, `${when} · ${s.event_count} events`),
      );
      button.addEventListener("click", () => openSession(s.id));
      return h("li", {}, button);
    });
    if (items.length === 0) items.push(h("li", { class: "hint" }, "No sessions yet."));
    ui.sessions.replaceChildren(...items);
    markCurrent();
  } catch (error) {
    showError(error);
  }
}

function markCurrent() {
  for (const button of ui.sessions.querySelectorAll("button.session")) {
    if (button.dataset.session === sessionId) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

function showSession() {
  ui.sessionLabel.textContent = sessionId ? `Session ${sessionId}` : "New session";
  markCurrent();
}

async function openSession(id) {
  clearError();
  detach();
  sessionId = id;
  showSession();
  resetView();
  showSidebar(false);
  const path = `sessions/${enc(id)}`;
  try {
    let after = 0;
    for (;;) {
      const page = await getJSON(appPath(agent, `${path}/events?after=${after}&limit=1000`));
      if (sessionId !== id) return;
      page.events.forEach(render);
      after = page.next_after;
      if (!page.has_more) break;
    }
    finishBubble();
    const { runs } = await getJSON(appPath(agent, path));
    const going = runs.find((r) => r.status === "running");
    if (going && sessionId === id && run === null) {
      const events = `${path}/runs/${enc(going.run_id)}/events`;
      const headers = { "Last-Event-ID": String(after) };
      await drive((signal) => api(appPath(agent, events), { headers, signal }));
    }
  } catch (error) {
    showError(error);
  }
}

function newSession() {
  clearError();
  detach();
  sessionId = null;
  showSession();
  resetView();
  showSidebar(false);
}

async function loadAgents() {
  try {
    const { apps } = await getJSON("v1/apps");
    ui.agent.replaceChildren(
      ...apps.map((a) => h("option", { value: a.name, title: a.description ?? "" }, a.name)),
    );
    ui.agent.disabled = apps.length === 0;
    const saved = localStorage.getItem(AGENT_STORAGE);
    selectAgent(apps.some((a) => a.name === saved) ? saved : (apps[0]?.name ?? ""));
  } catch (error) {
    showError(error);
  }
}

function selectAgent(name) {
  agent = name;
  ui.agent.value = name;
  if (name) localStorage.setItem(AGENT_STORAGE, name);
  newSession();
  updateControls();
  ui.sessions.replaceChildren();
  refreshSessions();
}

// ---- page state ------------------------------------------------------------------------

function updateControls() {
  ui.send.disabled = run !== null || !agent;
  ui.cancel.hidden = !run?.runId;
  if (ui.cancel.hidden) {
    ui.cancel.disabled = false;
    ui.cancel.textContent = "Cancel";
  }
}

function showError(error) {
  const http = error instanceof ApiError && error.status > 0;
  const where = http ? ` (${error.code}, HTTP ${error.status})` : "";
  ui.error.textContent = `${error.message}${where}`;
  ui.error.hidden = false;
  if (error.status === 401) askForKey();
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = "";
}

function askForKey() {
  ui.keyHint.textContent = "This server needs an API key: enter yours.";
  ui.keyPanel.open = true;
  showSidebar(true);
  ui.apiKey.focus();
}

function showSidebar(show) {
  document.body.classList.toggle("show-sessions", show);
  ui.toggleSessions.setAttribute("aria-expanded", String(show));
}

// ---- wiring ----------------------------------------------------------------------------

ui.agent.addEventListener("change", () => selectAgent(ui.agent.value));
ui.newSession.addEventListener("click", () => {
  newSession();
  ui.message.focus();
});
ui.cancel.addEventListener("click", cancelRun);
ui.toggleSessions.addEventListener("click", () =>
  showSidebar(!document.body.classList.contains("show-sessions")),
);
ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.message.value.trim();
  if (!text || run !== null || !agent) return;
  clearError();
  send(text);
});
ui.message.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
});
ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = ui.apiKey.value.trim();
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
  ui.keyHint.textContent = key ? "Key saved in this browser." : "Key removed.";
  clearError();
  loadAgents();
});

ui.apiKey.value = localStorage.getItem(KEY_STORAGE) ?? "";
resetView();
updateControls();
loadAgents();
