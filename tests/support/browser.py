"""The browser the page tests drive: Debian's Chromium through Playwright.

Never a Playwright-downloaded browser (this machine cannot fetch one). The path is the one
setting, here: ``$IMDBOPS_TEST_CHROMIUM`` overrides Debian's ``/usr/bin/chromium``.
"""

from __future__ import annotations

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
        from ci_guard import skip_unless_ci

        skip_unless_ci(f"{CHROMIUM} is not installed here (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
