"""Rollback: re-point `current` to a kept release with its own environment, no build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devflow.core.models import JobStatus
from devflow.deployments import services
from devflow.deployments.models import DeployTrigger, Release, ReleaseStatus
from devflow.projects import services as project_services
from devflow.projects.services import ProjectError
from tests.deployments.conftest import current_of, log_of, run_deployment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_queue")]


@pytest.fixture
def two_releases(git_repo, sshd_server, make_server, make_project, alice):  # type: ignore[no-untyped-def]
    """v1 deployed with GREETING=one, then v2 with GREETING=two, over ssh."""
    repo = git_repo("site")
    project = make_project(
        repo,
        [make_server(sshd_server)],
        build_commands=[{"run": "touch built-marker", "once": False}],
        post_deploy_commands=[
            {"run": 'printf "%s" "$GREETING" > ../../shared/greeting.txt', "once": False}
        ],
    )
    environment = project.environments.get()
    project_services.set_variable(alice, environment, "GREETING", "one")
    first = run_deployment(services.request_deployment(alice, environment))
    assert first.job.status == JobStatus.SUCCEEDED, log_of(first)
    repo.commit({"index.html": "<h1>Version 2</h1>\n"}, "Second version")
    project_services.set_variable(alice, environment, "GREETING", "two")
    second = run_deployment(services.request_deployment(alice, environment))
    assert second.job.status == JobStatus.SUCCEEDED, log_of(second)
    deploy = Path(environment.deploy_path)
    assert (deploy / "shared" / "greeting.txt").read_text() == "two"
    return environment, first, second


def test_rollback_restores_the_release_and_its_environment(two_releases, alice) -> None:  # type: ignore[no-untyped-def]
    environment, first, second = two_releases
    deploy = Path(environment.deploy_path)
    (deploy / "releases" / first.release_name / "built-marker").unlink()  # proves: no rebuild
    target = Release.objects.get(name=first.release_name)
    assert target.status == ReleaseStatus.KEPT
    rollback = run_deployment(services.request_rollback(alice, target))
    assert rollback.job.status == JobStatus.SUCCEEDED, log_of(rollback)
    assert rollback.trigger == DeployTrigger.ROLLBACK
    assert rollback.rollback_of == target and rollback.commit_sha == first.commit_sha
    assert current_of(deploy) == first.release_name
    assert (deploy / "current" / "index.html").read_text() == "<h1>Version 1</h1>\n"
    assert "GREETING='one'" in (deploy / "current" / ".env").read_text()
    assert (deploy / "shared" / "greeting.txt").read_text() == "one"  # post-deploy ran, old env
    assert not (deploy / "current" / "built-marker").exists()
    assert [s["key"] for s in rollback.steps] == [
        "connect", "restore_env", "swap", "post_deploy", "health",
    ]  # fmt: skip
    statuses = dict(Release.objects.values_list("name", "status"))
    assert statuses == {first.release_name: "active", second.release_name: "kept"}
    assert "Rolled back" in rollback.outcome

    with pytest.raises(ProjectError, match="already live"):
        services.request_rollback(alice, Release.objects.get(name=first.release_name))


def test_a_purged_release_offers_a_redeploy_of_its_exact_commit(two_releases, alice) -> None:  # type: ignore[no-untyped-def]
    environment, first, _ = two_releases
    Release.objects.filter(name=first.release_name).update(status=ReleaseStatus.PURGED)
    with pytest.raises(ProjectError, match="purged from the servers; redeploy its commit"):
        services.request_rollback(alice, Release.objects.get(name=first.release_name))
    redeploy = run_deployment(services.request_redeploy(alice, first))
    assert redeploy.job.status == JobStatus.SUCCEEDED, log_of(redeploy)
    assert redeploy.commit_sha == first.commit_sha and redeploy.redeploy_of == first
    deploy = Path(environment.deploy_path)
    assert (deploy / "current" / "index.html").read_text() == "<h1>Version 1</h1>\n"
    assert "GREETING='one'" in (deploy / "current" / ".env").read_text()


def test_rollback_to_a_directory_that_vanished_says_so_and_keeps_the_site(
    two_releases, alice
) -> None:  # type: ignore[no-untyped-def]
    environment, first, second = two_releases
    deploy = Path(environment.deploy_path)
    shutil.rmtree(deploy / "releases" / first.release_name)
    rollback = run_deployment(
        services.request_rollback(alice, Release.objects.get(name=first.release_name))
    )
    assert rollback.job.status == JobStatus.FAILED
    assert "no longer on the server" in rollback.job.error
    assert "redeploy its commit instead" in rollback.job.error
    assert current_of(deploy) == second.release_name
    assert Release.objects.get(name=first.release_name).status == ReleaseStatus.PURGED
