"""Which Chromium the browser tests drive, and how: Debian's own build, headless.

Kept apart from the pytest fixtures so that CI's first-run journey (``.ci/first_run_journey.py``)
launches the same browser in the same way without importing pytest or Django.
"""

from __future__ import annotations

import os
import shutil

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
