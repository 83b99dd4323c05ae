"""The dashboard on the admin listener: its JSON endpoints, its files, a real browser using it."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import aiohttp
import pytest

from tests.helpers import (
    UNIT,
    RunningGateway,
    admin_headers,
    eventually,
    local_secrets,
    missing_tool,
    ws_client as client,
)
from wsgate.observability.routestats import NO_ROUTE, RouteStats
from wsgate.server.app import Gateway
from wsgate.server.dashboard import _principal

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
STATIC = Path(__file__).parents[2] / "src" / "wsgate" / "server" / "static"
# Set to a file path to keep a screenshot of the dashboard with live data.
SCREENSHOT = os.environ.get("WSGATE_DASHBOARD_SCREENSHOT")


@pytest.fixture
def gateway(basic_admin: Gateway) -> Gateway:
    return basic_admin


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=admin_headers()) as session:
        yield session


def admin_url(gateway: Gateway) -> str:
    port = next(x.port for x in gateway.listeners if x.role == "admin")
    return f"http://127.0.0.1:{port}"


def ws_url(gateway: Gateway, stage: str = "dev") -> str:
    return f"ws://127.0.0.1:{gateway.port}/{stage}"


# -- endpoints -------------------------------------------------------------------------------


async def test_connections_lists_open_connections(
    gateway: Gateway, http: aiohttp.ClientSession
) -> None:
    url = f"{admin_url(gateway)}/_wsgate/connections"
    async with (
        client(ws_url(gateway), user_agent_header="first/1.0") as first,
        client(ws_url(gateway, "strict"), user_agent_header="second/2.0"),
    ):
        await first.send(json.dumps({"action": "echo"}))
        await asyncio.wait_for(first.recv(), 10 * UNIT)
        async with http.get(url) as reply:
            assert reply.status == 200
            assert reply.headers["Cache-Control"] == "no-store"
            body = await reply.json()
        assert [item["identity"]["userAgent"] for item in body["items"]] == [
            "second/2.0",
            "first/1.0",
        ]
        assert body["total"] == 2
        assert "dev" in body["stages"] and "strict" in body["stages"]
        item = body["items"][1]
        assert item["stage"] == "dev"
        assert item["state"] == "open"
        assert item["identity"]["sourceIp"] == "127.0.0.1"
        assert item["principal"] is None
        assert item["ageSeconds"] >= 0 and item["idleSeconds"] >= 0
        # lastActiveAt is the same value GetConnection gives.
        connection = f"{admin_url(gateway)}/dev/@connections/{item['connectionId']}"
        async with http.get(connection) as reply:
            described = await reply.json()
        assert item["lastActiveAt"] == described["lastActiveAt"]
        assert item["connectedAt"] == described["connectedAt"]
        async with http.get(url, params={"stage": "strict"}) as reply:
            assert [i["stage"] for i in (await reply.json())["items"]] == ["strict"]
        async with http.get(url, params={"limit": "1"}) as reply:
            assert [i["stage"] for i in (await reply.json())["items"]] == ["strict"]  # newest
        async with http.get(url, params={"limit": "many"}) as reply:
            assert reply.status == 400
    await eventually(lambda: not gateway.dataplane.live)
    async with http.get(url) as reply:
        assert (await reply.json())["items"] == []


async def test_stats_after_some_traffic(gateway: Gateway, http: aiohttp.ClientSession) -> None:
    del gateway.dataplane.stages["dev"].routes["$default"]
    async with client(ws_url(gateway)) as ws:
        for action in ("echo", "echo", "echo", "fail", "nosuchroute"):
            await ws.send(json.dumps({"action": action}))
            await asyncio.wait_for(ws.recv(), 10 * UNIT)
    url = f"{admin_url(gateway)}/_wsgate/stats"

    async def routes() -> dict[str, Any]:
        async with http.get(url, params={"seconds": "60", "step": "5"}) as reply:
            assert reply.status == 200
            body = await reply.json()
        assert (body["windowSeconds"], body["seconds"], body["step"]) == (300, 60, 5)
        return {summary["route"]: summary for summary in body["routes"]}

    async def after_disconnect() -> dict[str, Any]:
        found = await routes()
        return found if "$disconnect" in found else {}

    found: dict[str, Any] = await eventually(after_disconnect)
    assert (found["echo"]["count"], found["echo"]["errors"]) == (3, 0)
    assert (found["fail"]["count"], found["fail"]["errors"]) == (1, 1)
    assert (found[NO_ROUTE]["count"], found[NO_ROUTE]["errors"]) == (1, 1)
    assert found["$connect"]["count"] == 1
    latency = found["echo"]["latencyMs"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["max"]
    assert sum(point["count"] for point in found["echo"]["series"]) == 3
    async with http.get(url, params={"seconds": "soon"}) as reply:
        assert reply.status == 400


def _referenced_files() -> set[str]:
    """Every file the page and its modules load (relative URLs only: nothing external)."""
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    names = set(re.findall(r'(?:src|href)="dashboard/([^"]+)"', page))
    for script in STATIC.glob("*.js"):
        names.update(re.findall(r'from "\./([^"]+)"', script.read_text(encoding="utf-8")))
    return names


async def test_static_files_and_content_types(
    gateway: Gateway, http: aiohttp.ClientSession
) -> None:
    base = f"{admin_url(gateway)}/_wsgate/dashboard"
    async with http.get(f"{admin_url(gateway)}/", allow_redirects=False) as reply:
        assert reply.status == 302
        assert reply.headers["Location"] == "/_wsgate/dashboard"
    async with http.get(base) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "default-src 'self'" in reply.headers["Content-Security-Policy"]
        assert '<script type="module"' in await reply.text()
    referenced = _referenced_files()
    assert {"dashboard.js", "dashboard.css", "api.js", "flow.js", "charts.js"} <= referenced
    for name in sorted(referenced):
        async with http.get(f"{base}/{name}") as reply:
            assert reply.status == 200, name
            expected = "text/css" if name.endswith(".css") else "text/javascript"
            assert reply.headers["Content-Type"] == f"{expected}; charset=utf-8"
            assert reply.headers["Cache-Control"] == "no-cache"
            etag = reply.headers["ETag"]
            assert await reply.read() == (STATIC / name).read_bytes()
        async with http.get(f"{base}/{name}", headers={"If-None-Match": etag}) as reply:
            assert reply.status == 304
    async with http.head(f"{base}/dashboard.js") as reply:
        assert reply.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/_wsgate/dashboard/nope.js",
        "/_wsgate/dashboard/..%2Fdashboard.py",
        "/_wsgate/dashboard/index.html/",
        "/_wsgate/dashboardx",
    ],
)
async def test_unknown_static_file_is_404(
    gateway: Gateway, http: aiohttp.ClientSession, path: str
) -> None:
    async with http.get(f"{admin_url(gateway)}{path}") as reply:
        assert reply.status == 404
        assert reply.headers["Content-Type"].startswith("application/json")


async def test_page_says_when_its_files_are_missing(
    gateway: Gateway, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert gateway.dashboard is not None
    monkeypatch.setattr(gateway.dashboard, "_files", {})  # as if installed without package data
    async with http.get(f"{admin_url(gateway)}/_wsgate/dashboard") as reply:
        assert reply.status == 404
        assert "not installed" in (await reply.json())["message"]


@pytest.mark.parametrize(
    ("connection", "facts", "expected"),
    [
        ({"principal": "user-1"}, {"authorizer": {"principalId": "ignored"}}, "user-1"),
        ({"principal": None}, {"authorizer": {"principalId": 42}}, "42"),
        ({}, {"authorizer": {"other": "x"}}, None),
        ({}, {"authorizer": None}, None),
        ({}, {}, None),  # neither attribute exists (older connection and facts)
    ],
)
def test_principal_is_read_defensively(
    connection: dict[str, Any], facts: dict[str, Any], expected: str | None
) -> None:
    conn = SimpleNamespace(**connection, facts=SimpleNamespace(**facts))
    assert _principal(conn) == expected  # type: ignore[arg-type]


async def test_only_get_is_served(gateway: Gateway, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{admin_url(gateway)}/_wsgate/dashboard") as reply:
        assert reply.status == 405


async def test_dashboard_absent_without_admin_port(
    basic: RunningGateway, http: aiohttp.ClientSession
) -> None:
    gateway: Gateway = basic.gateway
    assert gateway.dashboard is None
    assert gateway.route_stats is None
    assert not any(isinstance(o, RouteStats) for o in gateway.dataplane.observers)
    assert [listener.role for listener in gateway.listeners] == ["public"]
    for path in ("/_wsgate/dashboard", "/_wsgate/connections", "/_wsgate/stats"):
        async with http.get(f"http://127.0.0.1:{gateway.port}{path}") as reply:
            assert reply.status == 403  # the public listener's answer to unknown paths


# -- a real browser --------------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Debian's headless Chromium, driven by selenium; skipped when it is not installed (but
    failed under scripts/test, which installs it)."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        missing_tool(f"needs Chromium and its driver: {', '.join(missing)} not found")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1360,1100",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """The dashboard in the browser; every call runs in a thread, so the gateway keeps serving."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def call(self, work: Callable[[], T]) -> T:
        return await asyncio.to_thread(work)

    async def until(self, condition: Callable[[Any], T], timeout: float = 10) -> T:
        """Wait (in a thread) until ``condition(driver)`` is truthy; stale elements are retried."""
        from selenium.common.exceptions import (
            ElementClickInterceptedException,
            NoSuchElementException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.support.ui import WebDriverWait

        wait = WebDriverWait(
            self.driver,
            timeout * UNIT,
            ignored_exceptions=(
                NoSuchElementException,
                StaleElementReferenceException,
                ElementClickInterceptedException,  # e.g. under the sticky header while scrolling
            ),
        )
        return await asyncio.to_thread(wait.until, condition)

    async def click(self, selector: str) -> None:
        """Click the element once it exists (the table is redrawn every few seconds)."""
        await self.until(lambda d: d.find_element("css selector", selector).click() or True)

    async def text(self, selector: str) -> str:
        return await self.until(lambda d: d.find_element("css selector", selector).text)


async def test_dashboard_in_a_browser(gateway: Gateway, browser: Any) -> None:
    page = Page(browser)
    # The link the banner prints: its token becomes a cookie, and the page loses the token.
    link = f"{admin_url(gateway)}/?token={local_secrets().admin_token}"
    await page.call(lambda: browser.get(link))
    assert await page.call(lambda: browser.current_url.endswith("/_wsgate/dashboard"))
    await page.until(lambda d: d.find_element("id", "flow-status").text == "live")

    async with client(ws_url(gateway), user_agent_header="dashboard-test/1.0") as ws:
        connection_id = await eventually(lambda: next(iter(gateway.dataplane.live), None))
        row = f'#connections-table tr[data-connection-id="{connection_id}"]'
        shown = await page.text(row)
        assert "dashboard-test/1.0" in shown and "127.0.0.1" in shown
        assert shown.endswith("—")  # no authorizer principal

        # Send a message to the client from the dashboard.
        await page.click(row)
        await page.until(lambda d: d.find_element("id", "action-send").is_enabled())
        await page.call(
            lambda: browser.find_element("id", "action-message").send_keys(
                "hello from the dashboard"
            )
        )
        await page.click("#action-send")
        assert await asyncio.wait_for(ws.recv(), 10 * UNIT) == "hello from the dashboard"
        await page.until(lambda d: "200" in d.find_element("id", "action-result").text)

        # A message no route takes, and one whose handler fails: both say why in the flow.
        del gateway.dataplane.stages["dev"].routes["$default"]
        await ws.send(json.dumps({"action": "nosuchroute"}))
        forbidden = json.loads(await asyncio.wait_for(ws.recv(), 10 * UNIT))
        assert forbidden["message"] == "Forbidden"
        await ws.send(json.dumps({"action": "fail"}))
        failed = json.loads(await asyncio.wait_for(ws.recv(), 10 * UNIT))
        entry = f'#flow-list li[data-request-id="{forbidden["requestId"]}"]'
        text = await page.text(entry)
        assert "'nosuchroute'" in text and "no $default route" in text and "403" in text
        assert "error" in await page.call(
            lambda: browser.find_element("css selector", entry).get_attribute("class") or ""
        )
        await page.click(f"{entry} summary")
        trace = await page.until(
            lambda d: _loaded(d.find_element("css selector", f"{entry} .trace"))
        )
        assert "no_route" in trace and "client" in trace
        failing = f'#flow-list li[data-request-id="{failed["requestId"]}"]'
        assert "handler failed on purpose" in await page.text(failing)
        await page.click(f"{failing} summary")
        trace = await page.until(
            lambda d: _loaded(d.find_element("css selector", f"{failing} .trace"))
        )
        assert "function call" in trace  # the integration's steps

        # The charts show the routes that saw traffic.
        for route in ("fail", NO_ROUTE, "$connect"):
            await page.text(f'#charts .route-card[data-route="{route}"]')
        if SCREENSHOT:
            await page.call(lambda: browser.save_screenshot(SCREENSHOT))

        # Disconnect from the dashboard (a second click confirms).
        await page.click("#action-disconnect")
        await page.until(lambda d: "again" in d.find_element("id", "action-disconnect").text)
        await page.click("#action-disconnect")
        await asyncio.wait_for(ws.wait_closed(), 10 * UNIT)
        assert ws.close_code == 1000
        await page.until(lambda d: "204" in d.find_element("id", "action-result").text)
        await page.until(lambda d: not d.find_elements("css selector", row))

    logs = await page.call(lambda: browser.get_log("browser"))
    assert [log for log in logs if log["level"] == "SEVERE"] == []


def _loaded(element: Any) -> str:
    """The trace's text once it has loaded ("" until then, which keeps a wait waiting)."""
    text: str = element.text
    return "" if "Loading" in text else text
