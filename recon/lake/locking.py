"""One writer per lake: an advisory lock the kernel releases when its holder dies.

``flock`` (on the lake folder) is tied to the open descriptor, so a run killed with SIGKILL (or a
crashed machine) never leaves a lock that blocks the next run: there is nothing stale to clean up. The file's content
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
    # The lock is taken on the lake folder itself: a file can be deleted while locked (and a
    # second run would lock a new one), the folder a run works in cannot.
    fd = os.open(lake_root, os.O_RDONLY | os.O_DIRECTORY)
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
        # Who holds it, for the message a second run prints (information only, not the lock).
        path.write_text(json.dumps({"pid": os.getpid(), "run_id": run_id,
                                    "started_at": datetime.now(UTC).isoformat()}), encoding="utf-8")
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
