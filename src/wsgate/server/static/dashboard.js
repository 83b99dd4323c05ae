// The dashboard's entry point: starts each panel and lets them point at each other.

import { startCharts } from "./charts.js";
import { startConnections } from "./connections.js";
import { startFlow } from "./flow.js";

const flow = startFlow();
startConnections({ onFollow: (connectionId) => flow.follow({ connectionId }) });
// Messages no route took have no route key to filter on; their trace says "no_route".
startCharts({
  onRoute: (route) =>
    flow.follow(route.startsWith("(") ? { route: "", text: "no_route" } : { route, text: "" }),
});
