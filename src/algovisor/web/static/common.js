// What every page shares: formatting (times in IST with the date), building elements,
// toasts, inline form errors, and the page shell (the top bar with navigation and session).

import { ApiError, loadSession, logout } from "/static/api.js";

export { ApiError };

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

export function formatDuration(secs) {
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

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

export function formatPercent(value) {
  return value === null || value === undefined ? "—" : `${value.toFixed(1)}%`;
}

export function formatPrice(value) {
  if (value === null || value === undefined) return "—";
  return value.toLocaleString("en-IN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

// An element with attributes ("class", "text" and any other attribute) and children.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

// ----- toasts ---------------------------------------------------------------------------

export function toast(message, kind = "ok") {
  let box = document.getElementById("toasts");
  if (!box) {
    box = el("div", { id: "toasts", class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const item = el("div", { class: `toast toast-${kind}`, text: message });
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 9000 : 5000);
}

// ----- forms ----------------------------------------------------------------------------

// Forget the errors a form showed: beside its fields and in its own error line.
export function clearErrors(form) {
  for (const node of form.querySelectorAll("[data-error-for]")) {
    node.textContent = "";
    node.hidden = true;
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const general = form.querySelector(".form-error");
  if (general) {
    general.textContent = "";
    general.hidden = true;
  }
}

// Show the API's message beside the field it names (`field` of the error body), or in the
// form's own error line when it names none; the wrong field gets the focus.
export function showError(form, error) {
  clearErrors(form);
  const message = error.message || String(error);
  const slot = error.field ? form.querySelector(`[data-error-for="${CSS.escape(error.field)}"]`) : null;
  if (slot) {
    slot.textContent = message;
    slot.hidden = false;
    const input = form.querySelector(`[name="${CSS.escape(error.field)}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    return;
  }
  const general = form.querySelector(".form-error");
  if (general) {
    general.textContent = message;
    general.hidden = false;
  } else {
    toast(message, "error");
  }
}

// ----- the page shell -------------------------------------------------------------------

export function goToLogin() {
  window.location.replace("/login");
}

const NAV = [
  ["dashboard", "/", "Dashboard"],
  ["upload", "/strategies/new", "New strategy"],
  ["positions", "/positions", "Positions"],
  ["contracts", "/contracts", "Master contracts"],
];

// The top bar (brand, navigation, live indicator, user, log out) for page `current`, once
// a session exists; sends the browser to the login page when none does. Returns the session.
export async function startPage(current) {
  const session = await loadSession();
  if (!session) {
    goToLogin();
    return null;
  }
  const header = document.getElementById("topbar");
  const nav = el("nav", { class: "nav", "aria-label": "Main" });
  for (const [key, href, label] of NAV) {
    nav.append(el("a", { href, text: label, "aria-current": key === current ? "page" : null }));
  }
  const logoutButton = el("button", { type: "button", id: "logout", class: "btn btn-quiet", text: "Log out" });
  logoutButton.addEventListener("click", async () => {
    try {
      await logout();
    } catch (error) {
      toast(error.message, "error");
      return;
    }
    goToLogin();
  });
  header.replaceChildren(
    el("a", { class: "brand", href: "/", text: "algovisor" }),
    nav,
    el(
      "div",
      { class: "topbar-right" },
      // Shown by pages that follow live updates (followEvents).
      el("span", { id: "live", class: "live", role: "status", "aria-live": "polite", hidden: true }),
      el("span", { id: "user", class: "user", text: session.username }),
      logoutButton,
    ),
  );
  return session;
}

// Follow the host's Server-Sent Events (`/api/events`): `handlers` maps event names
// ("strategies", "contracts") to functions of the parsed data. The top bar shows the link.
export function followEvents(handlers) {
  const live = document.getElementById("live");
  const setLive = (text, on) => {
    if (!live) return;
    live.hidden = false;
    live.textContent = text;
    live.className = `live ${on ? "live-on" : "live-off"}`;
  };
  const connect = () => {
    const source = new EventSource("/api/events");
    source.addEventListener("open", () => setLive("Live", true));
    for (const [name, handler] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => handler(JSON.parse(event.data)));
    }
    source.addEventListener("error", async () => {
      setLive("Reconnecting…", false);
      if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      // Refused (e.g. the session ended): the login page if so, else try again shortly.
      const session = await loadSession().catch(() => undefined);
      if (session === null) goToLogin();
      else setTimeout(connect, 2000);
    });
  };
  connect();
}

// Run a page's `main`, showing what went wrong if it throws.
export function run(main) {
  main().catch((error) => {
    if (error instanceof ApiError && error.status === 401) goToLogin();
    else toast(error.message || String(error), "error");
  });
}
