"""What every transport returns and accepts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """What a finished command left behind."""

    exit_status: int
    stdout: str
    stderr: str
    timed_out: bool = False
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out and not self.cancelled

    def summary(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.timed_out:
            return "timed out"
        return f"exit status {self.exit_status}"


LineCallback = Callable[[str, str], None]
"""Called with (stream, line) for each line of output: stream is "stdout" or "stderr"."""
