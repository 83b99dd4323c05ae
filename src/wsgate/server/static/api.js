// Talking to the admin listener. Every URL is relative to the page (/_wsgate/dashboard), so the
// dashboard also works behind a proxy that mounts the admin listener under a prefix.

const base = new URL(".", window.location.href); // .../_wsgate/

/** An HTTP answer other than 2xx, with the gateway's message when it gave one. */
export class HttpError extends Error {
  constructor(status, message, errorType = "") {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.errorType = errorType;
  }
}

/** A URL under /_wsgate/ with the non-empty query parameters. */
export function apiUrl(path, params = {}) {
  const url = new URL(path, base);
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) url.searchParams.set(key, value);
  }
  return url;
}

/** The @connections URL of one connection (the management API on this listener). */
export function connectionUrl(stage, connectionId) {
  const path = `../${encodeURIComponent(stage)}/@connections/${encodeURIComponent(connectionId)}`;
  return new URL(path, base);
}

/** GET a JSON document; throws HttpError on a non-2xx answer. */
export async function getJson(url, options = {}) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, ...options });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

/** Send a request to the management API; resolves to the response (errors included). */
export function manage(method, stage, connectionId, body) {
  return fetch(connectionUrl(stage, connectionId), { method, body });
}

/** The error a failed response describes (message and AWS error type, when present). */
export async function errorOf(response) {
  let message = "";
  try {
    message = (await response.json()).message || "";
  } catch {
    // Not JSON (or empty): the status says enough.
  }
  return new HttpError(response.status, message, response.headers.get("x-amzn-ErrorType") || "");
}

/**
 * Follow an NDJSON stream, calling onEntry with each parsed line until the stream ends.
 * Resolves when the server ends it; rejects on network errors, HttpError, or abort.
 */
export async function followLines(url, onEntry, { signal, onOpen } = {}) {
  const response = await fetch(url, { signal, headers: { Accept: "application/x-ndjson" } });
  if (!response.ok) throw await errorOf(response);
  if (onOpen) onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    pending += value;
    let end;
    while ((end = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, end).trim();
      pending = pending.slice(end + 1);
      if (line) onEntry(JSON.parse(line));
    }
  }
}
