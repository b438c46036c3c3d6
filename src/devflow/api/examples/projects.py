"""OpenAPI examples for the projects app's components (see devflow.api.examples).

The Laravel project "Shop" (project 3 of team 1), deployed from `main` to its production
environment (5) on the servers web-1 and web-2 (3 and 4) with the deploy key 2.
"""

from __future__ import annotations

from typing import Any

REPOSITORY_URL = "git@git.example.com:acme/shop.git"
DEPLOY_PATH = "/var/www/shop"
HEALTH_CHECK_URL = "https://shop.example.com/up"

# The Laravel template's pipeline (devflow.projects.frameworks), as a project saves it.
BUILD_COMMANDS: list[dict[str, Any]] = [
    {
        "run": "composer install --no-dev --no-interaction --prefer-dist --optimize-autoloader",
        "once": False,
    },
]
DEPLOY_COMMANDS: list[dict[str, Any]] = [
    {"run": "php artisan migrate --force", "once": True},
    {"run": "php artisan config:cache", "once": False},
    {"run": "php artisan route:cache", "once": False},
    {"run": "php artisan view:cache", "once": False},
]
POST_DEPLOY_COMMANDS: list[dict[str, Any]] = [{"run": "php artisan queue:restart", "once": False}]
PIPELINE: dict[str, Any] = {
    "build_commands": BUILD_COMMANDS,
    "deploy_commands": DEPLOY_COMMANDS,
    "post_deploy_commands": POST_DEPLOY_COMMANDS,
    "smoke_command": "php artisan --version",
    "shared_paths": ["storage"],
    "health_check_path": "/up",
}

PRODUCTION: dict[str, Any] = {"id": 5, "name": "production", "branch": "main"}
STAGING: dict[str, Any] = {"id": 6, "name": "staging", "branch": "develop"}

# The branch's newest commits, newest first, as the refresh job stores them.
COMMITS: list[dict[str, Any]] = [
    {
        "sha": "9d4e1f70a2b3c4d5e6f708192a3b4c5d6e7f8091",
        "author": "Dana Developer",
        "at": "2026-11-26T10:05:17+00:00",
        "message": "Update composer dependencies",
    },
    {
        "sha": "3f2c9ab0c1d2e3f4a5b6c7d8e9f0011223344556",
        "author": "Dana Developer",
        "at": "2026-11-26T09:12:44+00:00",
        "message": "Add the order export",
    },
    {
        "sha": "b71e04d95c6a7b8c9d0e1f2a3b4c5d6e7f809112",
        "author": "Sam Reviewer",
        "at": "2026-11-25T16:40:02+00:00",
        "message": "Fix VAT rounding on invoices",
    },
]

EXAMPLES: dict[str, Any] = {
    "Command": {"run": "php artisan migrate --force", "once": True},
    "EnvironmentBrief": PRODUCTION,
    "Project": {
        "id": 3,
        "team": 1,
        "name": "Shop",
        "repository_url": REPOSITORY_URL,
        "deploy_key": 2,
        "template": "laravel",
        "framework": "laravel",
        **PIPELINE,
        "keep_releases": 5,
        "deploy_timeout_seconds": 900,
        "command_timeout_seconds": 600,
        "health_check_retries": 5,
        "environments": [PRODUCTION, STAGING],
        "created_at": "2026-11-02T14:05:31Z",
    },
    "NewProjectRequest": {
        "team": 1,
        "name": "Shop",
        "repository_url": REPOSITORY_URL,
        "deploy_key": 2,
        "template": "laravel",
        "environment": {
            "name": "production",
            "branch": "main",
            "servers": [3, 4],
            "deploy_path": DEPLOY_PATH,
            "health_check_url": HEALTH_CHECK_URL,
        },
    },
    "NewEnvironmentRequest": {
        "name": "production",
        "branch": "main",
        "servers": [3, 4],
        "deploy_path": DEPLOY_PATH,
        "health_check_url": HEALTH_CHECK_URL,
    },
    "Environment": {
        "id": 5,
        "project": 3,
        "name": "production",
        "branch": "main",
        "servers": [3, 4],
        "deploy_path": DEPLOY_PATH,
        "health_check_url": HEALTH_CHECK_URL,
        "head_sha": COMMITS[0]["sha"],
        "behind_count": 1,
        "commits": COMMITS,
        "commits_refreshed_at": "2026-11-26T10:06:03Z",
        "commits_error": "",
        "created_at": "2026-11-02T14:05:31Z",
    },
    # Values are read back only by who may read secrets: a listing usually shows null.
    "Variable": {
        "key": "DB_PASSWORD",
        "value": None,
        "is_secret": True,
        "updated_at": "2026-11-20T16:02:11Z",
    },
    "SetVariableRequest": {"key": "DB_PASSWORD", "value": "k7#Vq9!wZp2rT4mX"},
}
