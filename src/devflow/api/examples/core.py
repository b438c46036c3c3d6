"""OpenAPI examples for the core app's components (see devflow.api.examples)."""

from __future__ import annotations

from typing import Any

from devflow.api.examples.servers import FACTS

# alice checks web-1 (server 3 of team 1) from the API: job 57, four log lines.
EXAMPLES: dict[str, Any] = {
    "Job": {
        "id": 57,
        "team": 1,
        "kind": "servers.check",
        "status": "succeeded",
        "trigger": "api",
        "actor": 1,
        "target_type": "server",
        "target_id": "3",
        "target_label": "web-1",
        "result": {"latency_ms": 38, "facts": FACTS},
        "progress": 100,
        "progress_message": "Done",
        "error": "",
        "worker": "devflow-1:2314",
        "created_at": "2026-11-26T09:30:00Z",
        "started_at": "2026-11-26T09:30:01Z",
        "finished_at": "2026-11-26T09:30:04Z",
        "log_line_count": 4,
    },
    "JobLog": {
        "lines": [
            {
                "seq": 0,
                "stream": "info",
                "text": "Started Check connection and gather facts on devflow-1:2314.",
            },
            {
                "seq": 1,
                "stream": "info",
                "text": "Ubuntu 24.04.1 LTS · kernel 6.8.0-49-generic · x86_64 · 2 CPU · "
                "3915 MB RAM",
            },
            {"seq": 2, "stream": "info", "text": "Docker version 27.3.1, build ce12230"},
            {"seq": 3, "stream": "info", "text": "Finished: Succeeded."},
        ],
        "job": {
            "status": "succeeded",
            "status_label": "Succeeded",
            "colour": "green",
            "progress": 100,
            "progress_message": "Done",
        },
    },
    "LogLine": {"seq": 3, "stream": "info", "text": "Finished: Succeeded."},
    "JobState": {
        "status": "succeeded",
        "status_label": "Succeeded",
        "colour": "green",
        "progress": 100,
        "progress_message": "Done",
    },
    "Activity": {
        "id": 311,
        "team": 1,
        "actor": 1,
        "actor_label": "alice",
        "action": "servers.check.queued",
        "target_type": "server",
        "target_id": "3",
        "target_label": "web-1",
        "source": "api",
        "ip_address": "198.51.100.23",
        "result": "success",
        "details": {"job": 57},
        "at": "2026-11-26T09:30:00Z",
    },
}
