// The dashboard: one card per strategy and one row per broker's master contract, kept
// current by the host's Server-Sent Events (/api/events) without reloading the page.

import { request } from "/static/api.js";
import {
  ApiError,
  el,
  followEvents,
  formatBytes,
  formatDuration,
  formatIst,
  formatPercent,
  goToLogin,
  run,
  startPage,
  toast,
} from "/static/common.js";
import { allowedActions, badgeOf } from "/static/states.js";

// ----- strategies -----------------------------------------------------------------------

function messageOf(strategy) {
  if (strategy.error_message) return strategy.error_message;
  return strategy.state_message || "";
}

function nextStartOf(strategy) {
  if (strategy.backoff_until) return `restarts at ${formatIst(strategy.backoff_until)}`;
  const plan = strategy.schedule ? strategy.schedule.description : "on demand";
  if (strategy.next_start_at) return `next start ${formatIst(strategy.next_start_at)} · ${plan}`;
  return plan;
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
    name: el("a", { href: `/strategies/${strategy.id}` }),
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
    el(
      "div",
      { class: "card-head" },
      el("div", {}, el("h3", { id: titleId, class: "card-title" }, fields.name), fields.broker),
      fields.badge,
    ),
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
    // Only this button: a refill here would restart the uptime from an older answer's.
    const current = latestStrategies && latestStrategies.find((item) => item.id === id);
    if (current) button.disabled = !allowedActions(current)[action];
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

// ----- the page ------------------------------------------------------------------------

async function main() {
  if (!(await startPage("dashboard"))) return;
  const check = document.getElementById("check-contracts");
  check.addEventListener("click", () => checkContracts(check));
  setInterval(() => cards.forEach(tickUptime), 1000);
  followEvents({
    strategies: (strategies) => {
      latestStrategies = strategies;
      renderStrategies(strategies);
    },
    contracts: renderContracts,
  });
}

run(main);
