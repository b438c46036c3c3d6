"""Where `devflow login` keeps the URL and token: $XDG_CONFIG_HOME/devflow/config.json, 0600."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


class NotLoggedIn(Exception):
    pass


@dataclass(frozen=True)
class Login:
    url: str
    token: str


def path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "devflow" / "config.json"


def save(login: Login) -> Path:
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created 0600 from the start: the token never sits in a file others can read.
    descriptor = os.open(target.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"url": login.url, "token": login.token}, file)
    os.replace(target.with_suffix(".tmp"), target)
    os.chmod(target, 0o600)
    return target


def load() -> Login:
    """The saved login; DEVFLOW_URL and DEVFLOW_TOKEN override it (CI)."""
    url, token = os.environ.get("DEVFLOW_URL", ""), os.environ.get("DEVFLOW_TOKEN", "")
    if not (url and token):
        try:
            data = json.loads(path().read_text())
        except (OSError, ValueError):
            data = {}
        url, token = url or data.get("url", ""), token or data.get("token", "")
    if not (url and token):
        raise NotLoggedIn("Not logged in: run `devflow login URL` first.")
    return Login(url=url.rstrip("/"), token=token)


def forget() -> bool:
    try:
        path().unlink()
    except FileNotFoundError:
        return False
    return True
