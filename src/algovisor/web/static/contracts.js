// Master contracts: each broker's contract (status, counts per exchange, step timings,
// rejected rows, source, download progress, failures and the next retry), kept current by
// the host's event stream; "Download now" per broker; and a symbol search.

import { request } from "/static/api.js";
import {
  ApiError,
  clearErrors,
  el,
  followEvents,
  formatBytes,
  formatIst,
  goToLogin,
  run,
  showError,
  startPage,
  toast,
} from "/static/common.js";

const SEARCH_DELAY_MS = 300;
const SEARCH_LIMIT = 50;

// The dashboard's badges, with the same words.
export function contractBadgeOf(contract) {
  if (contract.is_ready) return { tone: "green", label: "Ready ✓" };
  if (contract.status === "error") return { tone: "red", label: "Error ⚠" };
  return { tone: "yellow", label: "Waiting ⏰" };
}

const DAY = new Intl.DateTimeFormat("en-IN", {
  timeZone: "UTC", // a trading day is a calendar date: no time zone moves it
  day: "2-digit",
  month: "short",
  year: "numeric",
  weekday: "short",
});

export function formatDay(isoDate) {
  if (!isoDate) return "—";
  return DAY.format(new Date(`${isoDate}T00:00:00Z`));
}

function formatSecs(secs) {
  if (secs === null || secs === undefined) return "—";
  if (secs < 0.01) return "<0.01 s";
  if (secs < 10) return `${secs.toFixed(2)} s`;
  return `${secs.toFixed(1)} s`;
}

function count(value) {
  return Number(value || 0).toLocaleString("en-IN");
}

function fact(label, value, name, at = null) {
  const dd = el("dd", { "data-field": name, "data-at": at });
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value;
  return el("div", {}, el("dt", { text: label }), dd);
}

function smallTable(caption, headers, rows, name) {
  return el(
    "table",
    { class: "table small-table", "data-table": name },
    el("caption", { text: caption }),
    el(
      "thead",
      {},
      el("tr", {}, ...headers.map(([text, cls]) => el("th", { scope: "col", class: cls || null, text }))),
    ),
    el(
      "tbody",
      {},
      ...rows.map((cells) => el("tr", {}, ...cells.map(([text, cls]) => el("td", { class: cls || null, text })))),
    ),
  );
}

// ----- one broker -----------------------------------------------------------------------

function progressBlock(contract) {
  const progress = contract.progress;
  if (!progress) return null;
  const step = progress.step || "download";
  const bar = el("progress", { "aria-label": `${contract.broker} contract: ${step}` });
  let words = `${step}: ${formatBytes(progress.bytes)}`;
  if (progress.total_bytes) {
    bar.max = progress.total_bytes;
    bar.value = progress.bytes;
    const percent = Math.floor((100 * progress.bytes) / progress.total_bytes);
    words = `${step}: ${percent}% of ${formatBytes(progress.total_bytes)}`;
  }
  const times = [];
  if (progress.started_at) times.push(`started ${formatIst(progress.started_at)}`);
  if (progress.deadline_at) times.push(`gives up at ${formatIst(progress.deadline_at)}`);
  return el(
    "div",
    { class: "contract-progress-block", "data-field": "progress" },
    bar,
    el("span", { text: [words, ...times].join(" · ") }),
  );
}

function rejectionBlock(contract) {
  const rejections = contract.rejections || {};
  const reasons = Object.entries(rejections.reasons || {});
  const skipped = Object.entries(rejections.skipped || {});
  const examples = Array.isArray(rejections.examples) ? rejections.examples : [];
  const parts = [];
  if (rejections.rows_read !== undefined) {
    parts.push(el("p", { text: `${count(rejections.rows_read)} rows read from the source.` }));
  }
  if (reasons.length) {
    parts.push(
      el("h4", { text: "Rejected" }),
      el("ul", {}, ...reasons.map(([reason, n]) => el("li", { text: `${count(n)} × ${reason}` }))),
    );
  }
  if (skipped.length) {
    parts.push(
      el("h4", { text: "Skipped (not errors)" }),
      el("ul", {}, ...skipped.map(([reason, n]) => el("li", { text: `${count(n)} × ${reason}` }))),
    );
  }
  if (examples.length) {
    parts.push(el("h4", { text: "Examples" }), el("ul", { class: "examples" }, ...examples.map((text) => el("li", { text }))));
  }
  if (!parts.length) return null;
  return el(
    "details",
    { class: "rejections", "data-field": "rejections" },
    el("summary", { text: `Rejected rows: ${count(contract.rows_rejected)}` }),
    ...parts,
  );
}

function contractBody(contract) {
  const note = contract.is_ready ? contract.message : contract.waiting_reason || contract.message;
  const retry = contract.retry_at ? `next try ${formatIst(contract.retry_at)}` : "";
  const failures = contract.failures ? `${contract.failures} in a row${retry ? ` · ${retry}` : ""}` : "none";
  const day =
    contract.trading_day && contract.trading_day !== contract.current_trading_day
      ? `${formatDay(contract.trading_day)} (today's: ${formatDay(contract.current_trading_day)})`
      : formatDay(contract.trading_day);
  const parts = [
    note
      ? el("p", { class: `contract-message${contract.status === "error" ? " contract-message-error" : ""}`, "data-field": "message", text: note })
      : null,
    progressBlock(contract),
    el(
      "dl",
      { class: "facts" },
      fact("Trading day", day, "trading-day"),
      fact("Symbols", count(contract.total_symbols), "total"),
      fact("Last update", formatIst(contract.last_updated), "updated", contract.last_updated),
      fact("Loaded", formatIst(contract.loaded_at), "loaded", contract.loaded_at),
      fact("Rows rejected", count(contract.rows_rejected), "rejected"),
      fact("Failures", failures, "failures"),
      el(
        "div",
        { class: "wide" },
        el("dt", { text: "Source" }),
        el("dd", { "data-field": "source", class: "source", text: contract.source || "none remembered yet" }),
      ),
    ),
  ];
  const exchanges = Object.entries(contract.exchange_counts || {});
  const steps = Object.entries(contract.step_secs || {});
  const tables = [];
  if (exchanges.length) {
    tables.push(
      smallTable(
        "Symbols per exchange",
        [["Exchange"], ["Symbols", "num"]],
        exchanges.map(([exchange, n]) => [[exchange], [count(n), "num"]]),
        "exchanges",
      ),
    );
  }
  if (steps.length) {
    const total = steps.reduce((sum, [, secs]) => sum + secs, 0);
    tables.push(
      smallTable(
        "Time per step",
        [["Step"], ["Time", "num"]],
        [...steps.map(([step, secs]) => [[step], [formatSecs(secs), "num"]]), [["total"], [formatSecs(total), "num"]]],
        "steps",
      ),
    );
  }
  if (tables.length) parts.push(el("div", { class: "contract-tables" }, ...tables));
  parts.push(rejectionBlock(contract));
  return parts.filter(Boolean);
}

const brokerList = document.getElementById("brokers");
const cards = new Map(); // broker -> {root, badge, body, button, result}

function buildCard(broker) {
  const titleId = `contract-${broker}-title`;
  const badge = el("span", { class: "badge" });
  const button = el("button", { type: "button", class: "btn", "data-action": "download", text: "Download now" });
  const result = el("p", { class: "download-result", role: "status", "aria-live": "polite", hidden: true });
  const body = el("div", { class: "contract-body" });
  const root = el(
    "li",
    { class: "contract-card", "data-broker": broker, "aria-labelledby": titleId },
    el(
      "div",
      { class: "contract-card-head" },
      el("h3", { id: titleId, class: "contract-title", text: broker }),
      badge,
      button,
    ),
    result,
    body,
  );
  const card = { root, badge, body, button, result, contract: null };
  button.addEventListener("click", () => downloadNow(card));
  return card;
}

function fillCard(card, contract) {
  card.contract = contract;
  const badge = contractBadgeOf(contract);
  card.badge.textContent = badge.label;
  card.badge.className = `badge badge-${badge.tone}`;
  card.root.dataset.status = contract.is_ready ? "ready" : contract.status;
  // The body is drawn afresh; an opened list of rejections stays open, and keeps the focus.
  const before = card.body.querySelector("details.rejections");
  const wasOpen = Boolean(before && before.open);
  const hadFocus = Boolean(before && before.contains(document.activeElement));
  card.body.replaceChildren(...contractBody(contract));
  const after = card.body.querySelector("details.rejections");
  if (after && wasOpen) after.open = true;
  if (after && hadFocus) after.querySelector("summary").focus();
  if (!card.button.dataset.busy) card.button.disabled = contract.status === "downloading";
  card.button.title = contract.status === "downloading" ? "a download is under way" : "";
}

let latestContracts = [];

function renderContracts(contracts) {
  latestContracts = contracts;
  const seen = new Set();
  contracts.forEach((contract, index) => {
    seen.add(contract.broker);
    let card = cards.get(contract.broker);
    if (!card) {
      card = buildCard(contract.broker);
      cards.set(contract.broker, card);
    }
    fillCard(card, contract);
    if (brokerList.children[index] !== card.root) {
      brokerList.insertBefore(card.root, brokerList.children[index] || null);
    }
  });
  for (const [broker, card] of cards) {
    if (!seen.has(broker)) {
      card.root.remove();
      cards.delete(broker);
    }
  }
  brokerList.setAttribute("aria-busy", "false");
  fillSearchChoices(contracts);
}

function showResult(card, text, kind) {
  card.result.textContent = text;
  card.result.className = `download-result download-result-${kind}`;
  card.result.hidden = false;
}

async function downloadNow(card) {
  const broker = card.root.dataset.broker;
  card.button.dataset.busy = "1";
  card.button.disabled = true;
  try {
    const status = await request("POST", `/api/master-contracts/${encodeURIComponent(broker)}/refresh`);
    // The host downloads in the background; the event stream brings its progress and end.
    const text = `Download of the ${broker} contract requested at ${formatIst(new Date().toISOString())}; this card follows it.`;
    showResult(card, text, "ok");
    toast(text);
    fillCard(card, status);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) goToLogin();
    showResult(card, error.message, "error");
    toast(`${broker}: ${error.message}`, "error");
  } finally {
    delete card.button.dataset.busy;
    if (card.contract) fillCard(card, card.contract);
  }
}

// ----- search --------------------------------------------------------------------------

const form = document.getElementById("search");
const brokerSelect = document.getElementById("search-broker");
const exchangeSelect = document.getElementById("search-exchange");
const queryInput = document.getElementById("search-q");
const searchStatus = document.getElementById("search-status");
const results = document.getElementById("results");
let searchTimer = null;
let searchTicket = 0;

function setOptions(select, values, firstOption) {
  const current = select.value;
  const wanted = [...(firstOption ? [firstOption] : []), ...values.map((value) => [value, value])];
  const have = [...select.options].map((option) => [option.value, option.textContent]);
  if (JSON.stringify(have) === JSON.stringify(wanted)) return;
  select.replaceChildren(...wanted.map(([value, text]) => el("option", { value, text })));
  if (wanted.some(([value]) => value === current)) select.value = current;
}

function fillSearchChoices(contracts) {
  const preferred = brokerSelect.value || (contracts.find((contract) => contract.is_ready) || {}).broker;
  setOptions(brokerSelect, contracts.map((contract) => contract.broker));
  if (preferred && contracts.some((contract) => contract.broker === preferred)) brokerSelect.value = preferred;
  fillExchanges();
}

function fillExchanges() {
  const contract = latestContracts.find((item) => item.broker === brokerSelect.value);
  setOptions(exchangeSelect, Object.keys((contract && contract.exchange_counts) || {}), ["", "Any exchange"]);
}

function resultRow(instrument) {
  const symbol = el("td", { class: "symbol-cell" }, el("strong", { text: instrument.symbol }));
  if (instrument.broker_symbol && instrument.broker_symbol !== instrument.symbol) {
    symbol.append(el("span", { class: "cell-note", text: `broker: ${instrument.broker_symbol}` }));
  }
  return el(
    "tr",
    { "data-symbol": instrument.symbol, "data-exchange": instrument.exchange },
    symbol,
    el("td", { text: instrument.name || "—" }),
    el("td", { text: instrument.exchange }),
    el("td", { text: instrument.token }),
    el("td", { class: "nowrap", text: instrument.expiry ? formatDay(instrument.expiry) : "—" }),
    el("td", { class: "num", text: instrument.strike ? instrument.strike.toLocaleString("en-IN") : "—" }),
    el("td", { class: "num", text: String(instrument.lot_size) }),
    el("td", { class: "num", text: String(instrument.tick_size) }),
    el("td", { text: instrument.instrument_type }),
  );
}

async function search() {
  clearTimeout(searchTimer);
  const ticket = ++searchTicket;
  const query = queryInput.value.trim();
  const broker = brokerSelect.value;
  if (!query || !broker) {
    clearErrors(form);
    results.hidden = true;
    results.tBodies[0].replaceChildren();
    searchStatus.textContent = `Type the start of a symbol; the first ${SEARCH_LIMIT} matches are shown.`;
    return;
  }
  const params = new URLSearchParams({ q: query, limit: String(SEARCH_LIMIT) });
  if (exchangeSelect.value) params.set("exchange", exchangeSelect.value);
  searchStatus.textContent = "Searching…";
  try {
    const found = await request("GET", `/api/master-contracts/${encodeURIComponent(broker)}/search?${params}`);
    if (ticket !== searchTicket) return; // a newer search is under way
    clearErrors(form);
    results.tBodies[0].replaceChildren(...found.map(resultRow));
    results.hidden = found.length === 0;
    const where = exchangeSelect.value ? ` on ${exchangeSelect.value}` : "";
    if (!found.length) searchStatus.textContent = `No ${broker} symbol${where} starts with “${query}”.`;
    else if (found.length >= SEARCH_LIMIT) searchStatus.textContent = `The first ${found.length} ${broker} symbols${where} starting with “${query}”; type more to narrow it.`;
    else searchStatus.textContent = `${found.length} ${broker} symbol${found.length === 1 ? "" : "s"}${where} starting with “${query}”.`;
  } catch (error) {
    if (ticket !== searchTicket) return;
    if (error instanceof ApiError && error.status === 401) goToLogin();
    results.hidden = true;
    results.tBodies[0].replaceChildren();
    searchStatus.textContent = "";
    showError(form, error.field ? error : Object.assign(error, { field: "q" }));
    queryInput.focus();
  }
}

function searchSoon() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(search, SEARCH_DELAY_MS);
}

function setUpSearch() {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  queryInput.addEventListener("input", searchSoon);
  brokerSelect.addEventListener("change", () => {
    fillExchanges();
    search();
  });
  exchangeSelect.addEventListener("change", () => search());
}

// ----- the page ------------------------------------------------------------------------

async function main() {
  if (!(await startPage("contracts"))) return;
  setUpSearch();
  renderContracts(await request("GET", "/api/master-contracts"));
  followEvents({ contracts: renderContracts });
}

run(main);
