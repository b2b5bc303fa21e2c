"""axe-core in the browser tests: what it finds on a page, keeping the serious and critical.

axe-core comes from the npm registry, pinned with its integrity hash in
``tests/e2e/axe/package-lock.json`` (``make install-dev`` installs it when npm is there). The
pages' Content-Security-Policy forbids injected scripts, so the contexts these checks use are
opened with ``bypass_csp``; every other browser test runs under the policy.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def axe_or_skip() -> Path:
    """axe-core's script, or skip (fail under REQUIRE_SERVICES=1) with how to get it."""
    if AXE.exists():
        return AXE
    reason = "needs axe-core from npm: run `make install-dev` with npm installed"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but axe-core is missing: {reason}")
    pytest.skip(reason)


def serious_violations(page) -> list[str]:
    """Each serious or critical axe violation on the page as it is now, in words."""
    page.add_script_tag(path=str(axe_or_skip()))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{page.url} [{v['impact']}] {v['id']}: {v['help']} -> "
        + "; ".join(node["target"][0] if node["target"] else "?" for node in v["nodes"][:5])
        for v in violations
        if v["impact"] in SERIOUS
    ]
