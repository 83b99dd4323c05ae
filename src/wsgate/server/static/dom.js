// Small DOM and formatting helpers. Text always goes in as text nodes, never as markup: messages,
// user agents and errors come from clients.

/**
 * Build an element: h("td", { class: "x", dataset: { id } }, "text", child).
 * Attributes are set as attributes; `dataset` and `on*` functions are handled specially.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else element.setAttribute(key, value === true ? "" : String(value));
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

/** Build an SVG element with attributes. */
export function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  element.append(...children);
  return element;
}

/** Show a panel's error line, or hide it when message is empty. */
export function showError(element, message) {
  element.textContent = message || "";
  element.hidden = !message;
}

/** "42s", "3m 05s", "2h 07m", "3d 04h". */
export function formatDuration(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const pad = (n) => String(n).padStart(2, "0");
  if (total < 60) return `${total}s`;
  if (total < 3600) return `${Math.floor(total / 60)}m ${pad(total % 60)}s`;
  if (total < 86400) return `${Math.floor(total / 3600)}h ${pad(Math.floor(total / 60) % 60)}m`;
  return `${Math.floor(total / 86400)}d ${pad(Math.floor(total / 3600) % 24)}h`;
}

/** Milliseconds with sensible precision: "0.42 ms", "12.3 ms", "1.20 s". */
export function formatMs(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** Local wall-clock time of an epoch-milliseconds value, to the millisecond. */
export function formatClock(epochMs) {
  const time = new Date(epochMs);
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  const seconds = `${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}`;
  return `${seconds}.${pad(time.getMilliseconds(), 3)}`;
}

/** A compact number: 950, 1.2k, 3.4M. */
export function formatCount(value) {
  if (value < 1000) return String(Math.round(value * 100) / 100);
  if (value < 1e6) return `${(value / 1000).toFixed(1)}k`;
  return `${(value / 1e6).toFixed(1)}M`;
}

/** A rate per second: "0", "<0.01", "0.25", "12", "1.2k". */
export function formatRate(value) {
  if (value === 0) return "0";
  if (value < 0.01) return "<0.01";
  if (value < 10) return String(Number(value.toFixed(2)));
  return formatCount(value);
}

/**
 * Call task now and then `ms` after each run settles. The returned function asks for a run at
 * once; a request during a run makes one more run right after it, so runs never overlap.
 * The task handles its own errors (shown in its panel).
 */
export function every(ms, task) {
  let timer = null;
  let running = false;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = true;
    try {
      await task();
    } finally {
      running = false;
      if (again) {
        again = false;
        run();
      } else {
        timer = setTimeout(run, ms);
      }
    }
  };
  run();
  return run;
}

/** Delay calls to fn until `ms` have passed without another call. */
export function debounce(ms, fn) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
