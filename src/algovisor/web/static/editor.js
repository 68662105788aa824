// The script editor (/strategies/{ref}/edit): CodeMirror 6 with Python highlighting. Saving
// makes a new version (PUT /api/strategies/{ref}/script). While the strategy has a process the
// host refuses edits, so the editor turns read-only with a banner, live over Server-Sent
// Events, and becomes editable again when the process is gone; unsaved edits are kept.

import { request } from "/static/api.js";
import { ApiError, followEvents, formatIst, run, startPage, toast } from "/static/common.js";
import { badgeOf } from "/static/states.js";
import {
  basicSetup,
  Compartment,
  EditorState,
  EditorView,
  indentUnit,
  indentWithTab,
  keymap,
  python,
} from "/static/vendor/codemirror.js";

const ref = decodeURIComponent(window.location.pathname.split("/")[2] || "");

// The host's rule (services/strategies.py `refuse_while_running`): no edit while the strategy
// has an active run, i.e. a process being spawned, running or stopping. The view's
// `current_run` is exactly that run.
export function isLocked(strategy) {
  return Boolean(strategy && strategy.current_run);
}

const PROCESS_WORDS = { spawning: "is starting", running: "is running", stopping: "is stopping" };

const dom = {
  title: document.getElementById("editor-title"),
  strategyLink: document.getElementById("strategy-link"),
  versionInfo: document.getElementById("version-info"),
  badge: document.getElementById("state-badge"),
  banner: document.getElementById("running-banner"),
  bannerText: document.getElementById("running-text"),
  stop: document.getElementById("stop-strategy"),
  runningLink: document.getElementById("running-link"),
  armed: document.getElementById("armed-note"),
  form: document.getElementById("editor-form"),
  error: document.getElementById("save-error"),
  host: document.getElementById("editor"),
  save: document.getElementById("save"),
  discard: document.getElementById("discard"),
  status: document.getElementById("save-status"),
};

const lock = new Compartment();
const page = {
  strategy: null, // the latest StrategyView
  view: null, // the EditorView
  savedDoc: null, // the text of `baseVersion`, to tell unsaved edits
  baseVersion: null, // the version the edits are made on
  filename: "strategy.py",
  locked: false,
  deleted: false,
  dirty: false,
  saving: false,
  stopping: false,
  stickyError: false, // the shown save error stays while editing
};

function lockExtensions(locked) {
  return locked
    ? [
        EditorState.readOnly.of(true),
        EditorView.editable.of(false),
        EditorView.contentAttributes.of({ "aria-readonly": "true" }),
      ]
    : [];
}

function setStatus(text, kind = "") {
  dom.status.textContent = text;
  if (kind) dom.status.dataset.kind = kind;
  else delete dom.status.dataset.kind;
}

function showSaveError(message) {
  dom.error.textContent = message;
  dom.error.hidden = !message;
}

function refreshButtons() {
  const blocked = page.locked || page.deleted || page.saving;
  dom.save.disabled = blocked || !page.dirty;
  dom.discard.disabled = blocked || !page.dirty;
  dom.save.textContent = page.saving ? "Saving…" : "Save";
}

function showVersion() {
  dom.versionInfo.textContent = `version ${page.baseVersion} · ${page.filename}`;
}

// ----- following the strategy ----------------------------------------------------------

function bannerText(strategy) {
  const current = strategy.current_run;
  const doing = PROCESS_WORDS[current.status] || "is running";
  const pid = current.pid ? ` (pid ${current.pid})` : "";
  const since = current.started_at ? ` since ${formatIst(current.started_at)}` : "";
  return (
    `${strategy.name} ${doing}${pid}${since}, so its script cannot be changed: ` +
    "stop it to edit. Unsaved changes here are kept."
  );
}

function applyStrategy(strategy) {
  page.strategy = strategy;
  const badge = badgeOf(strategy);
  dom.badge.textContent = badge.label;
  dom.badge.className = `badge badge-${badge.tone}`;
  dom.badge.hidden = false;
  const locked = isLocked(strategy);
  if (page.view && locked !== page.locked) {
    page.view.dispatch({ effects: lock.reconfigure(lockExtensions(locked)) });
  }
  page.locked = locked;
  dom.banner.hidden = !locked;
  dom.host.classList.toggle("editor-locked", locked);
  if (locked) {
    dom.bannerText.textContent = bannerText(strategy);
    const stopAsked = strategy.intent === "stop";
    dom.stop.disabled = page.stopping || stopAsked;
    dom.stop.textContent = stopAsked ? "Stopping…" : "Stop it";
  }
  // Armed but without a process (scheduled, waiting, restarting): editable, and said so.
  const armed = !locked && strategy.intent === "run";
  dom.armed.hidden = !armed;
  if (armed) {
    dom.armed.textContent =
      `${strategy.name} is set to run (${badge.label.toLowerCase()}). You can edit it now; ` +
      "the editor locks while its process runs, and the next start runs the newest version.";
  }
  // Newer than the version edited (lists may lag behind our own save, never run ahead).
  if (!page.saving && page.baseVersion !== null && strategy.current_version > page.baseVersion) {
    setStatus(
      `Version ${strategy.current_version} was saved elsewhere since you opened ` +
        `version ${page.baseVersion}.`,
    );
  }
  refreshButtons();
}

// Not in a list of strategies: deleted, or the list is older than this page. Ask.
async function confirmGone(id) {
  if (page.deleted) return;
  try {
    applyStrategy(await request("GET", `/api/strategies/${id}`));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) strategyGone();
  }
}

function strategyGone() {
  page.deleted = true;
  if (page.view) page.view.dispatch({ effects: lock.reconfigure(lockExtensions(true)) });
  dom.banner.hidden = true;
  dom.armed.hidden = true;
  showSaveError("This strategy was deleted; its script can no longer be saved.");
  refreshButtons();
}

async function stopStrategy() {
  page.stopping = true;
  dom.stop.disabled = true;
  try {
    const answer = await request("POST", `/api/strategies/${page.strategy.id}/stop`);
    toast(`${answer.strategy.name}: ${answer.message}`);
    applyStrategy(answer.strategy);
  } catch (error) {
    toast(error.message, "error");
  } finally {
    page.stopping = false;
    if (page.strategy) applyStrategy(page.strategy);
  }
}

// ----- editing and saving -------------------------------------------------------------

function onDocChanged() {
  // A refused save's message is about the text as it was then, unless it is about what
  // saving again does (another version meanwhile) or the session.
  if (!page.stickyError) showSaveError("");
  const dirty = !page.view.state.doc.eq(page.savedDoc);
  if (dirty !== page.dirty) {
    page.dirty = dirty;
    refreshButtons();
  }
  if (dirty && dom.status.dataset.kind === "saved") setStatus("");
}

async function save() {
  if (page.saving) return;
  if (page.deleted) return;
  if (page.locked) {
    setStatus(`${page.strategy.name} is running: stop it to save.`);
    return;
  }
  if (!page.dirty) {
    setStatus("No changes to save.");
    return;
  }
  const doc = page.view.state.doc;
  const body = new FormData();
  body.append("file", new File([doc.toString()], page.filename, { type: "text/x-python" }));
  body.append("base_version", String(page.baseVersion));
  page.saving = true;
  page.stickyError = false;
  showSaveError("");
  refreshButtons();
  try {
    const version = await request("PUT", `/api/strategies/${page.strategy.id}/script`, body);
    page.savedDoc = doc;
    page.baseVersion = version.number;
    page.filename = version.filename;
    page.dirty = !page.view.state.doc.eq(doc); // typed on while it saved?
    showVersion();
    setStatus(`Saved as version ${version.number}.`, "saved");
    toast(`${page.strategy.name}: saved as version ${version.number}`);
  } catch (error) {
    await explainSaveError(error);
  } finally {
    page.saving = false;
    refreshButtons();
  }
}

async function explainSaveError(error) {
  if (error instanceof ApiError && error.status === 401) {
    // Not the login page: that would lose the edits.
    page.stickyError = true;
    showSaveError(
      "Your session has ended. Log in again in another tab, then save here: your changes are kept.",
    );
    return;
  }
  showSaveError(error.message);
  if (error instanceof ApiError && error.field === "base_version") {
    // Another version became current; the next save replaces it, as the message says.
    page.stickyError = true;
    try {
      const latest = await request("GET", `/api/strategies/${page.strategy.id}/script`);
      page.baseVersion = latest.version;
    } catch {
      // The message above stands; the next save asks again.
    }
  }
}

function discard() {
  if (!page.dirty) return;
  if (!window.confirm("Discard your changes and go back to the saved version?")) return;
  page.view.dispatch({
    changes: { from: 0, to: page.view.state.doc.length, insert: page.savedDoc },
  });
  showSaveError("");
  setStatus("Changes discarded.");
}

function buildEditor(content, name) {
  page.savedDoc = EditorState.create({ doc: content }).doc;
  page.view = new EditorView({
    parent: dom.host,
    state: EditorState.create({
      doc: page.savedDoc,
      extensions: [
        basicSetup,
        python(),
        indentUnit.of("    "),
        keymap.of([indentWithTab]),
        lock.of(lockExtensions(page.locked)),
        EditorView.contentAttributes.of({
          "aria-label": `Script of ${name}`,
          "aria-describedby": "editor-hint",
        }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onDocChanged();
        }),
      ],
    }),
  });
  dom.host.setAttribute("aria-busy", "false");
}

// ----- the page -----------------------------------------------------------------------

async function main() {
  if (!(await startPage(null))) return;
  let strategy;
  let script;
  try {
    [strategy, script] = await Promise.all([
      request("GET", `/api/strategies/${encodeURIComponent(ref)}`),
      request("GET", `/api/strategies/${encodeURIComponent(ref)}/script`),
    ]);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      dom.title.textContent = "No such strategy";
      showSaveError(error.message);
      dom.host.setAttribute("aria-busy", "false");
      return;
    }
    throw error;
  }
  const pageUrl = `/strategies/${strategy.id}`;
  document.title = `algovisor · Edit ${strategy.name}`;
  dom.title.textContent = `Edit ${strategy.name}`;
  dom.strategyLink.textContent = strategy.name;
  dom.strategyLink.href = pageUrl;
  dom.runningLink.href = pageUrl;
  page.baseVersion = script.version;
  page.filename = script.filename;
  showVersion();
  page.locked = isLocked(strategy);
  buildEditor(script.content, strategy.name);
  applyStrategy(strategy);

  dom.form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  dom.discard.addEventListener("click", discard);
  dom.stop.addEventListener("click", stopStrategy);
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "s") {
      event.preventDefault(); // never the browser's "save page"
      save();
    }
  });
  window.addEventListener("beforeunload", (event) => {
    if (!page.dirty) return;
    event.preventDefault();
    event.returnValue = ""; // older browsers ask only when this is set
  });
  followEvents({
    strategies: (strategies) => {
      const current = strategies.find((item) => item.id === strategy.id);
      if (current) applyStrategy(current);
      else confirmGone(strategy.id);
    },
  });
}

run(main);
