"""Fixtures for the rendered-book test: a local web server over _build/html and a
headless Chromium driven by Playwright (Debian's chromium; Playwright's own browser
download is not used)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)  # type: ignore[return-value]
    pytest.fail(
        "no Chromium found: `make setup` installs Debian's chromium when run as root; "
        "otherwise install it (apt-get install chromium) or set CHROMIUM=/path/to/chrome"
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    """Serve the built book on 127.0.0.1 (building it first if it is missing)."""
    if not (HTML / "index.html").is_file():
        subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "jupyter-book"),
                "build",
                str(ROOT),
                "--builder",
                "html",
                "--warningiserror",
                "--keep-going",
                "--quiet",
            ],
            check=True,
        )
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class PageLog:
    """What went wrong while a page loaded: console errors, script errors, failed
    requests, and any request that tried to leave the machine."""

    def __init__(self) -> None:
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.failed_requests: list[str] = []
        self.external_requests: list[str] = []

    @property
    def problems(self) -> list[str]:
        return (
            [f"console: {m}" for m in self.console_errors]
            + [f"script error: {m}" for m in self.page_errors]
            + [f"failed request: {m}" for m in self.failed_requests]
            + [f"external request: {m}" for m in self.external_requests]
        )


@pytest.fixture
def open_page(browser, site):
    """``open_page(path, color_scheme="light") -> (page, log)``; pages are closed after
    the test. Requests to anything but the local server are blocked and recorded."""
    contexts = []

    def _open(path: str, *, color_scheme: str = "light"):
        context = browser.new_context(
            color_scheme=color_scheme, viewport={"width": 1280, "height": 900}
        )
        contexts.append(context)
        log = PageLog()

        def route(route_obj):
            url = route_obj.request.url
            if url.startswith(site) or url.startswith("data:") or url.startswith("blob:"):
                route_obj.continue_()
            else:
                log.external_requests.append(url)
                route_obj.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on(
            "console",
            lambda msg: log.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        page.on("pageerror", lambda err: log.page_errors.append(str(err)))
        page.on(
            "requestfailed",
            lambda req: (
                log.failed_requests.append(f"{req.url} ({req.failure})")
                if req.url.startswith(site)
                else None
            ),
        )
        page.on(
            "response",
            lambda resp: (
                log.failed_requests.append(f"{resp.url} (HTTP {resp.status})")
                if resp.status >= 400
                else None
            ),
        )
        page.goto(f"{site}/{path}", wait_until="load")
        page.wait_for_load_state("networkidle")
        return page, log

    yield _open
    for context in contexts:
        context.close()
