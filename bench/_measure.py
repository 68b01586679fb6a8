"""What every bench shares: the machine it ran on, a child process per measured step (so that peak
RSS is that step's alone), the bytes a step spilled to a folder, and medians."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import platform
import resource
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: a spawned child's ru_maxrss can start from
    its parent's RSS."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of process ``pid`` (this one if None) so far; NaN where /proc
    cannot tell (a process's CPU time says what a step cost whatever else the machine runs)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat: user, nice, system, irq,
    softirq, steal); NaN where /proc cannot tell."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    """Cores, RAM, CPU model, versions and the load when the run started (a shared machine is noisy)."""
    import duckdb
    import pyarrow

    info: dict[str, Any] = {"cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                            "duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__,
                            "load_avg_1m": round(os.getloadavg()[0], 2)}
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info["ram_gib"] = round(int(fh.readline().split()[1]) / 1024**2, 1)
        with open("/proc/cpuinfo", encoding="ascii") as fh:
            models = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        info["cpu"] = models[0] if models else platform.processor()
    except OSError:
        info.setdefault("cpu", platform.processor())
    return info


def machine_line(info: dict[str, Any]) -> str:
    return (f"machine: {info['cores']} cores, {info.get('ram_gib', '?')} GiB RAM, {info.get('cpu', '?')}; "
            f"Python {info['python']}, DuckDB {info['duckdb']}, pyarrow {info['pyarrow']}; "
            f"load average {info['load_avg_1m']} at start")


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # DuckDB removes spill files as it goes
                total += os.stat(os.path.join(root, name)).st_size
    return total


class SpillWatch:
    """The largest size a folder reached while a step ran (sampled every 50 ms)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.folder is not None and self.folder.exists():
                self.peak = max(self.peak, folder_bytes(self.folder))
            self._stop.wait(0.05)

    def __enter__(self) -> SpillWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _child(fn: Callable[..., dict[str, Any]], args: tuple[Any, ...], out: Any) -> None:
    try:
        result = fn(*args)
        result.setdefault("peak_rss_mb", peak_rss_mb())
        out.put(result)
    except BaseException as exc:
        out.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


def in_child(fn: Callable[..., dict[str, Any]], *args: Any, spill: Path | None = None) -> dict[str, Any]:
    """Run ``fn(*args)`` in a fresh (spawned) process; its dict plus wall seconds and spilled bytes."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, out))
    t0 = time.perf_counter()
    with SpillWatch(spill) as watch:
        proc.start()
        result: dict[str, Any] = out.get()
        proc.join()
    result.setdefault("wall_seconds", time.perf_counter() - t0)
    result["spilled_mb"] = watch.peak / 1e6
    if "error" in result:
        raise RuntimeError(f"{getattr(fn, '__name__', fn)} failed in its process: {result['error']}")
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
