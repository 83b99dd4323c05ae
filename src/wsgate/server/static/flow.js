// The live message flow: follows /_wsgate/logs (NDJSON) with the filters' query parameters;
// each request says why it went where it went, and opens into its full trace.

import { HttpError, apiUrl, followLines, getJson } from "./api.js";
import { debounce, formatClock, formatMs, h } from "./dom.js";

const BACKLOG = 100; // recent entries shown when the stream (re)starts
const KEEP = 500; // entries kept on the page; older ones leave first
const RETRY_MS = 2000;
// Trace fields shown first, in this order; the rest follow under "All fields".
const FIELDS = [
  ["requestId", "Request"],
  ["connectionId", "Connection"],
  ["eventType", "Event"],
  ["routeKey", "Route"],
  ["selection", "Selection value"],
  ["outcome", "Selection outcome"],
  ["integration", "Integration"],
  ["status", "Status"],
  ["latencyMs", "Latency"],
  ["integrationLatencyMs", "Integration latency"],
  ["error", "Error"],
  ["errorKind", "Error kind"],
  ["replySent", "Reply sent"],
  ["messageBytes", "Message bytes"],
  ["sourceIp", "Source IP"],
  ["userAgent", "User agent"],
];

const $ = (id) => document.getElementById(id);

/** Start the flow panel; returns { follow(filters) } for the other panels to narrow it. */
export function startFlow() {
  const list = $("flow-list");
  const empty = $("flow-empty");
  const status = $("flow-status");
  const inputs = [...$("flow-filters").querySelectorAll("input")];
  let controller = null;
  let retry = null;

  function filters() {
    const values = Object.fromEntries(inputs.map((input) => [input.name, input.value.trim()]));
    return { ...values, backlog: BACKLOG };
  }

  function valid() {
    const statusInput = inputs.find((input) => input.name === "status");
    const ok = /^\d*$/.test(statusInput.value.trim());
    statusInput.classList.toggle("invalid", !ok);
    return ok;
  }

  async function restart() {
    clearTimeout(retry);
    if (controller) controller.abort();
    if (!valid()) return;
    controller = new AbortController();
    const { signal } = controller;
    list.replaceChildren();
    empty.hidden = false;
    setStatus(status, "connecting…", "");
    try {
      await followLines(apiUrl("logs", filters()), (entry) => add(list, empty, entry), {
        signal,
        onOpen: () => setStatus(status, "live", "live"),
      });
      if (!signal.aborted) schedule("stream ended, reconnecting…");
    } catch (error) {
      if (signal.aborted) return; // a newer stream replaced this one
      if (error instanceof HttpError && error.status === 404) {
        setStatus(status, "traces are off (traceBufferSize is 0)", "off");
        return;
      }
      schedule(`disconnected (${error.message}), reconnecting…`);
    }
  }

  function schedule(message) {
    setStatus(status, message, "down");
    retry = setTimeout(restart, RETRY_MS);
  }

  const restartSoon = debounce(300, restart);
  for (const input of inputs) input.addEventListener("input", restartSoon);
  $("flow-clear").addEventListener("click", () => {
    list.replaceChildren();
    empty.hidden = false;
  });
  restart();

  return {
    follow(values) {
      for (const input of inputs) {
        if (input.name in values) input.value = values[input.name];
      }
      restart();
    },
  };
}

function setStatus(element, text, kind) {
  element.textContent = text;
  element.className = `pill ${kind}`.trim();
}

function add(list, empty, entry) {
  // Requests and @connections calls both open into a trace; connection events are one line.
  list.prepend(entry.type === "connection" ? connectionItem(entry) : requestItem(entry));
  empty.hidden = true;
  while (list.childElementCount > KEEP) list.lastElementChild.remove();
}

function failed(entry) {
  return Boolean(entry.error) || entry.status >= 400;
}

function statusClass(status) {
  if (status >= 500) return "s5xx";
  if (status >= 400) return "s4xx";
  return "s2xx";
}

function requestItem(entry) {
  const trace = h("div", { class: "trace" }, "Loading the trace…");
  const details = h(
    "details",
    {},
    h(
      "summary",
      {},
      h("time", { datetime: entry.time }, formatClock(entry.timeEpoch)),
      h("span", { class: "conn mono", title: entry.connectionId }, entry.connectionId),
      h("span", { class: `route${entry.routeKey ? "" : " none"}` }, entry.routeKey ?? "no route"),
      h("span", { class: `status ${statusClass(entry.status)}` }, String(entry.status)),
      h("span", { class: "latency" }, formatMs(entry.latencyMs)),
      h("span", { class: "why" }, entry.why),
    ),
    trace,
  );
  let loaded = false;
  details.addEventListener("toggle", () => {
    if (details.open && !loaded) {
      loaded = true;
      loadTrace(entry, trace);
    }
  });
  return h(
    "li",
    { class: `entry request${failed(entry) ? " error" : ""}`, dataset: { requestId: entry.requestId } },
    details,
  );
}

function connectionItem(entry) {
  const closed = entry.message === "connection closed";
  const code = entry.disconnectStatusCode;
  const reason = entry.disconnectReason ? ` ${entry.disconnectReason}` : "";
  const why = closed && code !== null && code !== undefined ? ` (${code}${reason})` : "";
  return h(
    "li",
    { class: "entry connection", dataset: { connectionId: entry.connectionId } },
    h(
      "div",
      { class: "line" },
      h("time", { datetime: entry.time }, formatClock(entry.timeEpoch)),
      h("span", { class: "conn mono", title: entry.connectionId }, entry.connectionId),
      h("span", { class: "event" }, `${entry.message}${why}`),
    ),
  );
}

async function loadTrace(entry, container) {
  try {
    const trace = await getJson(apiUrl(`traces/${encodeURIComponent(entry.requestId)}`));
    container.replaceChildren(traceView(trace));
  } catch (error) {
    // The store is bounded: an old trace may have left it. The streamed entry still says a lot.
    const gone = error instanceof HttpError && error.status === 404;
    const cause = gone ? "This trace is no longer kept" : `Could not load the trace (${error.message})`;
    const note = `${cause}; what the stream carried:`;
    container.replaceChildren(h("p", { class: "muted" }, note), traceView(entry));
  }
}

function traceView(trace) {
  const shown = FIELDS.filter(([key]) => trace[key] !== undefined && trace[key] !== null);
  const fields = h(
    "dl",
    { class: "fields" },
    shown.flatMap(([key, label]) => [
      h("dt", {}, label),
      h("dd", { class: key === "error" ? "bad" : "" }, show(key, trace[key])),
    ]),
  );
  const steps = (trace.details || []).map((step, index) =>
    h(
      "li",
      {},
      h("strong", {}, step.step || `step ${index + 1}`),
      h(
        "dl",
        { class: "fields" },
        Object.entries(step)
          .filter(([key]) => key !== "step")
          .flatMap(([key, value]) => [h("dt", {}, key), h("dd", {}, block(value))]),
      ),
    ),
  );
  return h(
    "div",
    {},
    fields,
    steps.length ? h("h3", {}, "What the integration did") : null,
    steps.length ? h("ol", { class: "steps" }, steps) : null,
    h(
      "details",
      { class: "raw" },
      h("summary", {}, "All fields"),
      h("pre", {}, JSON.stringify(trace, null, 2)),
    ),
  );
}

function show(key, value) {
  if (key.endsWith("Ms") && typeof value === "number") return formatMs(value);
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function block(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return text.includes("\n") || text.length > 80 ? h("pre", {}, text) : text;
}
