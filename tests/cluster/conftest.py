"""The several-host tests' figures: shown at the end of the run (whatever the output capture)
and kept in test-results/several-hosts.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIGURES: dict[str, str] = {}
KEPT = Path(__file__).resolve().parents[2] / "test-results" / "several-hosts.json"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("several hosts: figures")
    for name, figure in FIGURES.items():
        terminalreporter.write_line(f"{name}: {figure}")
    KEPT.parent.mkdir(exist_ok=True)
    KEPT.write_text(json.dumps(FIGURES, indent=2) + "\n")
