"""OpenAPI examples for the deployments app's components (see devflow.api.examples).

Deployment 42 (job 77) put commit 3f2c9ab0 of "Shop" live on its production environment,
as release 12; the examples of devflow.api.examples.projects describe the project.
"""

from __future__ import annotations

from typing import Any

from devflow.api.examples.projects import (
    COMMITS,
    DEPLOY_PATH,
    HEALTH_CHECK_URL,
    PIPELINE,
    REPOSITORY_URL,
)

COMMIT = COMMITS[1]
RELEASE_NAME = "20261126093006-42"


def _step(key: str, label: str, started_at: str, seconds: float, **extra: Any) -> dict[str, Any]:
    """One entry of a deployment's `steps`, as the pipeline records it."""
    return {
        "key": key,
        "label": label,
        "status": "ok",
        "started_at": started_at,
        **extra,
        "seconds": seconds,
    }


STEPS = [
    _step("connect", "Connect to servers", "2026-11-26T09:30:01.482113+00:00", 1.204),
    _step("fetch", "Fetch repository", "2026-11-26T09:30:02.690245+00:00", 3.871),
    _step(
        "prepare",
        "Check out release, link shared paths, write .env",
        "2026-11-26T09:30:06.566870+00:00",
        2.315,
    ),
    _step("build", "Build", "2026-11-26T09:30:08.886402+00:00", 41.623),
    _step("deploy_hooks", "Deploy commands", "2026-11-26T09:30:50.514931+00:00", 9.804),
    _step("smoke", "Smoke check in the new release", "2026-11-26T09:31:00.322578+00:00", 0.912),
    _step("swap", f"Switch current to {RELEASE_NAME}", "2026-11-26T09:31:01.238114+00:00", 0.433),
    _step("post_deploy", "Post-deploy commands", "2026-11-26T09:31:01.674390+00:00", 1.107),
    _step("health", "Health check", "2026-11-26T09:31:02.785026+00:00", 2.566),
    _step(
        "purge",
        "Keep the newest releases, remove older ones",
        "2026-11-26T09:31:05.355817+00:00",
        0.84,
    ),
]

# What the deployment ran with, frozen when it was requested (never the variables' values).
SNAPSHOT: dict[str, Any] = {
    "framework": "laravel",
    **PIPELINE,
    "deploy_path": DEPLOY_PATH,
    "health_check_url": HEALTH_CHECK_URL,
    "server_ids": [3, 4],
    "repository_url": REPOSITORY_URL,
    "deploy_key_id": 2,
    "branch": "main",
    "keep_releases": 5,
    "command_timeout_seconds": 600,
    "health_check_retries": 5,
    "deploy_timeout_seconds": 900,
}

# Composer writes its progress to stderr.
LAST_LINE = {
    "seq": 17,
    "stream": "stderr",
    "text": "[web-1] Installing dependencies from lock file",
}

EXAMPLES: dict[str, Any] = {
    "Deployment": {
        "id": 42,
        "team": 1,
        "project": 3,
        "project_name": "Shop",
        "environment": 5,
        "environment_name": "production",
        "status": "succeeded",
        "trigger": "api",
        "actor": "alice",
        "branch": "main",
        "requested_sha": "",
        "commit_sha": COMMIT["sha"],
        "commit_message": COMMIT["message"],
        "commit_author": COMMIT["author"],
        "release": 12,
        "release_name": RELEASE_NAME,
        "release_status": "active",
        "rollback_of": None,
        "redeploy_of": None,
        "server_names": ["web-1", "web-2"],
        "steps": STEPS,
        "outcome": f"Release {RELEASE_NAME} ({COMMIT['sha'][:8]}) is live.",
        "error": "",
        "job": 77,
        "created_at": "2026-11-26T09:30:00Z",
        "started_at": "2026-11-26T09:30:01Z",
        "finished_at": "2026-11-26T09:31:06Z",
        "pipeline": SNAPSHOT,
        "variable_names": ["APP_ENV", "APP_KEY", "DB_PASSWORD"],
    },
    "DeployRequestRequest": {"commit_sha": COMMIT["sha"][:7], "if_busy": "wait"},
    "IfBusyRequest": {"if_busy": "fail"},
    # A deployment still building: pass `after` back to get the lines that follow.
    "DeploymentLog": {
        "lines": [
            {"seq": 14, "stream": "info", "text": "── Build"},
            {
                "seq": 15,
                "stream": "info",
                "text": "[web-1] $ composer install --no-dev --no-interaction --prefer-dist "
                "--optimize-autoloader",
            },
            {
                "seq": 16,
                "stream": "info",
                "text": "[web-2] $ composer install --no-dev --no-interaction --prefer-dist "
                "--optimize-autoloader",
            },
            LAST_LINE,
        ],
        "job": {
            "status": "running",
            "status_label": "Running",
            "colour": "blue",
            "progress": 30,
            "progress_message": "Build",
        },
        "after": 17,
        "finished": False,
    },
    "Release": {
        "id": 12,
        "project": 3,
        "environment": 5,
        "deployment": 42,
        "name": RELEASE_NAME,
        "commit_sha": COMMIT["sha"],
        "status": "active",
        "can_roll_back_to": False,
        "created_at": "2026-11-26T09:30:06Z",
        "activated_at": "2026-11-26T09:31:01Z",
        "purged_at": None,
    },
    # 22:00 in Paris (UTC+1 in November) is 21:00 UTC.
    "Schedule": {
        "id": 9,
        "team": 1,
        "project": 3,
        "environment": 5,
        "run_at": "2026-11-28T21:00:00Z",
        "local_run_at": "2026-11-28T22:00",
        "timezone": "Europe/Paris",
        "remind_minutes_before": 15,
        "note": "Maintenance window: database upgrade",
        "status": "pending",
        "deployment": None,
        "error": "",
        "created_by": "alice",
        "created_at": "2026-11-26T09:45:12Z",
    },
}
