"""Job kinds used by the tests; workers load them through DEVFLOW_JOB_MODULES=tests.jobkinds."""

from __future__ import annotations

import time
from typing import Any

from devflow.core.jobs import JobError, JobKind, register


@register
class Steps(JobKind):
    """Log `steps` lines, sleeping `pause` seconds between them, checking for cancel."""

    name = "tests.steps"
    label = "Test steps"
    timeout_seconds = 60

    def lock_key(self) -> str | None:
        return self.params.get("lock")

    def run(self) -> dict[str, Any]:
        steps = int(self.params.get("steps", 3))
        for step in range(steps):
            self.check_cancelled()
            self.log(f"step {step + 1} of {steps}")
            self.progress(int(100 * (step + 1) / steps), f"step {step + 1}")
            time.sleep(float(self.params.get("pause", 0)))
        if "secret" in self.params:
            self.redact(self.params["secret"])
            self.log(f"using token {self.params['secret']} now")
        return {"steps": steps}


@register
class LongCommand(JobKind):
    """Run `sleep` on this machine; cancelling the job must terminate it."""

    name = "tests.long_command"
    label = "Long command"
    timeout_seconds = 600

    def run(self) -> dict[str, Any]:
        marker = self.params.get("marker", "devflow-test-sleep")
        self.log(f"running sleep {marker}")
        result = self.run_local(["bash", "-c", 'exec -a "$0" sleep 300', marker])
        if not result.ok:
            raise JobError(f"sleep ended with status {result.exit_status}")
        return {}


@register
class ShortTimeout(JobKind):
    name = "tests.short_timeout"
    label = "Short timeout"
    timeout_seconds = 1

    def run(self) -> dict[str, Any]:
        self.run_local(["sleep", "30"])
        return {}


@register
class Broken(JobKind):
    name = "tests.broken"
    label = "Broken"

    def run(self) -> dict[str, Any]:
        raise ZeroDivisionError("the job divided by zero")
