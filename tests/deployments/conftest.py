"""Real git repositories, projects on real sshd servers, and a way to run deploy jobs here."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, TestCase

from devflow.core.jobs import execute_job
from devflow.deployments.models import Deployment
from devflow.projects import services as project_services
from devflow.projects.models import Environment, Project
from devflow.servers.models import Server
from tests.servers.conftest import client_key, make_server  # noqa: F401  (fixtures)
from tests.services.test_celery_workers import broker  # noqa: F401  (fixture)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dana Developer",
    "GIT_AUTHOR_EMAIL": "dana@example.test",
    "GIT_COMMITTER_NAME": "Dana Developer",
    "GIT_COMMITTER_EMAIL": "dana@example.test",
    "HOME": "/root",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}


@dataclass
class GitRepo:
    """A bare repository (what servers fetch) and a work tree to commit into it."""

    bare: Path
    work: Path

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.work, env=GIT_ENV, check=True, capture_output=True, text=True
        ).stdout.strip()

    def commit(self, files: dict[str, str], message: str, branch: str = "main") -> str:
        self.git("checkout", "-q", "-B", branch)
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.git("push", "-q", "origin", f"{branch}:{branch}")
        return self.git("rev-parse", "HEAD")

    @property
    def url(self) -> str:
        return str(self.bare)


@pytest.fixture
def git_repo(tmp_path) -> Callable[..., GitRepo]:  # type: ignore[no-untyped-def]
    def make(name: str = "site", files: dict[str, str] | None = None) -> GitRepo:
        bare = tmp_path / f"{name}.git"
        work = tmp_path / f"{name}-work"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True, env=GIT_ENV)
        repo = GitRepo(bare, work)
        repo.commit(files or {"index.html": "<h1>Version 1</h1>\n"}, "First version")
        return repo

    return make


@pytest.fixture
def local_server(acme, alice) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=acme, name="this machine", is_local=True, username="")


@pytest.fixture
def make_project(acme, alice, tmp_path):  # type: ignore[no-untyped-def]
    def make(
        repo: GitRepo,
        servers: list[Server],
        *,
        template: str = "static",
        name: str = "Site",
        deploy_path: str = "",
        health_check_url: str = "",
        branch: str = "main",
        **pipeline: Any,
    ) -> Project:
        project = project_services.create_project(
            alice,
            acme,
            project_services.ProjectData(name=name, repository_url=repo.url, template=template),
            project_services.EnvironmentData(
                branch=branch,
                servers=servers,
                deploy_path=deploy_path or str(tmp_path / "www" / name.lower()),
                health_check_url=health_check_url,
            ),
        )
        if pipeline:
            Project.objects.filter(pk=project.pk).update(**pipeline)
            project.refresh_from_db()
        return project

    return make


@pytest.fixture
def no_queue(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Queue jobs as rows only; tests run them here with `run_deployment`."""
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)


@pytest.fixture
def web1(acme) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=acme, name="web-1", host="10.0.0.5")


@pytest.fixture
def production(shop) -> Environment:  # type: ignore[no-untyped-def]
    return shop.environments.get()


@pytest.fixture
def bob_client(bob) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(bob)
    return client


def post(client, path: str, data: dict | None = None):  # type: ignore[no-untyped-def]
    """POST as a browser would (following the redirect), running on-commit callbacks."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(path, data or {}, follow=True)


def run_deployment(deployment: Deployment) -> Deployment:
    assert deployment.job is not None
    execute_job(deployment.job.pk)
    deployment.refresh_from_db()
    assert deployment.job is not None
    deployment.job.refresh_from_db()
    return deployment


def log_of(deployment: Deployment) -> str:
    assert deployment.job is not None
    return "\n".join(deployment.job.log_lines.values_list("text", flat=True))


def current_of(deploy_path: str | Path) -> str:
    """The release `current` points at, as the web server would follow it."""
    return Path(deploy_path, "current").resolve().name
