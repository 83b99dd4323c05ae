// Per-route charts from /_wsgate/stats: request rate (errors in red) and latency (p50 over p95),
// drawn as inline SVG bars. The server merges its per-second buckets into POINTS steps, so the
// percentiles of each step are computed from the whole step, not averaged from seconds.

import { apiUrl, getJson } from "./api.js";
import { every, formatClock, formatCount, formatMs, formatRate, h, s, showError } from "./dom.js";

const REFRESH_MS = 2000;
const POINTS = 60;
const WIDTH = 300; // viewBox units; the SVG stretches to its box
const HEIGHT = 60;

const $ = (id) => document.getElementById(id);

/** Start the charts panel; onRoute(route) asks the flow to show one route. */
export function startCharts({ onRoute }) {
  const container = $("charts");
  const empty = $("charts-empty");
  const error = $("charts-error");
  const span = $("charts-span");

  const refresh = every(REFRESH_MS, async () => {
    const seconds = Number(span.value);
    const step = Math.max(1, Math.round(seconds / POINTS));
    try {
      const stats = await getJson(apiUrl("stats", { seconds, step }));
      container.replaceChildren(...stats.routes.map((route) => card(route, stats, onRoute)));
      empty.hidden = stats.routes.length > 0;
      showError(error, "");
    } catch (failure) {
      showError(error, `Could not load the stats: ${failure.message}`);
    }
  });
  span.addEventListener("change", refresh);
}

/** Every step of the span, oldest first, zero-filled where nothing happened. */
function steps(route, stats) {
  const count = Math.ceil(stats.seconds / stats.step);
  const first = stats.now - stats.seconds + 1;
  const byStart = new Map(route.series.map((point) => [point.t, point]));
  return Array.from({ length: count }, (_, index) => {
    const t = first + index * stats.step;
    return byStart.get(t) || { t, count: 0, errors: 0, latencyMs: null };
  });
}

function card(route, stats, onRoute) {
  const points = steps(route, stats);
  const { latencyMs: latency } = route;
  const special = route.route.startsWith("("); // "(no route)": not a route key
  const numbers = h(
    "span",
    { class: "numbers" },
    `${formatCount(route.count)} req · `,
    h("span", { class: route.errors ? "bad" : "" }, `${formatCount(route.errors)} err`),
    ` · ${formatRate(route.ratePerSecond)}/s`,
    ` · p50 ${formatMs(latency.p50)} · p95 ${formatMs(latency.p95)}`,
  );
  const name = h(
    "button",
    {
      type: "button",
      class: "link",
      title: "show these requests in the flow",
      onclick: () => onRoute(route.route),
    },
    special ? h("em", {}, route.route) : route.route,
  );
  const rates = points.map((point) => point.count / stats.step);
  const slowest = Math.max(0, ...points.map((point) => (point.latencyMs ? point.latencyMs.p95 : 0)));
  const legend = [
    h("span", { class: "key-p50" }, "p50"),
    " over ",
    h("span", { class: "key-p95" }, "p95"),
    " latency",
  ];
  return h(
    "article",
    { class: "route-card", dataset: { route: route.route } },
    h("header", {}, name, numbers),
    figure("requests/s", `max ${formatRate(Math.max(...rates))}`, rateChart(points, rates, stats.step)),
    figure(legend, `max ${formatMs(slowest)}`, latencyChart(points, slowest, stats.step)),
    h("div", { class: "axis" }, h("span", {}, clock(stats.now - stats.seconds + 1)), "now"),
  );
}

function figure(label, top, svg) {
  const caption = h("figcaption", {}, h("span", {}, label), h("span", {}, top));
  return h("figure", { class: "chart" }, caption, svg);
}

function plot(bars) {
  return s(
    "svg",
    {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      preserveAspectRatio: "none",
      class: "plot",
      "aria-hidden": "true",
    },
    s("line", { x1: 0, y1: HEIGHT - 0.5, x2: WIDTH, y2: HEIGHT - 0.5, class: "baseline" }),
    ...bars,
  );
}

/**
 * One bar per step made of parts ([[share of the height, class], ...]): stacked one on the
 * other, or each from the baseline (later parts drawn over earlier ones).
 */
function bars(points, parts, step, stacked) {
  const width = WIDTH / points.length;
  return points.flatMap((point, index) => {
    let bottom = HEIGHT;
    return parts(point, index).flatMap(([share, className]) => {
      // A nonzero value gets at least a sliver, so rare events stay visible.
      const height = share > 0 ? Math.max(1.5, share * (HEIGHT - 2)) : 0;
      if (!height) return [];
      const top = (stacked ? bottom : HEIGHT) - height;
      if (stacked) bottom = top;
      const x = index * width + width * 0.1;
      const rect = { x, y: top, width: width * 0.8, height, class: className };
      return [s("rect", rect, s("title", {}, tooltip(point, step)))];
    });
  });
}

function rateChart(points, rates, step) {
  const top = Math.max(...rates) || 1;
  return plot(
    bars(
      points,
      (point, index) => {
        const total = rates[index] / top;
        const failed = point.count ? (point.errors / point.count) * total : 0;
        return [
          [failed, "bar bad"],
          [total - failed, "bar"],
        ];
      },
      step,
      true,
    ),
  );
}

function latencyChart(points, slowest, step) {
  const top = slowest || 1;
  return plot(
    bars(
      points,
      (point) => {
        if (!point.latencyMs) return [];
        // The p50 bar is drawn over the taller p95 bar.
        return [
          [point.latencyMs.p95 / top, "bar p95"],
          [point.latencyMs.p50 / top, "bar p50"],
        ];
      },
      step,
      false,
    ),
  );
}

function clock(epochSeconds) {
  return formatClock(epochSeconds * 1000).slice(0, 8);
}

function tooltip(point, step) {
  const latency = point.latencyMs
    ? `, p50 ${formatMs(point.latencyMs.p50)}, p95 ${formatMs(point.latencyMs.p95)}`
    : "";
  return `${clock(point.t)} (+${step}s): ${point.count} req, ${point.errors} err${latency}`;
}
