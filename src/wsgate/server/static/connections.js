// The live connections table and the actions on the selected connection (send, disconnect),
// which go through the @connections management API like any other caller's would.

import { apiUrl, errorOf, getJson, manage } from "./api.js";
import { every, formatDuration, h, showError } from "./dom.js";

const REFRESH_MS = 2000;
// A disconnect needs a second click within this time, so a stray click cannot drop a client.
const CONFIRM_MS = 4000;

const $ = (id) => document.getElementById(id);

/** Start the connections panel; onFollow(connectionId) asks the flow to show one connection. */
export function startConnections({ onFollow }) {
  const state = { selected: null, items: [] };
  const elements = {
    body: $("connections-table").tBodies[0],
    count: $("connections-count"),
    empty: $("connections-empty"),
    error: $("connections-error"),
    stage: $("connections-stage"),
    target: $("action-target"),
    message: $("action-message"),
    send: $("action-send"),
    disconnect: $("action-disconnect"),
    follow: $("action-follow"),
    result: $("action-result"),
  };

  const refresh = every(REFRESH_MS, async () => {
    try {
      const answer = await getJson(apiUrl("connections", { stage: elements.stage.value, limit: 500 }));
      state.items = answer.items;
      fillStages(elements.stage, answer.stages);
      render(elements, state, select);
      showError(elements.error, "");
    } catch (error) {
      showError(elements.error, `Could not list connections: ${error.message}`);
    }
  });

  function select(item) {
    state.selected = item ? { id: item.connectionId, stage: item.stage } : null;
    render(elements, state, select);
  }

  elements.stage.addEventListener("change", refresh);
  elements.send.addEventListener("click", () => send(elements, state, refresh));
  elements.follow.addEventListener("click", () => state.selected && onFollow(state.selected.id));
  elements.disconnect.addEventListener("click", confirmThen(elements.disconnect, () =>
    disconnect(elements, state, refresh),
  ));
}

function fillStages(select, stages) {
  const known = new Set([...select.options].map((option) => option.value));
  for (const stage of stages) {
    if (!known.has(stage)) select.append(h("option", { value: stage }, stage));
  }
}

function render(elements, state, select) {
  const { items, selected } = state;
  elements.body.replaceChildren(...items.map((item) => row(item, selected, select)));
  elements.count.textContent = String(items.length);
  elements.empty.hidden = items.length > 0;
  const current = selected && items.find((item) => item.connectionId === selected.id);
  if (selected && current) {
    elements.target.textContent = `Connection ${selected.id} on stage ${selected.stage}`;
  } else if (selected) {
    elements.target.textContent = `Connection ${selected.id} is gone.`;
  } else {
    elements.target.textContent = "Select a connection in the table.";
  }
  const usable = Boolean(current) && current.state === "open";
  elements.send.disabled = !usable;
  elements.disconnect.disabled = !usable;
  elements.follow.disabled = !selected;
}

function row(item, selected, select) {
  const isSelected = selected && selected.id === item.connectionId;
  const choose = () => select(item);
  const identity = item.identity || {};
  return h(
    "tr",
    {
      class: [isSelected ? "selected" : "", item.state !== "open" ? "closing" : ""].join(" ").trim(),
      tabindex: 0,
      "aria-selected": isSelected ? "true" : "false",
      dataset: { connectionId: item.connectionId },
      onclick: choose,
      onkeydown: (event) => (event.key === "Enter" || event.key === " ") && choose(),
    },
    h(
      "td",
      { class: "mono" },
      item.connectionId,
      item.state !== "open" ? h("span", { class: "badge" }, item.state) : null,
    ),
    h("td", {}, item.stage),
    h("td", { title: item.connectedAt }, formatDuration(item.ageSeconds)),
    h("td", { class: "mono" }, identity.sourceIp || "—"),
    h("td", { class: "ua", title: identity.userAgent || "" }, identity.userAgent || "—"),
    h("td", { title: item.lastActiveAt }, `${formatDuration(item.idleSeconds)} ago`),
    h("td", {}, item.principal ?? "—"),
  );
}

async function send(elements, state, refresh) {
  const { id, stage } = state.selected;
  await act(elements, "POST", stage, id, elements.message.value, "sent");
  refresh();
}

async function disconnect(elements, state, refresh) {
  const { id, stage } = state.selected;
  await act(elements, "DELETE", stage, id, undefined, "disconnected");
  refresh();
}

/** Run one management request and say how it went. */
async function act(elements, method, stage, id, body, done) {
  const result = elements.result;
  result.className = "result";
  result.textContent = `${method} ${id}…`;
  try {
    const response = await manage(method, stage, id, body);
    if (response.ok) {
      result.textContent = `${method} → ${response.status}: ${done}`;
      result.classList.add("ok");
      return;
    }
    const error = await errorOf(response);
    const detail = [error.errorType, error.message].filter(Boolean).join(": ");
    result.textContent = `${method} → ${response.status}${detail ? ` (${detail})` : ""}`;
  } catch (error) {
    result.textContent = `${method} failed: ${error.message}`;
  }
  result.classList.add("failed");
}

/** A click handler that asks for a second click before running action. */
function confirmThen(button, action) {
  const label = button.textContent;
  let timer = null;
  const reset = () => {
    clearTimeout(timer);
    button.textContent = label;
    button.classList.remove("armed");
  };
  return async () => {
    if (!button.classList.contains("armed")) {
      button.classList.add("armed");
      button.textContent = "Click again to disconnect";
      timer = setTimeout(reset, CONFIRM_MS);
      return;
    }
    reset();
    await action();
  };
}
