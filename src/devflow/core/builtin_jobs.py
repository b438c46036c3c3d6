"""Job kinds that ship with the core."""

from __future__ import annotations

import shutil
import sys
from typing import Any

from django.conf import settings
from django.db import connection

from devflow.core.jobs import JobError, JobKind, register
from devflow.core.models.jobs import LogStream


@register
class Diagnostics(JobKind):
    """Check this installation: database, queue, data directory, and the local machine."""

    name = "core.diagnostics"
    label = "Installation check"
    timeout_seconds = 120

    def run(self) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        self.progress(10, "Database")
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        facts["database"] = connection.vendor
        self.log(f"Database: {connection.vendor} reachable.")
        self.check_cancelled()

        self.progress(40, "Data directory")
        usage = shutil.disk_usage(settings.DATA_DIR)
        facts["data_dir_free_mb"] = usage.free // (1024 * 1024)
        self.log(f"Data directory {settings.DATA_DIR}: {facts['data_dir_free_mb']} MB free.")
        if usage.free < 200 * 1024 * 1024:
            self.log("Less than 200 MB free: deploy logs and backups may fail.", LogStream.STDERR)
        self.check_cancelled()

        self.progress(70, "Local machine")
        result = self.run_local(["uname", "-srm"], timeout=30)
        if not result.ok:
            raise JobError(f"uname failed with exit status {result.exit_status}.")
        facts["kernel"] = result.stdout.strip()
        facts["python"] = sys.version.split()[0]
        self.log(f"Python {facts['python']}.")
        self.progress(100, "Done")
        return facts
