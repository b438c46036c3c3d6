"""The deploy pipeline against real git repositories, the local machine and a real sshd."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from django.db import connection

from devflow.core.models import JobStatus
from devflow.deployments import services
from devflow.deployments.models import DeployTrigger, Release, ReleaseStatus
from devflow.projects import services as project_services
from tests.conftest import free_port
from tests.deployments.conftest import current_of, log_of, run_deployment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_queue")]


@pytest.fixture
def web_root(tmp_path) -> Iterator[tuple[Path, str]]:  # type: ignore[no-untyped-def]
    """A web server serving `<deploy path>/current`, following the symlink on every request."""
    deploy = tmp_path / "www" / "served"
    deploy.mkdir(parents=True)
    port = free_port()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(deploy / "current"))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield deploy, f"http://127.0.0.1:{port}"
    server.shutdown()


def test_static_site_deploys_and_updates_atomically_on_this_machine(
    git_repo, local_server, make_project, alice, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    repo = git_repo("site")
    project = make_project(repo, [local_server])
    environment = project.environments.get()
    first = run_deployment(services.request_deployment(alice, environment))
    assert first.job.status == JobStatus.SUCCEEDED, log_of(first)
    deploy = Path(environment.deploy_path)
    assert (deploy / "current" / "index.html").read_text() == "<h1>Version 1</h1>\n"
    assert (deploy / "current" / "REVISION").read_text().strip() == first.commit_sha
    assert not (deploy / "current" / ".env").exists()  # no variables: no .env in a web root
    assert first.commit_message == "First version"
    assert first.commit_author == "Dana Developer <dana@example.test>"
    assert first.trigger == DeployTrigger.MANUAL and first.actor == alice
    assert [s["key"] for s in first.steps] == [
        "connect", "fetch", "prepare", "build", "deploy_hooks", "smoke", "swap", "post_deploy",
        "health", "purge",
    ]  # fmt: skip
    assert {s["key"]: s["status"] for s in first.steps} == {
        **dict.fromkeys(["connect", "fetch", "prepare", "smoke", "swap", "purge"], "ok"),
        **dict.fromkeys(["build", "deploy_hooks", "post_deploy", "health"], "skipped"),
    }
    assert all(s["seconds"] >= 0 for s in first.steps)
    assert first.pipeline_snapshot["smoke_command"] == "test -f index.html"
    assert "Release" in first.outcome and "is live" in first.outcome

    sha2 = repo.commit({"index.html": "<h1>Version 2</h1>\n"}, "Second version")
    second = run_deployment(services.request_deployment(alice, environment))
    assert second.job.status == JobStatus.SUCCEEDED, log_of(second)
    assert second.commit_sha == sha2
    assert (deploy / "current" / "index.html").read_text() == "<h1>Version 2</h1>\n"
    assert (deploy / "current").is_symlink()
    assert current_of(deploy) == second.release_name
    statuses = dict(Release.objects.values_list("name", "status"))
    assert statuses == {first.release_name: ReleaseStatus.KEPT, second.release_name: "active"}
    environment.refresh_from_db()
    assert environment.head_sha == sha2 and environment.behind_count == 0
    assert [c["message"] for c in environment.commits] == ["Second version", "First version"]


def test_deploy_over_ssh_links_shared_paths_and_writes_env(
    git_repo, sshd_server, make_server, make_project, alice
) -> None:  # type: ignore[no-untyped-def]
    repo = git_repo("app", {"index.html": "hi\n", "storage/seed.txt": "seed\n"})
    server = make_server(sshd_server)
    project = make_project(
        repo,
        [server],
        template="custom",
        shared_paths=["storage"],
        build_commands=[{"run": 'echo "built with $APP_MODE" > built.txt', "once": False}],
        post_deploy_commands=[
            {"run": "echo post >> ../../shared/storage/hooks.log", "once": False}
        ],
    )
    environment = project.environments.get()
    project_services.set_variable(alice, environment, "APP_MODE", "production")
    project_services.set_variable(alice, environment, "API_TOKEN", "s3cr3t-t0ken-value")
    deployment = run_deployment(services.request_deployment(alice, environment))
    assert deployment.job.status == JobStatus.SUCCEEDED, log_of(deployment)
    current = Path(environment.deploy_path) / "current"
    assert (current / "built.txt").read_text() == "built with production\n"
    assert (current / "storage").is_symlink()
    assert (current / "storage" / "seed.txt").read_text() == "seed\n"
    assert (current / "storage" / "hooks.log").read_text() == "post\n"
    env_file = current / ".env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert 'APP_MODE="production"' in env_file.read_text() or "APP_MODE='production'" in (
        env_file.read_text()
    )
    log = log_of(deployment)
    assert "s3cr3t-t0ken-value" not in log
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT env_snapshot FROM deployments_deployment WHERE id = %s", [deployment.pk]
        )
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and "s3cr3t" not in stored


def test_failed_build_leaves_the_live_release_untouched(
    git_repo, local_server, make_project, alice
) -> None:  # type: ignore[no-untyped-def]
    repo = git_repo("site")
    project = make_project(repo, [local_server])
    environment = project.environments.get()
    good = run_deployment(services.request_deployment(alice, environment))
    assert good.job.status == JobStatus.SUCCEEDED
    repo.commit({"index.html": "<h1>broken</h1>\n"}, "Break the build")
    project.build_commands = [
        {"run": "echo compiling; echo 'syntax error' >&2; exit 2", "once": False}
    ]
    project.save()
    bad = run_deployment(services.request_deployment(alice, environment))
    assert bad.job.status == JobStatus.FAILED
    assert "exit status 2" in bad.job.error and "syntax error" in bad.job.error
    assert "live release is untouched" in bad.outcome
    deploy = Path(environment.deploy_path)
    assert current_of(deploy) == good.release_name
    assert (deploy / "current" / "index.html").read_text() == "<h1>Version 1</h1>\n"
    assert not (deploy / "releases" / bad.release_name).exists()
    assert Release.objects.get(name=bad.release_name).status == ReleaseStatus.FAILED
    build = next(s for s in bad.steps if s["key"] == "build")
    assert build["status"] == "failed"
    assert "syntax error" in log_of(bad)


def test_failed_health_check_re_points_current_to_the_previous_release(
    git_repo, local_server, make_project, alice, web_root
) -> None:  # type: ignore[no-untyped-def]
    deploy, base_url = web_root
    repo = git_repo("site", {"index.html": "v1\n", "health.txt": "ok\n"})
    project = make_project(
        repo, [local_server], deploy_path=str(deploy), health_check_url=f"{base_url}/health.txt",
        health_check_retries=2,
    )  # fmt: skip
    environment = project.environments.get()
    good = run_deployment(services.request_deployment(alice, environment))
    assert good.job.status == JobStatus.SUCCEEDED, log_of(good)
    repo.git("rm", "-q", "health.txt")
    repo.commit({"index.html": "v2\n"}, "Lose the health page")
    bad = run_deployment(services.request_deployment(alice, environment))
    assert bad.job.status == JobStatus.FAILED
    assert "health" in bad.job.error and "re-pointed" in bad.job.error
    assert current_of(deploy) == good.release_name
    assert (deploy / "current" / "index.html").read_text() == "v1\n"
    statuses = dict(Release.objects.values_list("name", "status"))
    assert statuses[good.release_name] == ReleaseStatus.ACTIVE
    assert statuses[bad.release_name] == ReleaseStatus.FAILED
    assert "HTTP 404" in log_of(bad)


def test_keeps_the_newest_releases_and_purges_older_ones(
    git_repo, local_server, make_project, alice
) -> None:  # type: ignore[no-untyped-def]
    repo = git_repo("site")
    project = make_project(repo, [local_server], keep_releases=2)
    environment = project.environments.get()
    names = []
    for number in range(3):
        repo.commit({"index.html": f"v{number + 2}\n"}, f"Version {number + 2}")
        deployment = run_deployment(services.request_deployment(alice, environment))
        assert deployment.job.status == JobStatus.SUCCEEDED, log_of(deployment)
        names.append(deployment.release_name)
    on_disk = sorted(p.name for p in (Path(environment.deploy_path) / "releases").iterdir())
    assert on_disk == sorted(names[-2:])
    assert Release.objects.get(name=names[0]).status == ReleaseStatus.PURGED
