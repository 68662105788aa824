// The dashboard: one card per strategy and one row per broker's master contract, kept
// current by the host's Server-Sent Events (/api/events) without reloading the page.

import { ApiError, loadSession, logout, request } from "/static/api.js";

const IST = new Intl.DateTimeFormat("en-IN", {
  timeZone: "Asia/Kolkata",
  day: "2-digit",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hour12: false,
});

export function formatIst(iso) {
  if (!iso) return "—";
  return `${IST.format(new Date(iso))} IST`;
}

function formatDuration(secs) {
  if (secs === null || secs === undefined) return "—";
  let rest = Math.max(0, Math.floor(secs));
  const days = Math.floor(rest / 86400);
  rest %= 86400;
  const hours = Math.floor(rest / 3600);
  rest %= 3600;
  const minutes = Math.floor(rest / 60);
  const seconds = rest % 60;
  if (days) return `${days}d ${hours}h ${minutes}m`;
  if (hours) return `${hours}h ${minutes}m ${seconds}s`;
  if (minutes) return `${minutes}m ${seconds}s`;
  return `${seconds}s`;
}

function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

function formatPercent(value) {
  return value === null || value === undefined ? "—" : `${value.toFixed(1)}%`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// ----- toasts ---------------------------------------------------------------------------

const toasts = document.getElementById("toasts");

function toast(message, kind = "ok") {
  const item = el("div", { class: `toast toast-${kind}`, text: message });
  toasts.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 9000 : 5000);
}

// ----- strategies -----------------------------------------------------------------------

const PROCESS_STATES = new Set(["starting", "running", "stopping", "backoff"]);

// What a strategy's badge says, and its colour.
export function badgeOf(strategy) {
  if (strategy.error_message || strategy.state === "error") {
    return { tone: "red", label: "Error" };
  }
  switch (strategy.state) {
    case "running":
      return { tone: "green", label: "Running" };
    case "waiting":
      return { tone: "yellow", label: "Waiting for master contracts" };
    case "backoff":
      return { tone: "yellow", label: "Restarting" };
    case "starting":
      return { tone: "blue", label: "Starting" };
    case "stopping":
      return { tone: "blue", label: "Stopping" };
    case "scheduled":
      return { tone: "grey", label: "Scheduled" };
    case "paused":
      return { tone: "grey", label: "Paused" };
    default:
      return { tone: "grey", label: "Stopped" };
  }
}

// Which buttons may be pressed: the API refuses the others, so the page does not offer them.
export function allowedActions(strategy) {
  const inError = Boolean(strategy.error_message);
  const hasProcess = strategy.current_run !== null || PROCESS_STATES.has(strategy.state);
  return {
    start: !inError && strategy.intent !== "run",
    stop: strategy.intent === "run" || hasProcess,
    restart: !inError,
    "clear-error": inError && !hasProcess,
  };
}

function messageOf(strategy) {
  if (strategy.error_message) return strategy.error_message;
  return strategy.state_message || "";
}

function nextStartOf(strategy) {
  if (strategy.backoff_until) return `restarts at ${formatIst(strategy.backoff_until)}`;
  if (strategy.window_skipped_until) return `held until ${formatIst(strategy.window_skipped_until)}`;
  if (strategy.schedule) return strategy.schedule.description;
  return "on demand";
}

const ACTIONS = [
  ["start", "Start"],
  ["stop", "Stop"],
  ["restart", "Restart"],
  ["clear-error", "Clear error"],
];

const strategyList = document.getElementById("strategies");
const cards = new Map(); // strategy id -> {root, fields, buttons, uptime}

function buildCard(strategy) {
  const titleId = `strategy-${strategy.id}-name`;
  const fields = {
    name: el("h3", { id: titleId, class: "card-title" }),
    broker: el("span", { class: "card-broker" }),
    badge: el("span", { class: "badge" }),
    message: el("p", { class: "card-message" }),
    uptime: el("dd", { "data-field": "uptime" }),
    restarts: el("dd", { "data-field": "restarts" }),
    cpu: el("dd", { "data-field": "cpu" }),
    memory: el("dd", { "data-field": "memory" }),
    next: el("dd", { "data-field": "next" }),
  };
  const details = el(
    "dl",
    { class: "stats" },
    el("div", {}, el("dt", { text: "Uptime" }), fields.uptime),
    el("div", {}, el("dt", { text: "Restarts" }), fields.restarts),
    el("div", {}, el("dt", { text: "CPU" }), fields.cpu),
    el("div", {}, el("dt", { text: "Memory" }), fields.memory),
    el("div", { class: "wide" }, el("dt", { text: "Schedule" }), fields.next),
  );
  const buttons = {};
  const bar = el("div", { class: "actions", role: "group", "aria-labelledby": titleId });
  for (const [action, label] of ACTIONS) {
    const button = el("button", { type: "button", class: "btn", "data-action": action, text: label });
    button.addEventListener("click", () => act(strategy.id, action, button));
    buttons[action] = button;
    bar.append(button);
  }
  const root = el(
    "li",
    { class: "card", "data-strategy": strategy.name, "aria-labelledby": titleId },
    el("div", { class: "card-head" }, el("div", {}, fields.name, fields.broker), fields.badge),
    fields.message,
    details,
    bar,
  );
  return { root, fields, buttons, uptime: null };
}

function fillCard(card, strategy, receivedAt) {
  const { fields, buttons } = card;
  const badge = badgeOf(strategy);
  fields.name.textContent = strategy.name;
  fields.broker.textContent = `${strategy.broker} broker`;
  fields.badge.textContent = badge.label;
  fields.badge.className = `badge badge-${badge.tone}`;
  card.root.dataset.state = strategy.error_message ? "error" : strategy.state;
  const message = messageOf(strategy);
  fields.message.textContent = message;
  fields.message.hidden = !message;
  fields.message.className = `card-message${strategy.error_message ? " card-message-error" : ""}`;
  const run = strategy.current_run;
  card.uptime = run && run.uptime_secs !== null ? { secs: run.uptime_secs, at: receivedAt } : null;
  fields.restarts.textContent = String(strategy.restart_count);
  fields.cpu.textContent = formatPercent(run ? run.cpu_percent : null);
  fields.memory.textContent = formatBytes(run ? run.rss_bytes : null);
  fields.next.textContent = nextStartOf(strategy);
  const allowed = allowedActions(strategy);
  for (const [action, button] of Object.entries(buttons)) {
    if (button.dataset.busy) continue;
    button.disabled = !allowed[action];
  }
  tickUptime(card);
}

function tickUptime(card) {
  const value = card.uptime ? card.uptime.secs + (Date.now() - card.uptime.at) / 1000 : null;
  card.fields.uptime.textContent = formatDuration(value);
}

function renderStrategies(strategies) {
  const receivedAt = Date.now();
  const seen = new Set();
  strategies.forEach((strategy, index) => {
    seen.add(strategy.id);
    let card = cards.get(strategy.id);
    if (!card) {
      card = buildCard(strategy);
      cards.set(strategy.id, card);
    }
    fillCard(card, strategy, receivedAt);
    if (strategyList.children[index] !== card.root) {
      strategyList.insertBefore(card.root, strategyList.children[index] || null);
    }
  });
  for (const [id, card] of cards) {
    if (!seen.has(id)) {
      card.root.remove();
      cards.delete(id);
    }
  }
  strategyList.setAttribute("aria-busy", "false");
  document.getElementById("no-strategies").hidden = strategies.length > 0;
}

async function act(id, action, button) {
  button.dataset.busy = "1";
  button.disabled = true;
  try {
    const answer = await request("POST", `/api/strategies/${id}/${action}`);
    toast(`${answer.strategy.name}: ${answer.message}`);
    renderStrategies(mergeStrategy(answer.strategy));
  } catch (error) {
    toast(error.message, "error");
    if (error instanceof ApiError && error.status === 401) goToLogin();
  } finally {
    delete button.dataset.busy;
    const card = cards.get(id);
    if (card && latestStrategies) {
      const current = latestStrategies.find((item) => item.id === id);
      if (current) fillCard(card, current, Date.now());
    }
  }
}

let latestStrategies = null;

function mergeStrategy(updated) {
  latestStrategies = (latestStrategies || []).map((item) => (item.id === updated.id ? updated : item));
  return latestStrategies;
}

// ----- master contracts -----------------------------------------------------------------

export function contractBadgeOf(contract) {
  if (contract.is_ready) return { tone: "green", label: "Ready ✓" };
  if (contract.status === "error") return { tone: "red", label: "Error ⚠" };
  return { tone: "yellow", label: "Waiting ⏰" };
}

const contractList = document.getElementById("contracts");

function progressOf(contract) {
  const progress = contract.progress;
  if (!progress) return "";
  const step = progress.step || "downloading";
  if (progress.total_bytes) {
    const percent = Math.floor((100 * progress.bytes) / progress.total_bytes);
    return `${step}: ${percent}% of ${formatBytes(progress.total_bytes)}`;
  }
  return `${step}: ${formatBytes(progress.bytes)}`;
}

function renderContracts(contracts) {
  const rows = contracts.map((contract) => {
    const badge = contractBadgeOf(contract);
    const note = contract.is_ready ? "" : contract.waiting_reason || contract.message || "";
    const progress = progressOf(contract);
    return el(
      "li",
      { class: "contract", "data-broker": contract.broker },
      el("span", { class: "contract-broker", text: contract.broker }),
      el("span", { class: `badge badge-${badge.tone}`, text: badge.label }),
      el("span", { class: "contract-count", text: `${contract.total_symbols.toLocaleString("en-IN")} symbols` }),
      el("span", { class: "contract-updated", text: `updated ${formatIst(contract.last_updated)}` }),
      ...(progress ? [el("span", { class: "contract-progress", text: progress })] : []),
      ...(note ? [el("p", { class: "contract-note", text: note })] : []),
    );
  });
  contractList.replaceChildren(...rows);
  contractList.setAttribute("aria-busy", "false");
}

async function checkContracts(button) {
  button.disabled = true;
  try {
    const answer = await request("POST", "/python/check-contracts");
    toast(answer.message, answer.success ? "ok" : "warn");
  } catch (error) {
    toast(error.message, "error");
  } finally {
    button.disabled = false;
  }
}

// ----- live updates ---------------------------------------------------------------------

const live = document.getElementById("live");

function connect() {
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => {
    live.textContent = "Live";
    live.className = "live live-on";
  });
  source.addEventListener("strategies", (event) => {
    latestStrategies = JSON.parse(event.data);
    renderStrategies(latestStrategies);
  });
  source.addEventListener("contracts", (event) => renderContracts(JSON.parse(event.data)));
  source.addEventListener("error", async () => {
    live.textContent = "Reconnecting…";
    live.className = "live live-off";
    if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
    // Refused (e.g. the session ended): the login page if so, else try again shortly.
    const session = await loadSession().catch(() => undefined);
    if (session === null) goToLogin();
    else setTimeout(connect, 2000);
  });
  return source;
}

function goToLogin() {
  window.location.replace("/login");
}

async function main() {
  const session = await loadSession();
  if (!session) {
    goToLogin();
    return;
  }
  document.getElementById("user").textContent = session.username;
  document.getElementById("logout").addEventListener("click", async () => {
    try {
      await logout();
    } catch (error) {
      toast(error.message, "error");
      return;
    }
    goToLogin();
  });
  const check = document.getElementById("check-contracts");
  check.addEventListener("click", () => checkContracts(check));
  setInterval(() => cards.forEach(tickUptime), 1000);
  connect();
}

main().catch((error) => toast(error.message, "error"));
