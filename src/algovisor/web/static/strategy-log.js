// The strategy page's live log: the last lines of a run, then new ones as they are written
// (Server-Sent Events, one line per event), in a bounded buffer; pause, and search the
// whole log on the host (which reads it backwards in blocks, never all at once).

import { request } from "/static/api.js";
import { clearErrors, el, formatBytes, showError } from "/static/common.js";

export const MAX_LINES = 2000; // kept on the page; older lines scroll away
const INITIAL_LINES = 500;
const SEARCH_LINES = 500;
const CLOSE_AFTER_END_MS = 3000; // keep reading a little after a run ends, for its last lines

export class LogView {
  constructor(strategyId) {
    this.strategyId = strategyId;
    this.box = document.getElementById("log");
    this.status = document.getElementById("log-status");
    this.note = document.getElementById("log-note");
    this.pauseButton = document.getElementById("log-pause");
    this.searchForm = document.getElementById("log-search");
    this.queryInput = document.getElementById("log-query");
    this.clearButton = document.getElementById("log-clear");
    this.runId = null;
    this.source = null;
    this.closeTimer = null;
    this.lines = []; // the live buffer, oldest first
    this.pending = []; // received while paused
    this.droppedWhilePaused = 0;
    this.paused = false;
    this.query = null; // a search on the host: its matches are shown instead of the buffer
    this.results = [];
    this.queued = []; // lines waiting for the next frame
    this.frame = null;
    this.pauseButton.addEventListener("click", () => this.setPaused(!this.paused));
    this.searchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.search(this.queryInput.value);
    });
    this.clearButton.addEventListener("click", () => {
      this.queryInput.value = "";
      this.search("");
    });
    this.showEmpty("No log yet: it appears when the strategy first runs.");
  }

  // Follow run `runId` (null: none yet); `live` says whether it is still running.
  async follow(runId, live) {
    if (runId === this.runId) {
      if (!live && this.source && !this.closeTimer) {
        this.closeTimer = setTimeout(() => this.closeStream("Run ended"), CLOSE_AFTER_END_MS);
      }
      if (live && this.closeTimer) {
        clearTimeout(this.closeTimer);
        this.closeTimer = null;
      }
      return;
    }
    this.closeStream("");
    this.runId = runId;
    if (!runId) return;
    const separator = this.lines.length ? [`──── run ${runId.slice(0, 8)} ────`] : [];
    if (separator.length) this.receive(separator);
    if (live) {
      // The stream sends the last lines first, then each new one: no gap, no line twice.
      this.openStream(runId);
      return;
    }
    try {
      const tail = await request("GET", this.path(`logs?lines=${INITIAL_LINES}&run=${encodeURIComponent(runId)}`));
      if (runId === this.runId) this.receive(tail.lines);
      this.setStatus("Run ended", "off");
    } catch (error) {
      this.setStatus(`Log unavailable: ${error.message}`, "off");
    }
  }

  path(rest) {
    return `/api/strategies/${this.strategyId}/${rest}`;
  }

  openStream(runId) {
    const source = new EventSource(this.path(`logs/stream?run=${encodeURIComponent(runId)}&lines=${INITIAL_LINES}`));
    this.source = source;
    let reconnecting = false;
    source.addEventListener("open", () => {
      if (this.source !== source) return;
      this.setStatus("Following", "on");
      // A reconnected stream sends its last lines again: start the buffer afresh.
      if (reconnecting) {
        this.lines = [];
        this.pending = [];
        if (!this.query) this.render();
      }
      reconnecting = false;
    });
    source.addEventListener("message", (event) => {
      if (this.source === source) this.receive([event.data]);
    });
    source.addEventListener("error", () => {
      if (this.source !== source) return;
      reconnecting = true; // the browser reconnects by itself
      this.setStatus("Reconnecting…", "off");
    });
  }

  closeStream(status) {
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    if (this.source) this.source.close();
    this.source = null;
    if (status) this.setStatus(status, "off");
  }

  setStatus(text, tone) {
    this.status.textContent = text;
    this.status.className = `log-status log-status-${tone}`;
  }

  // New lines: kept in the buffer (bounded), shown unless paused.
  receive(lines) {
    if (this.paused) {
      this.pending.push(...lines);
      if (this.pending.length > MAX_LINES) {
        this.droppedWhilePaused += this.pending.length - MAX_LINES;
        this.pending.splice(0, this.pending.length - MAX_LINES);
      }
      this.updatePauseButton();
      return;
    }
    this.lines.push(...lines);
    if (this.lines.length > MAX_LINES) this.lines.splice(0, this.lines.length - MAX_LINES);
    const shown = this.query ? lines.filter((line) => matches(line, this.query)) : lines;
    if (this.query) {
      this.results.push(...shown);
      if (this.results.length > MAX_LINES) this.results.splice(0, this.results.length - MAX_LINES);
    }
    this.queued.push(...shown);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  // Append queued lines in one go (a chatty strategy writes hundreds a second).
  flush() {
    this.frame = null;
    const atBottom = this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 24;
    if (this.box.dataset.empty) this.box.replaceChildren();
    delete this.box.dataset.empty;
    const queued = this.queued.splice(0).slice(-MAX_LINES);
    this.box.append(...queued.map((line) => this.lineNode(line)));
    const extra = this.box.childElementCount - MAX_LINES;
    for (let index = 0; index < extra; index += 1) this.box.firstElementChild.remove();
    if (atBottom) this.box.scrollTop = this.box.scrollHeight;
    if (!this.box.childElementCount) this.showEmpty(this.query ? "No matching lines." : "No lines yet.");
  }

  render() {
    const lines = this.query ? this.results : this.lines;
    this.queued = [];
    this.box.replaceChildren();
    delete this.box.dataset.empty;
    if (!lines.length) {
      this.showEmpty(this.query ? "No lines contain that text." : "No lines yet.");
      return;
    }
    this.box.append(...lines.map((line) => this.lineNode(line)));
    this.box.scrollTop = this.box.scrollHeight;
  }

  showEmpty(text) {
    this.box.replaceChildren(el("p", { class: "log-empty", text }));
    this.box.dataset.empty = "1";
  }

  lineNode(line) {
    const node = el("div", { class: line.startsWith("────") ? "log-line log-separator" : "log-line" });
    if (!this.query) {
      node.textContent = line;
      return node;
    }
    // Highlight every occurrence, ASCII case ignored as the host's search does.
    const folded = asciiLower(line);
    const wanted = asciiLower(this.query);
    let from = 0;
    for (let at = folded.indexOf(wanted); at !== -1; at = folded.indexOf(wanted, from)) {
      node.append(line.slice(from, at), el("mark", { text: line.slice(at, at + wanted.length) }));
      from = at + wanted.length;
    }
    node.append(line.slice(from));
    return node;
  }

  setPaused(paused) {
    this.paused = paused;
    if (!paused) {
      const pending = this.pending.splice(0);
      const dropped = this.droppedWhilePaused;
      this.droppedWhilePaused = 0;
      if (dropped) pending.unshift(`──── ${dropped} older lines not kept while paused ────`);
      this.receive(pending);
    }
    this.updatePauseButton();
    this.note.textContent = paused ? "Paused: new lines are kept and shown when you resume." : "";
  }

  updatePauseButton() {
    this.pauseButton.setAttribute("aria-pressed", String(this.paused));
    const waiting = this.pending.length + this.droppedWhilePaused;
    this.pauseButton.textContent = this.paused ? `Resume${waiting ? ` (${waiting} new)` : ""}` : "Pause";
  }

  // Search the whole log of the run on the host; an empty query goes back to the live tail.
  async search(text) {
    clearErrors(this.searchForm);
    const query = text.trim() ? text : "";
    if (!query) {
      this.query = null;
      this.results = [];
      this.clearButton.hidden = true;
      this.note.textContent = this.paused ? "Paused: new lines are kept and shown when you resume." : "";
      this.render();
      return;
    }
    if (!this.runId) {
      showError(this.searchForm, { message: "There is no log to search yet.", field: "q" });
      return;
    }
    const button = this.searchForm.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const answer = await request(
        "GET",
        this.path(`logs?q=${encodeURIComponent(query)}&lines=${SEARCH_LINES}&run=${encodeURIComponent(this.runId)}`),
      );
      this.query = query;
      this.results = answer.lines;
      this.clearButton.hidden = false;
      const count = answer.lines.length;
      const found = count === 1 ? "1 line contains" : `${count === SEARCH_LINES ? `The last ${count}` : count} lines contain`;
      let note = `${found} “${query}” (searched ${formatBytes(answer.scanned_bytes)} of this run's log, newest first).`;
      if (answer.limit_reached) note += " The search stopped there: older lines were not searched.";
      this.note.textContent = `${note} New matching lines appear as they are written.`;
      this.render();
    } catch (error) {
      showError(this.searchForm, error);
    } finally {
      button.disabled = false;
    }
  }
}

function matches(line, query) {
  return asciiLower(line).includes(asciiLower(query));
}

// As the host's search folds case: ASCII letters only, so the length never changes (a
// Unicode toLowerCase may, and would shift the highlights).
function asciiLower(text) {
  return text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}
