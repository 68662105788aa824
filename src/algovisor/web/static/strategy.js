// One strategy's page (/strategies/{id or name}): its state and actions, kept live over the
// host's Server-Sent Events; its schedule with `explain` in words; environment variables
// (secrets never come back); versions with diffs and rollback; runs; the live log; and its
// CPU and memory over the last hours.

import { request } from "/static/api.js";
import {
  ApiError,
  clearErrors,
  el,
  followEvents,
  formatBytes,
  formatDuration,
  formatIst,
  formatPercent,
  goToLogin,
  run,
  showError,
  startPage,
  toast,
} from "/static/common.js";
import { drawChart } from "/static/strategy-chart.js";
import { LogView } from "/static/strategy-log.js";
import { allowedActions, badgeOf, isActive } from "/static/states.js";

const SECRET_DOTS = "••••";
const CHART_REFRESH_MS = 5000;

const page = {
  ref: decodeURIComponent(window.location.pathname.split("/")[2] || ""),
  strategy: null,
  receivedAt: Date.now(),
  versions: [],
  log: null,
  changeKey: "",
  chartLoadedAt: 0,
};

const $ = (id) => document.getElementById(id);

function api(rest = "") {
  return `/api/strategies/${page.strategy ? page.strategy.id : encodeURIComponent(page.ref)}${rest}`;
}

// Show the API's message; a lost session goes back to the login page.
function failed(error) {
  if (error instanceof ApiError && error.status === 401) goToLogin();
  else toast(error.message || String(error), "error");
}

// Ask before something that cannot be taken back; resolves true when confirmed.
function confirmAction(text, okLabel) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

// GET `path`, or null when a newer call with the same `key` was made meanwhile: answers
// can come back out of order, and only the newest may be drawn.
const tickets = {};
async function newest(key, path) {
  const ticket = (tickets[key] = (tickets[key] || 0) + 1);
  const answer = await request("GET", path);
  return ticket === tickets[key] ? answer : null;
}

// ----- the summary: state, numbers, actions --------------------------------------------

function renderSummary(strategy) {
  if (page.strategy !== strategy) page.receivedAt = Date.now(); // uptime counts on from here
  page.strategy = strategy;
  const badge = badgeOf(strategy);
  document.title = `algovisor · ${strategy.name}`;
  $("strategy-name").textContent = strategy.name;
  $("strategy-broker").textContent = `${strategy.broker} broker · ${strategy.schedule ? strategy.schedule.description : "no schedule: runs when started"}`;
  const badgeNode = $("strategy-badge");
  badgeNode.textContent = badge.label;
  badgeNode.className = `badge badge-${badge.tone}`;
  document.querySelector(".summary").dataset.state = strategy.error_message ? "error" : strategy.state;
  // "pid 1234" alone is what the Run figure shows already.
  const note = strategy.state_message && !/^pid \d+$/.test(strategy.state_message) ? strategy.state_message : "";
  const message = strategy.error_message || note;
  const messageNode = $("strategy-message");
  messageNode.textContent = message;
  messageNode.hidden = !message;
  messageNode.classList.toggle("strategy-message-error", Boolean(strategy.error_message));
  const current = strategy.current_run;
  const field = (name) => document.querySelector(`.summary [data-field="${name}"]`);
  field("restarts").textContent = String(strategy.restart_count);
  field("cpu").textContent = formatPercent(current ? current.cpu_percent : null);
  field("memory").textContent = formatBytes(current ? current.rss_bytes : null);
  field("version").textContent = strategy.current_version ? `v${strategy.current_version}` : "—";
  field("pid").textContent = current && current.pid ? `pid ${current.pid}` : "—";
  tickUptime();
  const allowed = allowedActions(strategy);
  for (const button of document.querySelectorAll(".summary [data-action]")) {
    if (!button.dataset.busy) button.disabled = !allowed[button.dataset.action];
  }
  applyLocks();
}

// While a run exists the host refuses changes to the schedule, environment and script:
// the page does not offer them (the host's 409 would say the same).
function applyLocks() {
  const locked = isActive(page.strategy);
  $("locked-note").hidden = !locked;
  for (const node of document.querySelectorAll("[data-locks]")) {
    if (!node.dataset.busy) node.disabled = locked;
  }
  $("schedule-clear").disabled = locked || !page.strategy.schedule;
}

function tickUptime() {
  const current = page.strategy && page.strategy.current_run;
  const secs =
    current && current.uptime_secs !== null ? current.uptime_secs + (Date.now() - page.receivedAt) / 1000 : null;
  document.querySelector('.summary [data-field="uptime"]').textContent = formatDuration(secs);
}

async function act(action, button) {
  button.dataset.busy = "1";
  button.disabled = true;
  try {
    const answer = await request("POST", api(`/${action}`));
    toast(`${answer.strategy.name}: ${answer.message}`);
    strategyChanged(answer.strategy);
  } catch (error) {
    failed(error);
  } finally {
    delete button.dataset.busy;
    renderSummary(page.strategy);
  }
}

// A new view of the strategy (from an answer or the event stream): refresh what depends on it.
function strategyChanged(strategy) {
  const previous = page.strategy;
  renderSummary(strategy);
  const runId = strategy.current_run ? strategy.current_run.id : strategy.last_run ? strategy.last_run.id : null;
  page.log.follow(runId, Boolean(strategy.current_run));
  const key = JSON.stringify([
    strategy.state,
    strategy.intent,
    strategy.error_message,
    strategy.schedule,
    strategy.window_skipped_until,
    strategy.current_run && strategy.current_run.id,
    strategy.current_run && strategy.current_run.status,
    strategy.last_run && strategy.last_run.id,
  ]);
  if (key !== page.changeKey) {
    page.changeKey = key;
    loadExplain().catch(failed);
    loadRuns().catch(failed);
  }
  if (previous && previous.current_version !== strategy.current_version) loadVersions().catch(failed);
  if (strategy.current_run && Date.now() - page.chartLoadedAt > CHART_REFRESH_MS) loadChart().catch(failed);
}

// ----- schedule and explain ------------------------------------------------------------

const STATE_WORDS = {
  running: "Runs now",
  stopped: "Stopped",
  scheduled: "Waits for its window",
  paused: "Paused: the exchange is closed",
  waiting: "Waits for the master contract",
  backoff: "Restarting after a crash",
  error: "Needs attention",
};

async function loadExplain() {
  const answer = await newest("explain", api("/explain"));
  if (!answer) return;
  const box = $("explain");
  const stateWords = STATE_WORDS[answer.state] || answer.state;
  const reasons = answer.reasons.filter((text) => text && text.toLowerCase() !== stateWords.toLowerCase());
  const parts = [
    el(
      "p",
      { class: "explain-summary" },
      el("strong", { text: `${stateWords}. ` }),
      reasons.length ? `${sentence(reasons[0])}` : "",
    ),
  ];
  if (reasons.length > 1) {
    parts.push(el("ul", { class: "explain-reasons" }, ...reasons.slice(1).map((text) => el("li", { text: sentence(text) }))));
  }
  if (answer.warnings.length) {
    parts.push(el("ul", { class: "explain-warnings" }, ...answer.warnings.map((text) => el("li", { text: `Warning: ${text}` }))));
  }
  parts.push(
    el(
      "p",
      { class: "explain-next" },
      answer.next_change_at ? `Next change: ${formatIst(answer.next_change_at)}.` : "No change is due.",
      ` Checked ${formatIst(answer.at)}.`,
    ),
  );
  if (answer.calendar_problem) parts.push(el("p", { class: "explain-warnings", text: answer.calendar_problem }));
  let plan = "No schedule: it runs when started, until stopped.";
  if (answer.schedule) {
    plan = answer.state === "stopped" && !answer.should_run
      ? `Once started, it runs ${answer.schedule.description}.`
      : `Schedule: ${answer.schedule.description}.`;
  }
  parts.push(el("p", { class: "explain-plan", text: plan }));
  box.replaceChildren(...parts);
}

function sentence(text) {
  const trimmed = text.trim();
  const capital = `${trimmed.charAt(0).toUpperCase()}${trimmed.slice(1)}`;
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

function fillScheduleForm(schedule) {
  const form = $("schedule-form");
  form.elements.start.value = schedule ? schedule.start : "";
  form.elements.stop.value = schedule && schedule.stop ? schedule.stop : "";
  form.elements.days.value = schedule ? schedule.days : "mon-fri";
  form.elements.exchange.value = schedule ? schedule.exchange : "NSE";
}

async function saveSchedule(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const body = {
    start: form.elements.start.value.trim(),
    stop: form.elements.stop.value.trim() || null,
    days: form.elements.days.value.trim(),
    exchange: form.elements.exchange.value,
  };
  await withButton(form.querySelector('button[type="submit"]'), async () => {
    try {
      const strategy = await request("PUT", api("/schedule"), body);
      toast(`${strategy.name}: schedule saved (${strategy.schedule.description})`);
      fillScheduleForm(strategy.schedule);
      strategyChanged(strategy);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) goToLogin();
      else showError(form, error);
    }
  });
}

async function clearSchedule(button) {
  const form = $("schedule-form");
  clearErrors(form);
  await withButton(button, async () => {
    try {
      const strategy = await request("DELETE", api("/schedule"));
      toast(`${strategy.name}: schedule removed; it runs when started, until stopped`);
      fillScheduleForm(null);
      strategyChanged(strategy);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) goToLogin();
      else showError(form, error);
    }
  });
}

async function withButton(button, work) {
  button.dataset.busy = "1";
  button.disabled = true;
  try {
    await work();
  } finally {
    delete button.dataset.busy;
    button.disabled = false;
    applyLocks();
  }
}

// ----- environment ---------------------------------------------------------------------

async function loadEnv() {
  renderEnv(await request("GET", api("/env")));
}

function renderEnv(variables) {
  const locked = isActive(page.strategy);
  const rows = variables.map((variable) => {
    const edit = el("button", { type: "button", class: "btn btn-small", text: "Edit", "aria-label": `Edit ${variable.key}` });
    edit.addEventListener("click", () => {
      const form = $("env-form");
      clearErrors(form);
      form.elements.key.value = variable.key;
      form.elements.value.value = variable.secret ? "" : variable.value;
      form.elements.secret.checked = variable.secret;
      form.elements.value.focus();
    });
    const remove = el("button", {
      type: "button",
      class: "btn btn-small btn-danger",
      text: "Delete",
      "aria-label": `Delete ${variable.key}`,
      "data-locks": "",
      disabled: locked,
    });
    remove.addEventListener("click", () => deleteVariable(variable.key, remove));
    // A secret's value never reaches the page: the host sends a mask, the page shows dots.
    const value = variable.secret
      ? el("td", {}, el("span", { class: "secret-dots", "aria-label": "secret value hidden", text: SECRET_DOTS }), " ", el("span", { class: "badge badge-blue", text: "secret" }))
      : el("td", {}, el("code", { class: "env-value", text: variable.value }));
    return el(
      "tr",
      { "data-key": variable.key },
      el("th", { scope: "row" }, el("code", { text: variable.key })),
      value,
      el("td", { class: "row-actions" }, edit, remove),
    );
  });
  $("env-rows").replaceChildren(...rows);
  $("env-empty").hidden = variables.length > 0;
}

async function saveVariable(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const key = form.elements.key.value.trim();
  const secret = form.elements.secret.checked;
  if (!key || key.includes("/")) {
    // Such a name cannot even form the request's address; say so as the host would.
    showError(form, { message: key ? `invalid environment variable name '${key}'` : "give the variable a name", field: "key" });
    return;
  }
  await withButton(form.querySelector('button[type="submit"]'), async () => {
    try {
      const saved = await request("PUT", api(`/env/${encodeURIComponent(key)}`), { value: form.elements.value.value, secret });
      toast(`${saved.key} saved${saved.secret ? " as a secret" : ""}`);
      form.reset();
      await loadEnv();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) goToLogin();
      else showError(form, error);
    }
  });
}

async function deleteVariable(key, button) {
  if (!(await confirmAction(`Delete the environment variable ${key}?`, "Delete"))) return;
  button.disabled = true;
  try {
    const answer = await request("DELETE", api(`/env/${encodeURIComponent(key)}`));
    toast(answer.message);
    await loadEnv();
  } catch (error) {
    failed(error);
    button.disabled = isActive(page.strategy);
  }
}

// ----- versions and diffs --------------------------------------------------------------

async function loadVersions() {
  page.versions = await request("GET", api("/versions"));
  renderVersions();
}

function renderVersions() {
  const locked = isActive(page.strategy);
  const newestFirst = [...page.versions].reverse();
  const rows = newestFirst.map((version) => {
    const compare = el("button", {
      type: "button",
      class: "btn btn-small",
      text: "Diff",
      "aria-label": version.current ? `Changes in version ${version.number}` : `Compare version ${version.number} with the current one`,
    });
    compare.addEventListener("click", () => {
      if (version.current) showDiff(null, version.number);
      else showDiff(version.number, currentVersion());
    });
    const cells = [compare];
    if (!version.current) {
      const rollback = el("button", {
        type: "button",
        class: "btn btn-small btn-danger",
        text: "Roll back",
        "aria-label": `Roll back to version ${version.number}`,
        "data-locks": "",
        disabled: locked,
      });
      rollback.addEventListener("click", () => rollBack(version.number, rollback));
      cells.push(rollback);
    }
    return el(
      "tr",
      { "data-version": String(version.number), class: version.current ? "current-version" : null },
      el(
        "th",
        { scope: "row", class: "nowrap" },
        `v${version.number}`,
        version.current ? el("span", { class: "badge badge-green version-badge", text: "current" }) : null,
      ),
      el("td", { class: "nowrap", text: formatIst(version.created_at) }),
      el("td", { text: version.note || "" }),
      el("td", { class: "num nowrap", text: sizeOf(version.size_bytes) }),
      el("td", { class: "row-actions" }, ...cells),
    );
  });
  $("version-rows").replaceChildren(...rows);
  const options = (selected) =>
    newestFirst.map((version) =>
      el("option", { value: String(version.number), text: `v${version.number}${version.current ? " (current)" : ""}`, selected: version.number === selected }),
    );
  const current = currentVersion();
  $("diff-from").replaceChildren(...options(current > 1 ? current - 1 : current));
  $("diff-to").replaceChildren(...options(current));
}

function sizeOf(bytes) {
  return bytes < 10 * 1024 ? `${bytes.toLocaleString("en-IN")} B` : formatBytes(bytes);
}

function currentVersion() {
  const current = page.versions.find((version) => version.current);
  return current ? current.number : null;
}

// The diff from version `from` (null: the one before `to`) to version `to`.
async function showDiff(from, to) {
  const form = $("diff-form");
  clearErrors(form);
  const query = new URLSearchParams({ to: String(to) });
  if (from !== null) query.set("from", String(from));
  let answer;
  try {
    answer = await request("GET", api(`/diff?${query}`));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) goToLogin();
    else showError(form, error);
    return;
  }
  if (answer.from !== null) form.elements.from.value = String(answer.from);
  form.elements.to.value = String(answer.to);
  const name = (number) => `version ${number}${number === currentVersion() ? " (current)" : ""}`;
  let added = 0;
  let removed = 0;
  const nodes = answer.lines.map((line) => {
    let kind = "diff-same";
    if (line.startsWith("+++") || line.startsWith("---")) kind = "diff-file";
    else if (line.startsWith("@@")) kind = "diff-hunk";
    else if (line.startsWith("+")) {
      kind = "diff-add";
      added += 1;
    } else if (line.startsWith("-")) {
      kind = "diff-del";
      removed += 1;
    }
    return el("span", { class: `diff-line ${kind}`, text: line || " " });
  });
  const from_ = answer.from === null ? "an empty file" : name(answer.from);
  $("diff-title").textContent = answer.lines.length
    ? `From ${from_} to ${name(answer.to)}: ${added} line${added === 1 ? "" : "s"} added, ${removed} removed${answer.truncated ? " (diff cut short)" : ""}.`
    : `${from_.charAt(0).toUpperCase()}${from_.slice(1)} and ${name(answer.to)} are the same.`;
  $("diff").replaceChildren(...nodes);
  $("diff").hidden = !nodes.length;
}

async function rollBack(number, button) {
  const current = currentVersion();
  const ok = await confirmAction(
    `Roll back to version ${number}? Its script becomes a new current version (v${current + 1}); no version is deleted.`,
    "Roll back",
  );
  if (!ok) return;
  button.disabled = true;
  try {
    const made = await request("POST", api("/rollback"), { version: number });
    toast(`Rolled back to version ${number}: now version ${made.number}`);
    await loadVersions();
    await showDiff(null, made.number);
    renderSummary(await request("GET", api())); // a new object: uptime counts from now
  } catch (error) {
    failed(error);
    button.disabled = isActive(page.strategy);
  }
}

// ----- runs ----------------------------------------------------------------------------

const END_WORDS = {
  stopped: "Stopped",
  exited: "Exited cleanly",
  final_exit: "Final exit",
  fatal: "Fatal error",
  crashed: "Crashed",
  vanished: "Vanished (killed or lost)",
  host_rebooted: "Host rebooted",
  memory_limit: "Memory limit",
  lost: "Lost (never seen running)",
};

function endOf(runView) {
  if (runView.status !== "ended") return el("span", { class: "badge badge-green", text: runView.status === "running" ? "Running" : runView.status });
  const words = [END_WORDS[runView.end_reason] || runView.end_reason || "Ended"];
  if (runView.exit_code !== null) words.push(`exit code ${runView.exit_code}`);
  if (runView.exit_signal !== null) words.push(`signal ${runView.exit_signal}`);
  return words.join(" · ");
}

const runningDurations = []; // [cell, uptime secs, when received] of runs still going

function durationCell(runView) {
  const cell = el("td", { class: "num", text: formatDuration(runView.uptime_secs) });
  if (!runView.ended_at && runView.uptime_secs !== null) runningDurations.push([cell, runView.uptime_secs, Date.now()]);
  return cell;
}

function tickDurations() {
  for (const [cell, secs, at] of runningDurations) cell.textContent = formatDuration(secs + (Date.now() - at) / 1000);
}

async function loadRuns() {
  const runs = await newest("runs", api("/runs?limit=50"));
  if (!runs) return;
  runningDurations.length = 0;
  $("run-rows").replaceChildren(
    ...runs.map((runView) =>
      el(
        "tr",
        { "data-run": runView.id },
        el("td", { class: "nowrap", text: formatIst(runView.started_at) }),
        el("td", { class: "nowrap", text: runView.ended_at ? formatIst(runView.ended_at) : "—" }),
        durationCell(runView),
        el("td", { class: "num", text: runView.version ? `v${runView.version}` : "—" }),
        el("td", {}, endOf(runView)),
        el("td", { class: "run-message", text: runView.message || "" }),
      ),
    ),
  );
  $("runs-empty").hidden = runs.length > 0;
}

// ----- resource chart ------------------------------------------------------------------

async function loadChart() {
  page.chartLoadedAt = Date.now();
  const hours = Number($("chart-hours").value);
  const samples = await newest("chart", api(`/resources?hours=${hours}`));
  if (!samples) return;
  $("chart-summary").textContent = drawChart($("chart"), samples, hours);
}

// ----- the page ------------------------------------------------------------------------

// Not in a list of strategies: deleted, or the list is older than this page (a new stream
// is first sent the host's latest lists). Ask before saying it is gone.
async function confirmGone() {
  if (page.gone) return;
  try {
    strategyChanged(await request("GET", api()));
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) {
      failed(error);
      return;
    }
    page.gone = true;
    $("missing").textContent = "This strategy was deleted. ";
    $("missing").append(el("a", { href: "/", text: "Back to the dashboard" }));
    $("missing").hidden = false;
    $("strategy").hidden = true;
    page.log.closeStream("");
  }
}

async function main() {
  if (!(await startPage("strategy"))) return;
  let strategy;
  try {
    strategy = await request("GET", api());
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      $("missing").textContent = `${error.message} `;
      $("missing").append(el("a", { href: "/", text: "Back to the dashboard" }));
      $("missing").hidden = false;
      return;
    }
    throw error;
  }
  page.log = new LogView(strategy.id);
  $("edit-link").href = `/strategies/${strategy.id}/edit`;
  $("strategy").hidden = false;
  for (const button of document.querySelectorAll(".summary [data-action]")) {
    button.addEventListener("click", () => act(button.dataset.action, button));
  }
  $("schedule-form").addEventListener("submit", saveSchedule);
  $("schedule-clear").addEventListener("click", (event) => clearSchedule(event.currentTarget));
  $("env-form").addEventListener("submit", saveVariable);
  $("diff-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showDiff(Number(event.currentTarget.elements.from.value), Number(event.currentTarget.elements.to.value));
  });
  $("chart-hours").addEventListener("change", () => loadChart().catch(failed));

  strategyChanged(strategy);
  fillScheduleForm(strategy.schedule);
  await Promise.all([loadEnv(), loadVersions(), loadChart()]);
  if (page.versions.length) await showDiff(null, currentVersion());

  setInterval(() => {
    tickUptime();
    tickDurations();
  }, 1000);
  // While it runs: every 30 s, or every few seconds until its first sample shows (events
  // alone may not come: a quiet strategy's numbers do not change).
  setInterval(() => {
    if (!page.strategy || !page.strategy.current_run) return;
    if ($("chart").hidden || Date.now() - page.chartLoadedAt >= 30000) loadChart().catch(failed);
  }, CHART_REFRESH_MS);
  followEvents({
    strategies: (strategies) => {
      const updated = strategies.find((item) => item.id === page.strategy.id);
      if (updated) strategyChanged(updated);
      else confirmGone();
    },
  });
}

run(main);
