"""The browser the page tests drive: Debian's Chromium through Playwright.

Never a Playwright-downloaded browser (this machine cannot fetch one). The path is the one
setting, here: ``$IMDBOPS_TEST_CHROMIUM`` overrides Debian's ``/usr/bin/chromium``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("IMDBOPS_TEST_CHROMIUM", "/usr/bin/chromium"))
# The background-networking flags keep it from dialling out of this offline machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright):
    """Start Chromium headless with our flags from a ``sync_playwright()`` handle.

    Without Debian's Chromium the test skips on a laptop and fails in CI (ci_guard)."""
    if not CHROMIUM.exists():
        from support.ci_guard import skip_unless_ci

        skip_unless_ci(f"{CHROMIUM} is not installed here (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@contextlib.contextmanager
def monitoring_page(cfg, port: int):
    """``(page, server_url, errors)``: /monitoring of ``cfg`` served on 127.0.0.1:``port`` by
    a real server, opened in Chromium and fully drawn; ``errors`` collects page errors."""
    from fastapi import FastAPI
    from playwright.sync_api import sync_playwright

    from imdbops.monitoring.routes import router
    from imdbops.serving.api import router as api_router
    from support.serving import ServerThread

    app = FastAPI()
    app.state.config = cfg
    app.include_router(router)
    app.include_router(api_router, prefix="/api/v1")  # the page's /api/v1/monitoring/summary
    server = ServerThread(app, port=port).start()
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.url}/monitoring")
            page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
            yield page, server.url, errors
            browser.close()
    finally:
        server.stop()
