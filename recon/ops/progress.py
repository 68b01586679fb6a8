"""A progress line per source on a terminal; nothing at all without one (cron mail stays clean), nor
with ``NO_COLOR`` or ``TERM=dumb`` (the redrawing needs cursor escapes)."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from recon.ingest.records import Progress
from recon.logs import can_animate


class ProgressDisplay:
    def __init__(self, sources: list[str], stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = can_animate(self.stream)
        self.state = {name: "waiting" for name in sources}
        self._lock = threading.Lock()
        self._drawn = 0

    def update(self, source: str, progress: Progress) -> None:
        if not self.enabled:
            return
        with self._lock:
            spin = "|/-\\"[progress.pages % 4]
            self.state[source] = (f"{spin} {progress.pages:,} pages  {progress.records:,} records"
                                  + (f"  {progress.quarantined:,} quarantined" if progress.quarantined else ""))
            self._draw()

    def done(self, source: str, text: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.state[source] = text
            self._draw()

    def _draw(self) -> None:
        # Move up over the lines drawn last time and redraw them all: one line per source.
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F")
        for name, text in self.state.items():
            self.stream.write(f"\x1b[2K{name:12s} {text}\n")
        self._drawn = len(self.state)
        self.stream.flush()

    def close(self) -> None:
        self._drawn = 0
