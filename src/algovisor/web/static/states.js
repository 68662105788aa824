// What a strategy's state looks like to a trader, shared by the dashboard and the strategy
// page: its badge (label and colour) and which actions the API would accept now.

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

// Whether the strategy has a run now: its script, schedule and environment are locked.
export function isActive(strategy) {
  return strategy.current_run !== null;
}
