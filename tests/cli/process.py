"""Watching a ``veille`` process's output from a test: wait for a line, not for a while.

The tests that run ``veille run`` or ``veille demo`` as a process wait for what it says
("dashboard on …", "rules reloaded …", "the dashboard stays up …") instead of sleeping: on a busy
machine a fixed delay is either too short (a flaky test) or wasted. The timeouts are only
safety nets for a process that hangs.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time


class Output:
    """Lines of a process's (merged) text output, read by a thread as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None, "start the process with stdout=PIPE, text=True"
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    @property
    def text(self) -> str:
        """Everything read so far."""
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 300) -> str:
        """The first line (from here on) containing ``text``; fails if the output ends first."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self._queue.put(None)  # stays ended for the next wait
                raise AssertionError(f"the process ended before {text!r}:\n{self.text}")
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} within {timeout} s:\n{self.text}")

    def finish(self, timeout: float = 120) -> str:
        """Wait for the process to exit and its output to end; everything it said."""
        try:
            self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._reader.join(timeout=30)  # before the pipe is closed under it
        while (line := self._queue.get_nowait() if not self._queue.empty() else None) is not None:
            self.lines.append(line)
        return self.text
