"""One writer per lake: an advisory lock the kernel releases when its holder dies.

``flock`` is tied to the open file, so a run killed with SIGKILL (or a crashed machine) never
leaves a lock that blocks the next run: there is nothing stale to clean up. The file's content
(pid, run id, start time) is only there for the message the second run prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from recon.errors import LockHeld


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another recon process"
    return f"run {info.get('run_id', '?')} (pid {info.get('pid', '?')}, since {info.get('started_at', '?')})"


@contextlib.contextmanager
def lake_lock(lake_root: Path, run_id: str, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the lake's lock for the block; wait up to ``wait`` seconds for it, else LockHeld."""
    state = lake_root / "_state"
    state.mkdir(parents=True, exist_ok=True)
    path = state / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + max(wait, 0.0)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(f"the lake {lake_root} is locked by {_holder(path)}; "
                                   "try again later or use --wait SECONDS") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "run_id": run_id,
                                 "started_at": datetime.now(UTC).isoformat()}).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
