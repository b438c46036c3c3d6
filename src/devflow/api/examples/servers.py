"""OpenAPI examples for the servers app's components (see devflow.api.examples)."""

from __future__ import annotations

from typing import Any

# What `servers.check` gathers on an Ubuntu server (see servers.services.FACTS_SCRIPT).
FACTS = {
    "os": "Ubuntu 24.04.1 LTS",
    "os_id": "ubuntu",
    "os_like": "debian",
    "os_version": "24.04",
    "kernel": "6.8.0-49-generic",
    "arch": "x86_64",
    "cpus": 2,
    "ram_kb": 4009436,
    "disk_total_kb": 81106868,
    "disk_used_kb": 12873340,
    "uptime_s": 1728311,
    "docker": "Docker version 27.3.1, build ce12230",
    "family": "debian",
}

# The public half of the key "deploy-2026" of team 1, with the comment DevFlow Pro gives it.
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP0ZU/Tn/tUzy1TOsn0+2nAX/PEwWp2gdEMf/ifXvqrY"
    " devflow:1:deploy-2026"
)

# Team 1's web-1 (server 3) and web-2 (server 4), in the group "production" (1), tagged "web"
# (1), reached as deploy@ with the SSH key "deploy-2026" (2). The key and host key below are
# placeholders of the right format (no one holds their private halves).
EXAMPLES: dict[str, Any] = {
    "Server": {
        "id": 3,
        "team": 1,
        "name": "web-1",
        "is_local": False,
        "host": "203.0.113.10",
        "port": 22,
        "username": "deploy",
        "ssh_key": 2,
        "group": 1,
        "tags": [1],
        "ping_enabled": True,
        "status": "up",
        "status_message": "",
        "latency_ms": 38,
        "last_seen_at": "2026-11-26T09:31:02Z",
        "last_checked_at": "2026-11-26T09:31:02Z",
        "host_key_fingerprint": "SHA256:pw5aiv0ef806q6bglG74kYKQj+Px4WMNcRlSd7l4Jx4",
        "facts": FACTS,
        "created_at": "2026-11-20T16:02:31Z",
    },
    "Tag": {"id": 1, "team": 1, "name": "web", "colour": "#2457d6"},
    "Group": {
        "id": 1,
        "team": 1,
        "name": "production",
        "description": "Behind the public load balancer",
    },
    "SshKey": {
        "id": 2,
        "team": 1,
        "name": "deploy-2026",
        "algorithm": "ssh-ed25519",
        "public_key": PUBLIC_KEY,
        "fingerprint": "SHA256:2fjpQjrOlRJeFc1hT9eTFE05MzTMDnRM8TQA02/vFWM",
        "expires_at": "2027-11-20T00:00:00Z",
        "created_at": "2026-11-20T15:58:09Z",
        "servers": [3, 4],
    },
    # Generating a key (the default); importing one sends private_key instead of algorithm.
    "NewSshKeyRequest": {
        "team": 1,
        "name": "deploy-2026",
        "algorithm": "ssh-ed25519",
        "expires_at": "2027-11-20T00:00:00Z",
    },
    "QuickAction": {
        "name": "restart_service",
        "label": "Restart a service",
        "destructive": False,
        "needs": ["service"],
    },
    "ServerActionRequest": {"server": 3, "action": "restart_service", "service": "nginx"},
    "NewBulkRunRequest": {"servers": [3, 4], "action": "restart_service", "service": "nginx"},
    "BulkRun": {
        "id": 12,
        "team": 1,
        "action": "restart_service",
        "params": {"service": "nginx"},
        "created_by": 1,
        "created_at": "2026-11-26T09:40:00Z",
        "job": {
            "id": 58,
            "team": 1,
            "kind": "servers.bulk",
            "status": "succeeded",
            "trigger": "api",
            "actor": 1,
            "target_type": "bulkrun",
            "target_id": "12",
            "target_label": "Bulk restart_service #12",
            "result": {"succeeded": 2},
            "progress": 100,
            "progress_message": "2 of 2 done",
            "error": "",
            "worker": "devflow-1:2314",
            "created_at": "2026-11-26T09:40:00Z",
            "started_at": "2026-11-26T09:40:01Z",
            "finished_at": "2026-11-26T09:40:04Z",
            "log_line_count": 6,
        },
        "summary": {"succeeded": 2},
        "results": [
            {
                "id": 23,
                "server": 3,
                "server_name": "web-1",
                "status": "succeeded",
                "exit_status": 0,
                "output": "active\n",
                "error": "",
                "started_at": "2026-11-26T09:40:01Z",
                "finished_at": "2026-11-26T09:40:03Z",
            },
            {
                "id": 24,
                "server": 4,
                "server_name": "web-2",
                "status": "succeeded",
                "exit_status": 0,
                "output": "active\n",
                "error": "",
                "started_at": "2026-11-26T09:40:01Z",
                "finished_at": "2026-11-26T09:40:04Z",
            },
        ],
    },
}
