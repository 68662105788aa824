// The strategy page's resource chart: CPU % and memory over the last hours as two small
// inline SVG line charts (no chart library), with axis labels and a summary in words.

import { formatBytes } from "/static/common.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 560;
const LEFT = 58; // room for the y-axis labels
const RIGHT = 10;
const PANEL_HEIGHT = 74;
const PANEL_GAP = 26;
const TOP = 18;
const AXIS = 22; // room for the time labels
const MB = 1024 * 1024;

const SHORT_IST = new Intl.DateTimeFormat("en-IN", {
  timeZone: "Asia/Kolkata",
  day: "2-digit",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
  hour12: false,
});

const CLOCK_IST = new Intl.DateTimeFormat("en-IN", {
  timeZone: "Asia/Kolkata",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hour12: false,
});

function shortIst(time) {
  return SHORT_IST.format(new Date(time));
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

// A round upper bound for an axis: 1, 2, 2.5 or 5 times a power of ten.
function niceCeiling(value, floor) {
  const top = Math.max(value, floor);
  const power = 10 ** Math.floor(Math.log10(top));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (top <= step * power) return step * power;
  }
  return 10 * power;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// Points as a path, broken where samples stop (the strategy was not running).
function pathOf(points, gapMs) {
  let path = "";
  let previous = null;
  for (const point of points) {
    const jump = previous === null || point.time - previous.time > gapMs;
    path += `${jump ? "M" : "L"}${point.x.toFixed(1)},${point.y.toFixed(1)} `;
    previous = point;
  }
  return path.trim();
}

function panel(root, { top, label, maxLabel, values, times, scaleY, kind, x, gapMs }) {
  const bottom = top + PANEL_HEIGHT;
  root.append(
    svg("text", { x: LEFT, y: top - 6, class: `chart-label chart-label-${kind}` }, label),
    svg("line", { x1: LEFT, y1: top, x2: WIDTH - RIGHT, y2: top, class: "chart-grid" }),
    svg("line", { x1: LEFT, y1: (top + bottom) / 2, x2: WIDTH - RIGHT, y2: (top + bottom) / 2, class: "chart-grid" }),
    svg("line", { x1: LEFT, y1: bottom, x2: WIDTH - RIGHT, y2: bottom, class: "chart-axis" }),
    svg("text", { x: LEFT - 6, y: top + 4, class: "chart-tick", "text-anchor": "end" }, maxLabel),
    svg("text", { x: LEFT - 6, y: bottom + 4, class: "chart-tick", "text-anchor": "end" }, "0"),
  );
  const points = values.map((value, index) => ({
    time: times[index],
    x: x(times[index]),
    y: bottom - scaleY(value) * PANEL_HEIGHT,
  }));
  const line = svg("path", { d: pathOf(points, gapMs), class: `chart-line chart-line-${kind}` });
  root.append(line);
  // A lone sample (or the latest one) as a dot, so a short history still shows.
  const last = points[points.length - 1];
  root.append(svg("circle", { cx: last.x, cy: last.y, r: 3, class: `chart-dot chart-line-${kind}` }));
}

// Draw `samples` ({at, cpu_percent, rss_bytes}, oldest first) over the last `hours` into
// `container`; returns the summary in words (also the chart's accessible description).
export function drawChart(container, samples, hours, now = Date.now()) {
  if (!samples.length) {
    container.replaceChildren();
    container.hidden = true;
    return `No samples in the last ${hours === 1 ? "hour" : `${hours} hours`}: they are taken while the strategy runs.`;
  }
  container.hidden = false;
  const times = samples.map((sample) => Date.parse(sample.at));
  const cpu = samples.map((sample) => sample.cpu_percent);
  const memory = samples.map((sample) => sample.rss_bytes / MB);
  const steps = times.slice(1).map((time, index) => time - times[index]);
  const stepMs = steps.length ? median(steps) : 60 * 1000;
  const gapMs = Math.max(3 * stepMs, 1500);
  // From the first sample in the window (a short history still fills the chart) to now.
  const end = Math.max(now, times[times.length - 1]);
  const start = Math.min(Math.max(end - hours * 3600 * 1000, times[0] - stepMs), end - 2 * stepMs);
  const x = (time) => LEFT + ((time - start) / (end - start)) * (WIDTH - LEFT - RIGHT);

  const cpuTop = niceCeiling(Math.max(...cpu), 5);
  const memoryTop = niceCeiling(Math.max(...memory), 1);
  const height = TOP + 2 * PANEL_HEIGHT + PANEL_GAP + AXIS;
  const root = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`,
    class: "chart-svg",
    role: "img",
    "aria-labelledby": "chart-svg-title",
    "aria-describedby": "chart-summary",
  });
  root.append(svg("title", { id: "chart-svg-title" }, `CPU and memory over the last ${hours} hours`));
  panel(root, {
    top: TOP,
    label: "CPU %",
    maxLabel: `${cpuTop}%`,
    values: cpu,
    times,
    scaleY: (value) => Math.min(value / cpuTop, 1),
    kind: "cpu",
    x,
    gapMs,
  });
  const memoryPanelTop = TOP + PANEL_HEIGHT + PANEL_GAP;
  panel(root, {
    top: memoryPanelTop,
    label: "Memory MB",
    maxLabel: `${memoryTop} MB`,
    values: memory,
    times,
    scaleY: (value) => Math.min(value / memoryTop, 1),
    kind: "memory",
    x,
    gapMs,
  });
  const axisY = memoryPanelTop + PANEL_HEIGHT + 16;
  // A short span needs seconds to tell its ticks apart; a long one, the day.
  const tick = end - start <= 10 * 60 * 1000 ? (time) => CLOCK_IST.format(new Date(time)) : shortIst;
  root.append(
    svg("text", { x: LEFT, y: axisY, class: "chart-tick" }, `${tick(start)} IST`),
    svg("text", { x: x((start + end) / 2), y: axisY, class: "chart-tick", "text-anchor": "middle" }, tick((start + end) / 2)),
    svg("text", { x: WIDTH - RIGHT, y: axisY, class: "chart-tick", "text-anchor": "end" }, "now"),
  );
  container.replaceChildren(root);

  const average = cpu.reduce((sum, value) => sum + value, 0) / cpu.length;
  const latest = samples[samples.length - 1];
  const peakRss = Math.max(...samples.map((sample) => sample.rss_bytes));
  const count = samples.length === 1 ? "1 sample" : `${samples.length} samples`;
  return (
    `CPU ${latest.cpu_percent.toFixed(1)}% at the latest sample (peak ${Math.max(...cpu).toFixed(1)}%, ` +
    `average ${average.toFixed(1)}%); memory ${formatBytes(latest.rss_bytes)} (peak ${formatBytes(peakRss)}). ` +
    `${count} from ${shortIst(times[0])} to ${shortIst(times[times.length - 1])} IST.`
  );
}
