"""Benchmark reporting: each group's throughput as a ratio against its ``baseline`` entry.

A benchmark named ``..._baseline`` in a group is the hand-written reference
measured in the same run; the summary prints every other entry of the group
as ``baseline median / entry median`` (1.0 = as fast as the baseline).
"""

from typing import Any

import pytest


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups: dict[str, list[Any]] = {}
    for bench in session.benchmarks:
        groups.setdefault(bench.group or "", []).append(bench)
    terminalreporter.section("throughput relative to the hand-written baseline")
    for group, benches in sorted(groups.items()):
        baseline = next((b for b in benches if b.name.endswith("_baseline")), None)
        if baseline is None:
            continue
        for bench in benches:
            ratio = baseline.stats.median / bench.stats.median
            terminalreporter.write_line(
                f"{group:<28} {bench.name:<40} {bench.stats.median * 1e6:9.2f} us  x{ratio:.2f}"
            )
