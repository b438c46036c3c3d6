"""The deploy pipeline: phases run in lockstep on every server of an environment.

fetch → check out + shared paths + .env → build → deploy hooks → smoke check →
swap `current` → post-deploy hooks → health check → purge old releases.

A failure before the swap removes the new release directory and leaves
`current` untouched everywhere. A failure after the swap (a hook, the health
check, a cancel) re-points `current` to the release it replaced, on every
server that was switched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from devflow.core.jobs import JobCancelled, JobError, JobKind
from devflow.core.models.jobs import LogStream
from devflow.deployments import releases, remote
from devflow.deployments.models import Deployment, Release
from devflow.projects.services import render_dotenv
from devflow.projects.validation import repository_kind as remote_kind
from devflow.servers import services as server_services
from devflow.servers.models import Server, SshKey
from devflow.transport.base import Result
from devflow.transport.commands import Command
from devflow.transport.errors import TransportError
from devflow.transport.local import LocalSession
from devflow.transport.ssh import SshSession

Session = SshSession | LocalSession
KEY_FILE = ".devflow/deploy_key"


@dataclass
class Host:
    server: Server
    session: Session | None = None
    previous: str = ""  # the release `current` pointed to before our swap
    swapped: bool = False
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.server.name


class StepFailed(JobError):
    """A phase failed; the message names the server and the reason."""


def explain(stderr: str, result: Result, what: str, snapshot: dict[str, Any]) -> str:
    """Turn a failed command's output into the sentence a user needs."""
    text = stderr
    url = snapshot.get("repository_url", "")
    if "No space left on device" in text:
        return "the server's disk is full (No space left on device)"
    if "devflow:error:missing-branch" in text:
        return f"branch {snapshot.get('branch')!r} does not exist in {url}"
    if "devflow:error:missing-commit" in text:
        return f"commit {snapshot.get('requested_sha', '')[:12]} is not in {url}"
    if "devflow:error:missing-release" in text:
        return "the release directory is gone from the server (purged)"
    if "Permission denied (publickey" in text or "Host key verification failed" in text:
        return (
            f"{url} refused the connection: a private repository needs a deploy key "
            "that the repository accepts"
        )
    if (
        "could not read Username" in text
        or "terminal prompts disabled" in text
        or "Authentication failed" in text
    ):
        return f"{url} asks for credentials (a private repository); use an ssh URL and a deploy key"
    if "Could not resolve host" in text:
        return f"the repository's host name in {url} does not resolve"
    if (
        "does not appear to be a git repository" in text
        or "not found" in text.lower()
        or "does not exist" in text
    ):
        return f"the repository {url} does not exist or cannot be read"
    last = [line for line in text.splitlines() if line.strip()][-3:]
    detail = (": " + " / ".join(last)[:300]) if last else ""
    return f"{what} failed with {result.summary()}{detail}"


class Pipeline:
    """Run one deployment (or rollback) on its servers, recording every step."""

    def __init__(self, kind: JobKind, deployment: Deployment) -> None:
        self.kind = kind
        self.deployment = deployment
        self.environment = deployment.environment
        self.snapshot: dict[str, Any] = deployment.pipeline_snapshot
        self.variables = deployment.environment_variables()
        self.base: str = self.snapshot["deploy_path"]
        self.timeout = int(self.snapshot.get("command_timeout_seconds", 600))
        self.hosts: list[Host] = []
        self.steps: list[dict[str, Any]] = []
        for value in self.variables.values():
            if len(value) >= 4:
                kind.redact(value)

    # Recording -----------------------------------------------------------
    def log(self, host: Host | None, text: str, stream: str = LogStream.INFO) -> None:
        prefix = f"[{host.name}] " if host is not None and len(self.hosts) > 1 else ""
        for line in text.splitlines() or [""]:
            self.kind.log(prefix + line, stream)

    def _save_steps(self) -> None:
        Deployment.objects.filter(pk=self.deployment.pk).update(steps=self.steps)

    def step(self, key: str, label: str, total: int) -> _Step:
        return _Step(self, key, label, total)

    # Running commands ------------------------------------------------------
    def run_on(
        self,
        host: Host,
        command: Command,
        *,
        timeout: float,
        what: str = "",
        quiet: bool = False,
    ) -> Result:
        """Run `command` on one host; raise StepFailed with a readable reason on failure."""
        assert host.session is not None
        self.kind.check_cancelled()
        if not quiet:
            self.log(host, f"$ {command.describe()}")

        def on_line(stream: str, line: str) -> None:
            if line.startswith(remote.MARK):
                return
            self.log(host, line, stream)

        try:
            result = host.session.stream(command, on_line=on_line, timeout=timeout)
        except TransportError as error:
            raise StepFailed(f"{host.name}: {error.message}") from None
        self.kind.check_cancelled()
        if result.cancelled:
            raise JobCancelled()
        if result.timed_out:
            raise StepFailed(
                f"{host.name}: `{command.describe()}` did not finish within {timeout:g} s "
                "and was stopped"
            )
        if not result.ok:
            reason = explain(
                result.stderr, result, f"`{what or command.describe()}`", self.snapshot
            )
            raise StepFailed(f"{host.name}: {reason}")
        return result

    def on_hosts(self, hosts: list[Host], action: Callable[[Host], object]) -> None:
        """Run `action` on every host at once; wait for all; raise the first failure."""
        if len(hosts) == 1:
            action(hosts[0])
            return
        errors: list[BaseException] = []
        with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            for future in [pool.submit(action, host) for host in hosts]:
                error = future.exception()
                if error is not None:
                    errors.append(error)
        for error in errors:
            if isinstance(error, JobCancelled):
                raise error
        if errors:
            raise errors[0]

    def run_hooks(self, hooks: list[dict[str, Any]], directory: str) -> None:
        exports = remote.exports_of(self.variables)
        for hook in hooks:
            targets = self.hosts[:1] if hook.get("once") else self.hosts
            if hook.get("once") and len(self.hosts) > 1:
                self.log(None, f"(runs once, on {targets[0].name}) {hook['run']}")
            command = remote.hook(directory, hook["run"], exports)

            def run_hook(host: Host, command: Command = command) -> None:
                self.run_on(host, command, timeout=self.timeout)

            self.on_hosts(targets, run_hook)

    # Connections -----------------------------------------------------------
    def connect(self) -> None:
        ids = self.snapshot.get("server_ids") or []
        servers = list(
            Server.objects.select_related("ssh_key").filter(
                team_id=self.deployment.team_id, pk__in=ids
            )
        )
        if not servers:
            raise JobError("The environment has no servers to deploy to.")
        servers.sort(key=lambda s: ids.index(s.pk))
        missing = len(ids) - len(servers)
        if missing:
            raise JobError(f"{missing} of the environment's servers no longer exist.")
        self.hosts = [Host(server=server) for server in servers]

        def open_one(host: Host) -> None:
            try:
                session = server_services.open_session(host.server)
            except TransportError as error:
                raise StepFailed(f"{host.name}: {error.message}") from None
            except server_services.ServerError as error:
                raise StepFailed(f"{host.name}: {error}") from None
            host.session = session
            self.kind.on_cancel(session.cancel)
            self.kind.on_finish(session.close)

        self.on_hosts(self.hosts, open_one)

    # Phases -----------------------------------------------------------------
    def install_deploy_key(self, host: Host) -> str:
        """Put the deploy key where git's ssh reads it (mode 600); return its path or ""."""
        key = self._deploy_key()
        if not key:
            return ""
        path = f"{self.base}/{KEY_FILE}"
        write = remote.write_key(path)
        self.run_on(
            host, Command(argv=write.argv, stdin=key.rstrip() + "\n", label=write.label),
            timeout=30, quiet=True,
        )  # fmt: skip
        return path

    def fetch(self) -> None:
        branch = self.snapshot["branch"]
        sha = self.snapshot.get("requested_sha", "")

        def fetch_on(host: Host) -> None:
            key_path = self.install_deploy_key(host)
            wanted = 20 if host is self.hosts[0] else 0
            command = remote.fetch(self.base, self.snapshot["repository_url"], branch, sha,
                                   key_path, log_count=wanted)  # fmt: skip
            result = self.run_on(host, command, timeout=self.timeout, what="git fetch")
            host.outputs["fetch"] = result.stdout

        self.on_hosts(self.hosts, fetch_on)
        commits = {
            self._marker(host.outputs["fetch"], "commit") for host in self.hosts
        }  # lockstep: every server must resolve the same commit
        if len(commits) != 1:
            raise JobError("The servers resolved different commits; is the mirror out of date?")
        sha, author, message = (commits.pop() + "\x1f\x1f").split("\x1f")[:3]
        if not sha:
            raise JobError("Could not read the commit to deploy.")
        self.deployment.commit_sha, self.deployment.commit_author = sha, author[:200]
        self.deployment.commit_message = message[:500]
        Deployment.objects.filter(pk=self.deployment.pk).update(
            commit_sha=sha, commit_author=author[:200], commit_message=message[:500]
        )
        self.log(None, f"Deploying {sha[:12]} \u201c{message}\u201d by {author}.")
        releases.record_commits(self.environment, self.hosts[0].outputs["fetch"])

    def _deploy_key(self) -> str:
        """The deploy key's private half, read now (snapshots never hold it)."""
        key_id = self.snapshot.get("deploy_key_id")
        if not key_id or remote_kind(self.snapshot["repository_url"]) != "ssh":
            return ""
        key = SshKey.objects.filter(pk=key_id, team_id=self.deployment.team_id).first()
        if key is None:
            raise JobError("The project's deploy key was deleted; pick another one.")
        return key.private_key or ""

    @staticmethod
    def _marker(output: str, name: str) -> str:
        prefix = f"{remote.MARK}{name}:"
        for line in output.splitlines():
            if line.startswith(prefix):
                return line[len(prefix) :]
        return ""

    def prepare(self, release: Release) -> None:
        dotenv = render_dotenv(self.variables)
        command = remote.prepare_release(
            self.base, release.name, release.commit_sha, self.snapshot.get("shared_paths", []),
            dotenv,
        )  # fmt: skip
        self.on_hosts(
            self.hosts, lambda host: self.run_on(host, command, timeout=self.timeout,
                                                 what="checking out the release")
        )  # fmt: skip
        if dotenv:
            self.log(None, f"Wrote .env with {len(self.variables)} variables (values hidden).")

    def write_env(self, release_name: str) -> None:
        dotenv = render_dotenv(self.variables)
        command = Command.script(
            'f="$1/releases/$2/.env"; [ -d "$1/releases/$2" ] || '
            '{ echo "devflow:error:missing-release" >&2; exit 5; }; '
            'if [ "$3" = 1 ]; then (umask 077; cat > "$f"); else rm -f "$f"; fi',
            self.base, release_name, "1" if dotenv else "0", label="restore .env",
        )  # fmt: skip
        command = Command(argv=command.argv, stdin=dotenv or None, label=command.label)
        self.on_hosts(self.hosts, lambda host: self.run_on(host, command, timeout=30))

    def smoke(self, release: Release) -> bool:
        check = self.snapshot.get("smoke_command", "")
        if not check:
            return False
        directory = f"{self.base}/releases/{release.name}"
        self.run_hooks([{"run": check, "once": False}], directory)
        return True

    def swap(self, name: str) -> None:
        def swap_on(host: Host) -> None:
            result = self.run_on(host, remote.swap(self.base, name), timeout=30)
            host.previous = self._marker(result.stdout, "previous")
            host.swapped = True

        self.on_hosts(self.hosts, swap_on)

    def health(self) -> bool:
        url = self.snapshot.get("health_check_url", "")
        if not url:
            return False
        tries = int(self.snapshot.get("health_check_retries", 5))

        def check(host: Host) -> None:
            try:
                result = self.run_on(
                    host, remote.health_check(url, tries), timeout=tries * 12 + 10,
                    what="health check",
                )  # fmt: skip
            except StepFailed as failed:
                raise StepFailed(f"{failed} ({url} did not answer 2xx/3xx)") from None
            self.log(host, f"{url} answered HTTP {self._marker(result.stdout, 'health')}.")

        self.on_hosts(self.hosts, check)
        return True

    def purge(self, keep: list[str]) -> None:
        self.on_hosts(
            self.hosts, lambda host: self.run_on(host, remote.purge(self.base, keep), timeout=300)
        )

    # Recovery ------------------------------------------------------------
    def _fresh_session(self, host: Host) -> Session:
        """Cleanup after a cancel needs a session the cancel did not close."""
        return server_services.open_session(host.server)

    def undo_swaps(self) -> list[str]:
        """Point `current` back where it was on every switched server; return what happened."""
        notes = []
        for host in self.hosts:
            if not host.swapped:
                continue
            if not host.previous:
                notes.append(f"{host.name}: no earlier release to return to")
                continue
            try:
                with self._fresh_session(host) as session:
                    result = session.run(remote.swap(self.base, host.previous), timeout=30)
                if result.ok:
                    host.swapped = False
                    notes.append(f"{host.name}: current re-pointed to {host.previous}")
                    self.log(host, f"current -> releases/{host.previous} (restored)")
                else:
                    notes.append(f"{host.name}: could not re-point ({result.summary()})")
            except (TransportError, server_services.ServerError) as error:
                notes.append(f"{host.name}: could not re-point ({error})")
        return notes

    def remove_release(self, name: str) -> None:
        for host in self.hosts:
            if host.session is None:
                continue
            try:
                with self._fresh_session(host) as session:
                    session.run(remote.remove_release(self.base, name), timeout=120)
            except (TransportError, server_services.ServerError):
                self.log(host, f"Could not remove releases/{name}; the next deploy purges it.")

    def restart_previous(self, hooks: list[dict[str, Any]]) -> None:
        """Run post-deploy hooks again after a re-point, so services load the old code."""
        if not hooks:
            return
        exports = remote.exports_of(self.variables)
        directory = f"{self.base}/current"
        for host in self.hosts:
            try:
                with self._fresh_session(host) as session:
                    for hook in hooks:
                        if hook.get("once") and host is not self.hosts[0]:
                            continue

                        def on_line(stream: str, line: str, h: Host = host) -> None:
                            self.log(h, line, stream)

                        result = session.stream(
                            remote.hook(directory, hook["run"], exports),
                            on_line=on_line,
                            timeout=self.timeout,
                        )
                        self.log(host, f"(restart) {hook['run']}: {result.summary()}")
                    self._recheck_health(host, session)
            except (TransportError, server_services.ServerError) as error:
                self.log(host, f"Could not run post-deploy hooks again: {error}", LogStream.STDERR)

    def _recheck_health(self, host: Host, session: Session) -> None:
        url = self.snapshot.get("health_check_url", "")
        if not url:
            return
        tries = int(self.snapshot.get("health_check_retries", 5))
        result = session.run(remote.health_check(url, tries), timeout=tries * 12 + 10)
        state = "healthy again" if result.ok else "STILL UNHEALTHY"
        self.log(
            host, f"After the re-point {url} is {state} ({self._marker(result.stdout, 'health')})."
        )


class _Step:
    """Context manager recording one step's status and duration on the deployment."""

    def __init__(self, pipeline: Pipeline, key: str, label: str, total: int) -> None:
        self.pipeline, self.key, self.label, self.total = pipeline, key, label, total
        self.skipped = False

    def __enter__(self) -> _Step:
        pipeline = self.pipeline
        pipeline.kind.check_cancelled()
        self.started = time.monotonic()
        self.entry: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "status": "running",
            "started_at": timezone.now().isoformat(),
        }
        pipeline.steps.append(self.entry)
        pipeline._save_steps()
        done = len(pipeline.steps) - 1
        pipeline.kind.progress(int(100 * done / self.total), self.label)
        pipeline.log(None, f"── {self.label}")
        return self

    def skip(self, note: str) -> None:
        """Nothing to do in this step (no commands, no URL); the page says so."""
        self.entry["note"] = note
        self.skipped = True
        self.pipeline.log(None, note)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.entry["seconds"] = round(time.monotonic() - self.started, 3)
        if exc_type is None:
            self.entry["status"] = "skipped" if self.skipped else "ok"
        elif issubclass(exc_type, JobCancelled):
            self.entry["status"] = "cancelled"
        else:
            self.entry["status"] = "failed"
            self.entry["error"] = str(exc)[:500]
        self.pipeline._save_steps()
