"""Checks for the user text that reaches a server: repository URLs, branches, paths, keys.

These values only ever travel as separate, quoted arguments, but git reads an
argument that starts with `-` as an option and a URL like `ext::sh -c ...` as
a command to run, so they are refused here, before anything is stored.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!-)[A-Za-z0-9._~/+-]+$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9._~/+@-]+$")
_BRANCH = re.compile(r"^[A-Za-z0-9._/+-]+$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_SYSTEM_DIRS = {
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc",
    "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/www",  # noqa: S108
}  # fmt: skip


def repository_kind(url: str) -> str:
    """Return "https", "ssh" or "local" for a URL that `validate_repository_url` accepts."""
    if url.startswith(("https://", "http://")):
        return "https"
    if url.startswith("ssh://") or _SCP_LIKE.match(url):
        return "ssh"
    return "local"


def validate_repository_url(url: str) -> str:
    url = url.strip()
    if not url:
        raise ValidationError("Enter the repository's URL or path.")
    if "::" in url or url.lower().startswith(("ext:", "fd:")):
        raise ValidationError(
            "Remote helper URLs such as ext:: are refused: they run commands on the server."
        )
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValidationError("A repository URL cannot contain spaces or control characters.")
    if url.startswith("-"):
        raise ValidationError("A repository URL cannot start with '-' (git would read an option).")
    if url.startswith(("https://", "http://", "ssh://")):
        parts = urlsplit(url)
        if not parts.hostname:
            raise ValidationError("The repository URL has no host name.")
        if not parts.path or parts.path == "/":
            raise ValidationError("The repository URL has no path to a repository.")
        if parts.password:
            raise ValidationError(
                "Do not put a password in the URL; use a deploy key (ssh) or a token variable."
            )
        return url
    if url.startswith("file://"):
        url = url[len("file://") :]
    if _SCP_LIKE.match(url):
        return url
    if url.startswith("/"):
        if not _SAFE_PATH.match(url) or "/../" in f"{url}/":
            raise ValidationError(
                "A local repository path may use letters, digits and . _ ~ / + @ - only."
            )
        return url
    raise ValidationError(
        "Use an https:// URL, an ssh:// or git@host:path URL, or an absolute path on the server."
    )


def validate_branch(branch: str) -> str:
    branch = branch.strip()
    if not branch:
        raise ValidationError("Enter a branch name.")
    if (
        not _BRANCH.match(branch)
        or branch.startswith(("-", "/", "."))
        or branch.endswith(("/", ".", ".lock"))
        or ".." in branch
        or "//" in branch
        or "/." in branch
        or len(branch) > 200
    ):
        raise ValidationError(
            f"{branch!r} is not a valid branch name: use letters, digits and . _ / + - "
            "(not starting with - or ending with /)."
        )
    return branch


def validate_commit_sha(sha: str) -> str:
    sha = sha.strip().lower()
    if not _SHA.match(sha):
        raise ValidationError("A commit is 7 to 40 hexadecimal characters.")
    return sha


def validate_deploy_path(path: str) -> str:
    path = path.strip().rstrip("/") or "/"
    if not path.startswith("/"):
        raise ValidationError("The deploy path must be absolute, e.g. /var/www/shop.")
    if not _SAFE_PATH.match(path) or any(p in {".", ".."} for p in path.split("/")):
        raise ValidationError(
            "The deploy path may use letters, digits and . _ ~ / + @ - only, without '..'."
        )
    if path in _SYSTEM_DIRS:
        raise ValidationError(f"{path} is a system directory; deploy into a folder of its own.")
    return path


def validate_shared_path(path: str) -> str:
    path = path.strip().rstrip("/")
    if path.startswith("/"):
        raise ValidationError(f"Shared path {path!r} must be relative to the deploy folder.")
    if not path or not _SAFE_PATH.match(path) or path.startswith("-"):
        raise ValidationError(
            f"Shared path {path!r}: use a relative path of letters, digits and . _ ~ / + @ -."
        )
    if any(p in {"", ".", ".."} for p in path.split("/")):
        raise ValidationError(f"Shared path {path!r} may not contain '.' or '..' parts.")
    return path


def validate_env_key(key: str) -> str:
    key = key.strip()
    if not _ENV_KEY.match(key) or len(key) > 100:
        raise ValidationError(
            f"{key!r} is not a valid variable name: "
            "letters, digits and _, not starting with a digit."
        )
    return key


def validate_health_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationError("The health check URL must be an http:// or https:// URL.")
    if any(ch.isspace() for ch in url):
        raise ValidationError("The health check URL cannot contain spaces.")
    return url


def parse_commands(text: str) -> list[dict[str, Any]]:
    """One command per line; a line starting with `once:` runs on one server only."""
    hooks = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "\x00" in line:
            raise ValidationError(f"Line {number} contains a NUL byte.")
        once = False
        if line.lower().startswith("once:"):
            once, line = True, line[5:].strip()
            if not line:
                raise ValidationError(f"Line {number}: 'once:' needs a command after it.")
        hooks.append({"run": line, "once": once})
    return hooks


def format_commands(hooks: list[dict[str, Any]]) -> str:
    return "\n".join(("once: " if h.get("once") else "") + h["run"] for h in hooks)
