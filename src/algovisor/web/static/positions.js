// Positions: what is open (by strategy), what crashes left behind (with the crash, the
// stop and the trailing state as the crash left them, and the broker's verdict), the
// broker check ("Reconcile now") and one position's event trail.
//
// Positions are not in the host's event stream: the page asks again every few seconds
// while it is visible, at once when it becomes visible again, and after a broker check.

import { request } from "/static/api.js";
import { ApiError, el, formatIst, formatPrice, goToLogin, run, startPage, toast } from "/static/common.js";

const REFRESH_MS = 4000;
const OPEN_STATUSES = ["ACTIVE", "RECOVERED", "CRASHED"];
const DAY_MS = 24 * 3600 * 1000;

// ----- words and badges -----------------------------------------------------------------

const STATUS_TONES = { ACTIVE: "green", RECOVERED: "blue", CRASHED: "red", CLOSED: "grey" };

export function statusBadge(status) {
  return el("span", { class: `badge badge-${STATUS_TONES[status] || "grey"}`, text: status });
}

const VERDICTS = {
  matched: ["green", "Matched at the broker"],
  closed_at_broker: ["red", "Closed at the broker"],
  quantity_mismatch: ["yellow", "Quantity mismatch"],
  orphan: ["yellow", "Orphan: no strategy holds it"],
  unknown: ["grey", "Unknown: broker not asked"],
};

export function verdictBadge(verdict) {
  if (!verdict) return el("span", { class: "badge badge-grey", text: "Not checked yet" });
  const [tone, label] = VERDICTS[verdict] || ["grey", verdict];
  return el("span", { class: `badge badge-${tone}`, "data-verdict": verdict, text: label });
}

function sideText(position) {
  return `${position.side} ${position.quantity}`;
}

function quantityText(position) {
  if (position.quantity === position.initial_quantity) return String(position.quantity);
  return `${position.quantity} of ${position.initial_quantity}`;
}

// A value of a strategy's own state, readable: numbers as they are, objects as JSON.
function valueText(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function humanKey(key) {
  return key.replaceAll("_", " ");
}

// One line for a table cell: "key value · key value", cut short (the whole in a tooltip).
export function stateSummary(state) {
  const entries = Object.entries(state || {});
  if (!entries.length) return "—";
  const text = entries.map(([key, value]) => `${humanKey(key)} ${valueText(value)}`).join(" · ");
  return text.length > 90 ? `${text.slice(0, 89)}…` : text;
}

// The whole state as a definition list.
function stateList(state) {
  const entries = Object.entries(state || {});
  if (!entries.length) return el("p", { class: "empty", text: "No trailing state recorded." });
  return el(
    "dl",
    { class: "state-list" },
    ...entries.map(([key, value]) =>
      el("div", {}, el("dt", { text: humanKey(key) }), el("dd", { text: valueText(value) })),
    ),
  );
}

function field(label, value, name, wide = false) {
  const dd = el("dd", { "data-field": name });
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value;
  return el("div", { class: wide ? "wide" : null }, el("dt", { text: label }), dd);
}

function entryText(position) {
  return `${formatPrice(position.entry_price)} at ${formatIst(position.entry_time)}`;
}

// ----- the trail dialog ---------------------------------------------------------------

const dialog = document.getElementById("trail");
const dialogBody = document.getElementById("trail-body");
const dialogError = document.getElementById("trail-error");
let dialogOpener = null;
let dialogRequest = 0;

function trailButton(position, label, extraClass = "") {
  const button = el("button", {
    type: "button",
    class: `btn trail-button ${extraClass}`.trim(),
    "data-trail": position.id,
    "aria-haspopup": "dialog",
    text: label,
  });
  button.addEventListener("click", () => openTrail(position.id, button));
  return button;
}

function detailsText(details) {
  const entries = Object.entries(details || {});
  if (!entries.length) return el("span", { class: "muted", text: "—" });
  return el(
    "dl",
    { class: "event-details" },
    ...entries.map(([key, value]) =>
      el("div", {}, el("dt", { text: humanKey(key) }), el("dd", { text: valueText(value) })),
    ),
  );
}

function eventsTable(events) {
  const rows = events.map((event) =>
    el(
      "tr",
      { "data-kind": event.kind },
      el("td", {}, el("span", { class: `event-kind event-${event.kind.toLowerCase()}`, text: event.kind })),
      el("td", { class: "nowrap", text: formatIst(event.at) }),
      el("td", {}, detailsText(event.details)),
    ),
  );
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { class: "table trail-events" },
      el("caption", { class: "visually-hidden", text: "Events, oldest first" }),
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", { scope: "col", text: "Kind" }),
          el("th", { scope: "col", text: "Time (IST)" }),
          el("th", { scope: "col", text: "Details" }),
        ),
      ),
      el("tbody", {}, ...rows),
    ),
  );
}

function intentsTable(intents) {
  const rows = intents.map((intent) =>
    el(
      "tr",
      {},
      el("td", { text: intent.client_order_id }),
      el("td", { text: `${intent.action} ${intent.quantity} ${intent.symbol}` }),
      el("td", { text: intent.purpose || "—" }),
      el("td", { text: intent.status }),
      el("td", { class: "nowrap", text: formatIst(intent.created_at) }),
      el("td", { text: intent.message || intent.broker_order_id || "—" }),
    ),
  );
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { class: "table" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ...["Order id", "Order", "Purpose", "Status", "Created", "Broker says"].map((text) =>
            el("th", { scope: "col", text }),
          ),
        ),
      ),
      el("tbody", {}, ...rows),
    ),
  );
}

function renderTrail(detail) {
  const position = detail.position;
  const session = detail.session;
  document.getElementById("trail-title").textContent =
    `Position ${position.id} · ${position.symbol} ${position.exchange} · ${position.strategy}`;
  const summary = el(
    "dl",
    { class: "facts" },
    field("Status", statusBadge(position.status), "status"),
    field("Side, quantity", `${position.side} ${quantityText(position)}`, "quantity"),
    field("Product", position.product, "product"),
    field("Broker", position.broker, "broker"),
    field("Entry", entryText(position), "entry", true),
    field("Stop", formatPrice(position.stop_price), "stop"),
    field("Target", formatPrice(position.target_price), "target"),
    field("Last price", formatPrice(position.current_price), "last"),
    field("Realised P&L", formatPrice(position.realized_pnl), "pnl"),
    ...(position.exit_time
      ? [
          field(
            "Exit",
            `${formatPrice(position.exit_price)} at ${formatIst(position.exit_time)} (${position.exit_reason || "—"})`,
            "exit",
            true,
          ),
        ]
      : []),
    field("Broker verdict", verdictBadge(position.broker_verdict), "verdict"),
    field("Checked", formatIst(position.broker_checked_at), "checked"),
    field(
      "Session",
      `${session.id} · ${session.status} · pid ${session.pid} on ${session.hostname} · since ${formatIst(session.started_at)}`,
      "session",
      true,
    ),
  );
  const parts = [summary, el("h3", { text: "Trailing state" }), stateList(position.state)];
  if (detail.crashes.length) {
    parts.push(el("h3", { text: "Crashes" }));
    for (const crash of detail.crashes) {
      const block = el(
        "div",
        { class: "trail-crash" },
        el("p", {}, el("strong", { text: formatIst(crash.at) }), ` · ${crash.reason || "no reason recorded"}`),
      );
      if (crash.traceback) {
        block.append(
          el("details", {}, el("summary", { text: "Traceback" }), el("pre", { class: "traceback", text: crash.traceback })),
        );
      }
      parts.push(block);
    }
  }
  parts.push(el("h3", { text: "Event trail" }));
  parts.push(detail.events.length ? eventsTable(detail.events) : el("p", { class: "empty", text: "No events." }));
  if (detail.order_intents.length) {
    parts.push(el("h3", { text: "Orders" }), intentsTable(detail.order_intents));
  }
  dialogBody.replaceChildren(...parts);
}

async function openTrail(positionId, opener) {
  dialogOpener = opener;
  const ticket = ++dialogRequest;
  document.getElementById("trail-title").textContent = `Position ${positionId}`;
  dialogBody.replaceChildren(el("p", { class: "empty", text: "Loading…" }));
  dialogError.hidden = true;
  if (!dialog.open) dialog.showModal();
  try {
    const detail = await request("GET", `/api/positions/${positionId}`);
    if (ticket !== dialogRequest) return; // another position was asked for meanwhile
    renderTrail(detail);
  } catch (error) {
    if (ticket !== dialogRequest) return;
    if (error instanceof ApiError && error.status === 401) goToLogin();
    dialogBody.replaceChildren();
    dialogError.textContent = error.message;
    dialogError.hidden = false;
  }
}

function setUpDialog() {
  document.getElementById("trail-close").addEventListener("click", () => dialog.close());
  // A click on the backdrop (the dialog itself, outside its content) closes it too.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener("close", () => {
    dialogRequest += 1;
    if (dialogOpener && dialogOpener.isConnected) dialogOpener.focus();
    else if (dialogOpener) focusByKey(dialogOpener.dataset.focusKey);
    dialogOpener = null;
  });
}

// ----- crashed positions ----------------------------------------------------------------

const crashedList = document.getElementById("crashed");

function crashCard(item) {
  const { position, crash, now } = item;
  const key = `crash-${position.id}-${crash.at}`;
  const titleId = `${key}-title`.replace(/[^A-Za-z0-9_-]/g, "_");
  const reason = crash.exception_type && !(crash.reason || "").startsWith(crash.exception_type)
    ? `${crash.exception_type}: ${crash.reason || ""}`
    : crash.reason || crash.exception_type || "no reason recorded";
  const button = trailButton(position, "Event trail");
  button.dataset.focusKey = key;
  return el(
    "li",
    { class: "crash", "data-position": position.id, "data-strategy": position.strategy, "aria-labelledby": titleId },
    el(
      "div",
      { class: "crash-head" },
      el(
        "div",
        {},
        el("h3", { id: titleId, class: "crash-title", text: `${position.symbol} ${position.exchange} · ${position.product}` }),
        el("span", { class: "crash-strategy", text: `${position.strategy} · ${position.broker} broker · position ${position.id}` }),
      ),
      el("span", { class: "crash-now" }, el("span", { class: "visually-hidden", text: "Now: " }), statusBadge(now)),
    ),
    el("p", { class: "crash-reason", "data-field": "reason", text: reason }),
    el(
      "dl",
      { class: "facts" },
      field("Crashed at", formatIst(crash.at), "crashed-at", true),
      field("Side, quantity", sideText(position), "quantity"),
      field("Entry", entryText(position), "entry", true),
      field("Stop", formatPrice(position.stop_price), "stop"),
      field("Target", formatPrice(position.target_price), "target"),
      field("Last price", formatPrice(position.current_price), "last"),
      field("Broker verdict", verdictBadge(position.broker_verdict), "verdict"),
      field("Checked", formatIst(position.broker_checked_at), "checked"),
    ),
    el("div", { class: "crash-state", "data-field": "state" }, el("h4", { text: "Trailing state" }), stateList(position.state)),
    el("div", { class: "actions" }, button),
  );
}

function renderCrashed(items) {
  // Latest crash first: what needs a look now.
  const cards = [...items].reverse().map(crashCard);
  crashedList.replaceChildren(...cards);
  crashedList.setAttribute("aria-busy", "false");
  document.getElementById("no-crashed").hidden = items.length > 0;
}

// Positions still CRASHED whose crash is older than the period shown: say so, never hide them.
function noteOlderCrashes(data) {
  const shown = new Set(data.crashed.map((item) => item.position.id));
  const older = data.open.filter((position) => position.status === "CRASHED" && !shown.has(position.id));
  const note = document.getElementById("older-crashes");
  note.hidden = older.length === 0;
  note.textContent = older.length
    ? `${older.length} more position${older.length === 1 ? " is" : "s are"} still CRASHED from an earlier crash ` +
      `(${older.map((position) => `${position.symbol}, ${position.strategy}`).join("; ")}): choose a longer period to see ${older.length === 1 ? "it" : "them"}.`
    : "";
}

// ----- open positions -----------------------------------------------------------------

const openGroups = document.getElementById("open");

const OPEN_COLUMNS = [
  ["Symbol", ""],
  ["Exchange", ""],
  ["Product", ""],
  ["Side", ""],
  ["Qty", "num"],
  ["Entry", "num"],
  ["Stop", "num"],
  ["Target", "num"],
  ["Last", "num"],
  ["Trailing state", ""],
  ["Status", ""],
];

function openRow(position) {
  const button = trailButton(position, position.symbol, "btn-link");
  button.dataset.focusKey = `open-${position.id}`;
  button.setAttribute("aria-label", `${position.symbol}: event trail of position ${position.id}`);
  return el(
    "tr",
    { "data-position": position.id, "data-status": position.status },
    el("td", {}, button),
    el("td", { text: position.exchange }),
    el("td", { text: position.product }),
    el("td", { text: position.side }),
    el("td", { class: "num", text: quantityText(position) }),
    el(
      "td",
      { class: "num" },
      formatPrice(position.entry_price),
      el("span", { class: "cell-note", text: formatIst(position.entry_time) }),
    ),
    el("td", { class: "num", "data-field": "stop", text: formatPrice(position.stop_price) }),
    el("td", { class: "num", text: formatPrice(position.target_price) }),
    el("td", { class: "num", text: formatPrice(position.current_price) }),
    el("td", { class: "state-cell", title: JSON.stringify(position.state), text: stateSummary(position.state) }),
    el(
      "td",
      {},
      el(
        "div",
        { class: "status-cell" },
        statusBadge(position.status),
        position.broker_verdict ? verdictBadge(position.broker_verdict) : null,
      ),
    ),
  );
}

function renderOpen(positions) {
  const byStrategy = new Map();
  for (const position of positions) {
    if (!byStrategy.has(position.strategy)) byStrategy.set(position.strategy, []);
    byStrategy.get(position.strategy).push(position);
  }
  const groups = [...byStrategy.keys()].sort().map((strategy) => {
    const rows = byStrategy.get(strategy).sort((a, b) => a.id - b.id);
    const headingId = `open-${strategy}`.replace(/[^A-Za-z0-9_-]/g, "_");
    return el(
      "section",
      { class: "open-group", "data-strategy": strategy, "aria-labelledby": headingId },
      el(
        "h3",
        { id: headingId, class: "open-strategy" },
        el("a", { href: `/strategies/${encodeURIComponent(strategy)}`, text: strategy }),
        el("span", { class: "open-count", text: ` · ${rows.length} open` }),
      ),
      el(
        "div",
        { class: "table-wrap" },
        el(
          "table",
          { class: "table open-table" },
          el(
            "thead",
            {},
            el("tr", {}, ...OPEN_COLUMNS.map(([text, cls]) => el("th", { scope: "col", class: cls || null, text }))),
          ),
          el("tbody", {}, ...rows.map(openRow)),
        ),
      ),
    );
  });
  openGroups.replaceChildren(...groups);
  openGroups.setAttribute("aria-busy", "false");
  document.getElementById("no-open").hidden = positions.length > 0;
}

// ----- loading ------------------------------------------------------------------------

const windowSelect = document.getElementById("crash-window");
const loadError = document.getElementById("load-error");
let lastShown = null; // what the page shows, as JSON: redrawn only when it changed
let loading = null;
let reloadAfter = false;

function crashedPath() {
  const days = windowSelect.value;
  if (days === "all") return "/api/positions/crashed";
  const since = new Date(Date.now() - Number(days) * DAY_MS).toISOString();
  return `/api/positions/crashed?since=${encodeURIComponent(since)}`;
}

// Focus survives a redraw: the element with the same `data-focus-key` gets it back.
function focusByKey(key) {
  if (!key) return;
  const target = document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
  if (target) target.focus();
}

async function fetchAll() {
  const [crashed, ...open] = await Promise.all([
    request("GET", crashedPath()),
    ...OPEN_STATUSES.map((status) => request("GET", `/api/positions?status=${status}`)),
  ]);
  return { crashed, open: open.flat() };
}

async function loadOnce() {
  try {
    const data = await fetchAll();
    loadError.hidden = true;
    document.getElementById("refreshed").textContent = `updated ${formatIst(new Date().toISOString())}`;
    const shown = JSON.stringify(data);
    if (shown === lastShown) return;
    lastShown = shown;
    const focusKey = document.activeElement ? document.activeElement.dataset.focusKey : undefined;
    renderCrashed(data.crashed);
    renderOpen(data.open);
    noteOlderCrashes(data);
    focusByKey(focusKey);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      goToLogin();
      return;
    }
    // What was shown stays, marked as possibly stale.
    loadError.textContent = `Could not refresh the positions: ${error.message}`;
    loadError.hidden = false;
  }
}

// One load at a time; a request during one runs once more after it.
function load() {
  if (loading) {
    reloadAfter = true;
    return loading;
  }
  loading = loadOnce().finally(() => {
    loading = null;
    if (reloadAfter) {
      reloadAfter = false;
      load();
    }
  });
  return loading;
}

// ----- reconcile ----------------------------------------------------------------------

const VERDICT_WORDS = {
  matched: "matched",
  closed_at_broker: "closed at the broker",
  quantity_mismatch: "quantity mismatch",
  orphan: "orphan",
  unknown: "unknown",
};

export function reconcileSummary(findings) {
  if (!findings.length) return "No open positions to check: every broker account is as we hold it.";
  const counts = new Map();
  for (const finding of findings) counts.set(finding.verdict, (counts.get(finding.verdict) || 0) + 1);
  const brokers = new Set(findings.map((finding) => finding.broker));
  const parts = [...counts].map(([verdict, count]) => `${count} ${VERDICT_WORDS[verdict] || verdict}`);
  const positions = findings.length === 1 ? "1 symbol" : `${findings.length} symbols`;
  const accounts = brokers.size === 1 ? `the ${[...brokers][0]} broker` : `${brokers.size} brokers`;
  return `Checked ${positions} on ${accounts}: ${parts.join(", ")}.`;
}

function renderFindings(findings) {
  const table = document.getElementById("findings");
  const rows = findings.map((finding) =>
    el(
      "tr",
      { "data-verdict": finding.verdict },
      el("td", { text: finding.broker }),
      el("td", { text: `${finding.symbol} ${finding.exchange}` }),
      el("td", { text: finding.product }),
      el("td", {}, verdictBadge(finding.verdict)),
      el("td", { class: "num", text: String(finding.expected_quantity) }),
      el("td", { class: "num", text: finding.broker_quantity === null ? "—" : String(finding.broker_quantity) }),
      el(
        "td",
        {},
        finding.position_ids.length
          ? `${finding.position_ids.join(", ")} (${finding.strategies.join(", ")})`
          : "none",
      ),
      el("td", { text: finding.problem ? `${finding.detail}: ${finding.problem}` : finding.detail }),
    ),
  );
  table.tBodies[0].replaceChildren(...rows);
  table.hidden = findings.length === 0;
}

async function reconcileNow(button) {
  button.disabled = true;
  button.textContent = "Checking…";
  const section = document.getElementById("reconcile-result");
  const message = document.getElementById("reconcile-message");
  try {
    const findings = await request("POST", "/api/positions/reconcile");
    const summary = reconcileSummary(findings);
    message.textContent = `${summary} (${formatIst(new Date().toISOString())})`;
    message.classList.remove("form-error");
    renderFindings(findings);
    section.hidden = false;
    toast(summary, findings.some((finding) => finding.verdict !== "matched") ? "warn" : "ok");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) goToLogin();
    message.textContent = `The broker check failed: ${error.message}`;
    message.classList.add("form-error");
    renderFindings([]);
    section.hidden = false;
    toast(error.message, "error");
  } finally {
    button.disabled = false;
    button.textContent = "Reconcile now";
    await load(); // the verdicts are stored on the positions
  }
}

// ----- the page ------------------------------------------------------------------------

async function main() {
  if (!(await startPage("positions"))) return;
  // No event stream here (positions are asked for every few seconds): no live indicator.
  const live = document.getElementById("live");
  if (live) live.hidden = true;
  setUpDialog();
  const reconcile = document.getElementById("reconcile");
  reconcile.addEventListener("click", () => reconcileNow(reconcile));
  windowSelect.addEventListener("change", () => load());
  await load();
  setInterval(() => {
    if (document.visibilityState === "visible") load();
  }, REFRESH_MS);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") load();
  });
}

run(main);
