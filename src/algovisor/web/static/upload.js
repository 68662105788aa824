// New strategy (/strategies/new): a .py file, its name, broker and (optionally) schedule,
// sent in one request (POST /api/strategies) that the host checks whole before it stores
// anything; each refusal is shown beside the field it names.

import { request } from "/static/api.js";
import {
  ApiError,
  clearErrors,
  el,
  formatBytes,
  run,
  showError,
  startPage,
  toast,
} from "/static/common.js";

const form = document.getElementById("upload-form");
const fileInput = document.getElementById("file");
const nameInput = document.getElementById("name");
const brokerSelect = document.getElementById("broker");
const exchangeSelect = document.getElementById("exchange");
const scheduleBox = document.getElementById("schedule");
const submit = document.getElementById("submit");
const added = {
  box: document.getElementById("added"),
  title: document.getElementById("added-title"),
  text: document.getElementById("added-text"),
  start: document.getElementById("added-start"),
  page: document.getElementById("added-page"),
  edit: document.getElementById("added-edit"),
  another: document.getElementById("add-another"),
};
let newest = null; // the StrategyView just added

function fillSelect(select, values, chosen) {
  // `selected` as an attribute: the form's reset (after an upload) returns to it.
  select.replaceChildren(...values.map((value) => el("option", { value, text: value, selected: value === chosen })));
  select.value = chosen;
}

function scheduled() {
  return form.querySelector('input[name="when"]:checked').value === "scheduled";
}

function showSchedule() {
  const on = scheduled();
  scheduleBox.hidden = !on;
  scheduleBox.disabled = !on; // a disabled fieldset sends nothing
}

// The name the host will give it when the name field is left empty.
function defaultName() {
  const file = fileInput.files[0];
  if (!file) return "";
  const base = file.name.replace(/\\/g, "/").split("/").pop();
  return base.endsWith(".py") ? base.slice(0, -3) : base;
}

function requestBody() {
  const body = new FormData();
  body.append("file", fileInput.files[0]);
  const name = nameInput.value.trim();
  if (name) body.append("name", name);
  body.append("broker", brokerSelect.value);
  if (scheduled()) {
    body.append("exchange", exchangeSelect.value);
    body.append("start", form.elements.start.value.trim());
    body.append("stop", form.elements.stop.value.trim());
    const days = [...form.querySelectorAll('input[name="days"]:checked')].map((box) => box.value);
    body.append("days", days.join(","));
  }
  return body;
}

// What the host cannot be asked: no file chosen, or no day ticked (an empty `days` field is
// no field at all to the host, which would then default to Monday to Friday).
function missingInput() {
  if (!fileInput.files.length) return new ApiError(400, "Choose a .py file to upload.", "file");
  if (scheduled() && !form.querySelector('input[name="days"]:checked')) {
    return new ApiError(400, "Tick at least one day for the schedule.", "days");
  }
  return null;
}

async function upload(event) {
  event.preventDefault();
  clearErrors(form);
  const missing = missingInput();
  if (missing) {
    showError(form, missing);
    return;
  }
  submit.disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    const strategy = await request("POST", "/api/strategies", requestBody());
    showAdded(strategy);
  } catch (error) {
    // A body over the limit may be refused (413) before the host reads which field it was.
    if (error instanceof ApiError && error.status === 413 && !error.field) error.field = "file";
    showError(form, error);
  } finally {
    submit.disabled = false;
    form.removeAttribute("aria-busy");
  }
}

function showAdded(strategy) {
  newest = strategy;
  const plan = strategy.schedule ? `runs ${strategy.schedule.description}` : "runs when started";
  added.title.textContent = `Added ${strategy.name}`;
  added.text.textContent =
    `Version ${strategy.current_version} on the ${strategy.broker} broker; it ${plan}. ` +
    "It is stopped until you start it.";
  added.page.href = `/strategies/${strategy.id}`;
  added.edit.href = `/strategies/${strategy.id}/edit`;
  added.start.disabled = false;
  form.reset();
  showSchedule();
  form.hidden = true;
  added.box.hidden = false;
  added.title.focus();
  toast(`${strategy.name}: added`);
}

async function startNewest() {
  added.start.disabled = true;
  try {
    const answer = await request("POST", `/api/strategies/${newest.id}/start`);
    toast(`${answer.strategy.name}: ${answer.message}`);
    added.text.textContent =
      `${answer.strategy.name}: ${answer.message}. Follow it on its page or the dashboard.`;
  } catch (error) {
    toast(error.message, "error");
    added.start.disabled = false;
  }
}

function addAnother() {
  added.box.hidden = true;
  form.hidden = false;
  clearErrors(form);
  fileInput.focus();
}

async function main() {
  if (!(await startPage("upload"))) return;
  const options = await request("GET", "/api/strategy-options");
  fillSelect(brokerSelect, options.brokers, options.default_broker);
  fillSelect(exchangeSelect, options.exchanges, options.default_exchange);
  document.getElementById("file-hint").textContent =
    `Checked by the host: a UTF-8 text file of at most ${formatBytes(options.max_script_bytes)}.`;
  for (const radio of form.querySelectorAll('input[name="when"]')) {
    radio.addEventListener("change", showSchedule);
  }
  showSchedule();
  fileInput.addEventListener("change", () => {
    nameInput.placeholder = defaultName();
  });
  form.addEventListener("submit", upload);
  added.start.addEventListener("click", startNewest);
  added.another.addEventListener("click", addAnother);
}

run(main);
