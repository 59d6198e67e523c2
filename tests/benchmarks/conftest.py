"""Benchmark suite plumbing: the ``bench`` marker, opt-in running, workload fixtures, a ratio table.

The tests here run only when asked for; pyproject's addopts has ``--benchmark-skip``, so:

    pytest tests/benchmarks --benchmark-enable          # or: -m bench, or --benchmark-only

Without one of these they are collected and skipped with a reason (CI's normal test command).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_PROFILING = Path(__file__).resolve().parents[2] / "profiling"
if str(_PROFILING) not in sys.path:
    sys.path.insert(0, str(_PROFILING))

_HERE = Path(__file__).resolve().parent
_ROWS: list = []


def pytest_configure(config):
    config.addinivalue_line("markers", "bench: pytest-benchmark read benchmarks on the standard workload "
                                       "(run with --benchmark-enable, --benchmark-only or -m bench)")


def _bench_requested(config) -> bool:
    markexpr = (config.getoption("markexpr", "") or "").replace(" ", "")
    by_marker = "bench" in markexpr and "notbench" not in markexpr
    return bool(config.getoption("benchmark_enable", False) or config.getoption("benchmark_only", False)
                or by_marker)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    mine = [item for item in items if _HERE in Path(str(item.fspath)).resolve().parents]
    if not mine:
        return
    if _bench_requested(config):
        # --benchmark-skip comes from pyproject's addopts; asking for the benchmarks overrides it.
        session = getattr(config, "_benchmarksession", None)
        if session is not None:
            session.skip = False
    else:
        skip = pytest.mark.skip(reason="read benchmarks run only with --benchmark-enable, --benchmark-only "
                                       "or -m bench")
        for item in mine:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def bench_workload():
    """The standard workload's files (generated on first use, ~30 s, into $FASTWIG_BENCH_DATA or
    ~/.cache/fastwig-bench)."""
    import workload
    return workload.ensure_workload(verbose=True)


@pytest.fixture(scope="session")
def bench_sets(bench_workload):
    import bench_peers
    return bench_peers.window_sets(bench_workload.chrom_sizes)


@pytest.fixture
def bench_record():
    """record(group, peer, threads, track_windows_per_s, values_per_s): rows for the summary table."""
    def record(**row):
        _ROWS.append(row)
    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _ROWS:
        return
    tr = terminalreporter
    tr.section("fastwig read benchmarks: track-windows/s (ratios vs figwig at the same thread count, "
               "and vs pybigtools)")
    groups = {}
    for r in _ROWS:
        groups.setdefault(r["group"], []).append(r)
    for group, rows in groups.items():
        figwig = {r["threads"]: r["track_windows_per_s"] for r in rows if r["peer"] == "figwig"}
        pbt = next((r["track_windows_per_s"] for r in rows if r["peer"] == "pybigtools"), None)
        tr.write_line(f"{group}")
        for r in rows:
            tw = r["track_windows_per_s"]
            f = figwig.get(r["threads"])
            vs_f = f"{tw / f:6.2f}x figwig-t{r['threads']}" if f else " " * 16
            vs_p = f"{tw / pbt:6.2f}x pybigtools" if pbt else ""
            tr.write_line(f"  {r['peer']:<11} t{r['threads']}  {tw:>12,.0f} track-windows/s  "
                          f"{r['values_per_s']:>10.3g} values/s  {vs_f}  {vs_p}")
