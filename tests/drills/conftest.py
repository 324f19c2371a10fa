"""The drills' figures, printed at the end of the run (CI's log keeps them)."""

from __future__ import annotations

from typing import Any

FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("failure drill figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
