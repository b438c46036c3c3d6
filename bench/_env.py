"""What every benchmark that starts DevFlow Pro shares: a clean environment on the embedded
defaults, a free loopback port, and unbuffered printing."""

from __future__ import annotations

import os
import socket
from pathlib import Path

# Environment variables that would switch DevFlow away from its embedded defaults.
SCALE_OUT_VARS = (
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "REDIS_URL",
    "REDIS_URL_FILE",
    "DEVFLOW_SECRET_KEYS",
    "DEVFLOW_SECRET_KEYS_FILE",
    "DEVFLOW_SECRET_KEY_FILE",
    "DEVFLOW_JOB_MODULES",
    "DEVFLOW_DEBUG",
    "DEVFLOW_HOST",
    "DEVFLOW_PORT",
    "DEVFLOW_ALLOWED_HOSTS",
    "DEVFLOW_DB_CONN_MAX_AGE",
    "DEVFLOW_WORKER_CONCURRENCY",
    "DEVFLOW_API_RATE_PER_TOKEN",
    "DEVFLOW_API_RATE_PER_ADDRESS",
)


def say(message: str = "") -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This environment without the scale-out variables, on `data_dir`, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in SCALE_OUT_VARS}
    env["DEVFLOW_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
