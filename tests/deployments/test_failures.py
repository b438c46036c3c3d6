"""Bad input and bad luck: each gives a clear message and the running site stays up."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from devflow.core import locking
from devflow.core.jobs import request_cancel, wake_waiters
from devflow.core.models import Job, JobStatus, Lock
from devflow.core.scheduler import wake_stranded_waiters
from devflow.deployments import services
from devflow.deployments.models import Release, ReleaseStatus
from devflow.projects.models import Project
from devflow.projects.services import ProjectError
from devflow.servers import keys
from tests.conftest import wait_for
from tests.deployments.conftest import current_of, log_of, run_deployment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_queue")]


@pytest.fixture
def live_site(git_repo, local_server, make_project, alice):  # type: ignore[no-untyped-def]
    """A project whose first release is live; returns (repo, project, environment, release)."""
    repo = git_repo("site")
    project = make_project(repo, [local_server])
    environment = project.environments.get()
    first = run_deployment(services.request_deployment(alice, environment))
    assert first.job.status == JobStatus.SUCCEEDED, log_of(first)
    return repo, project, environment, first.release_name


def assert_still_live(environment, release_name: str) -> None:  # type: ignore[no-untyped-def]
    deploy = Path(environment.deploy_path)
    assert current_of(deploy) == release_name
    assert (deploy / "current" / "index.html").read_text() == "<h1>Version 1</h1>\n"
    assert sorted(p.name for p in (deploy / "releases").iterdir()) == [release_name]


def test_a_repository_that_does_not_exist(live_site, alice, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, project, environment, live = live_site
    Project.objects.filter(pk=project.pk).update(repository_url=str(tmp_path / "nope.git"))
    deployment = run_deployment(services.request_deployment(alice, environment))
    assert deployment.job.status == JobStatus.FAILED
    assert "nope.git does not exist or cannot be read" in deployment.job.error
    assert_still_live(environment, live)


def test_a_branch_that_does_not_exist(live_site, alice) -> None:  # type: ignore[no-untyped-def]
    _, _, environment, live = live_site
    environment.branch = "release/9.9"
    environment.save()
    deployment = run_deployment(services.request_deployment(alice, environment))
    assert deployment.job.status == JobStatus.FAILED
    assert "branch 'release/9.9' does not exist" in deployment.job.error
    assert_still_live(environment, live)


def test_a_pinned_commit_that_does_not_exist(live_site, alice) -> None:  # type: ignore[no-untyped-def]
    _, _, environment, live = live_site
    deployment = run_deployment(
        services.request_deployment(alice, environment, commit_sha="deadbeefdeadbeef")
    )
    assert deployment.job.status == JobStatus.FAILED
    assert "commit deadbeefdead is not in" in deployment.job.error
    assert_still_live(environment, live)


def test_a_build_that_never_ends_is_stopped_at_its_step_timeout(live_site, alice) -> None:  # type: ignore[no-untyped-def]
    repo, project, environment, live = live_site
    repo.commit({"index.html": "v2\n"}, "Second")
    Project.objects.filter(pk=project.pk).update(
        build_commands=[{"run": "echo building; sleep 617", "once": False}],
        command_timeout_seconds=2,
    )
    deployment = run_deployment(services.request_deployment(alice, environment))
    assert deployment.job.status == JobStatus.FAILED
    assert "did not finish within 2 s and was stopped" in deployment.job.error
    assert_still_live(environment, live)
    wait_for(lambda: subprocess.run(["pgrep", "-f", "sleep 617"]).returncode == 1, 10, "sleep gone")


def test_a_full_disk_fails_the_checkout_and_the_live_release_stays(
    git_repo, local_server, make_project, alice, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    deploy = tmp_path / "small-disk"
    deploy.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(deploy)], check=True)
    try:
        repo = git_repo("site")
        project = make_project(repo, [local_server], deploy_path=str(deploy))
        environment = project.environments.get()
        first = run_deployment(services.request_deployment(alice, environment))
        assert first.job.status == JobStatus.SUCCEEDED, log_of(first)
        repo.commit({"big.bin": os.urandom(3 * 1024 * 1024).hex()}, "A big file")
        full = run_deployment(services.request_deployment(alice, environment))
        assert full.job.status == JobStatus.FAILED
        assert "disk is full" in full.job.error
        assert current_of(deploy) == first.release_name
        assert (deploy / "current" / "index.html").read_text() == "<h1>Version 1</h1>\n"
        assert sorted(p.name for p in (deploy / "releases").iterdir()) == [first.release_name]
    finally:
        subprocess.run(["umount", "-l", str(deploy)], check=False)


def test_a_private_repository_needs_a_deploy_key(
    git_repo, sshd_factory, local_server, make_project, alice, acme, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """A git host over ssh that accepts one key only: without it, a clear message."""
    key_file = tmp_path / "git_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_file)], check=True)
    authorized = tmp_path / "git_authorized_keys"
    authorized.write_text(Path(f"{key_file}.pub").read_text())
    authorized.chmod(0o644)
    git_host = sshd_factory(authorized_keys_file=str(authorized))
    repo = git_repo("private")
    url = f"ssh://{git_host.username}@127.0.0.1:{git_host.port}{repo.bare}"
    project = make_project(repo, [local_server])
    Project.objects.filter(pk=project.pk).update(repository_url=url)
    environment = project.environments.get()

    refused = run_deployment(services.request_deployment(alice, environment))
    assert refused.job.status == JobStatus.FAILED
    assert "a private repository needs a deploy key" in refused.job.error

    deploy_key = keys.import_key(alice, acme, "git deploy key", key_file.read_text())
    Project.objects.filter(pk=project.pk).update(deploy_key=deploy_key)
    allowed = run_deployment(services.request_deployment(alice, environment))
    assert allowed.job.status == JobStatus.SUCCEEDED, log_of(allowed)
    deploy = Path(environment.deploy_path)
    assert (deploy / "current" / "index.html").read_text() == "<h1>Version 1</h1>\n"
    assert not (deploy / ".devflow" / "deploy_key").exists()  # removed after the fetch
    assert "PRIVATE KEY" not in log_of(allowed)


def test_cancel_during_the_build_keeps_the_live_release(live_site, alice) -> None:  # type: ignore[no-untyped-def]
    repo, project, environment, live = live_site
    repo.commit({"index.html": "v2\n"}, "Second")
    Project.objects.filter(pk=project.pk).update(
        build_commands=[{"run": "echo building; sleep 618", "once": False}]
    )
    deployment = services.request_deployment(alice, environment)
    runner = threading.Thread(target=run_deployment, args=(deployment,))
    runner.start()
    wait_for(lambda: "sleep 618" in log_of(deployment), 20, "build running")
    request_cancel(deployment.job)
    runner.join(30)
    deployment.job.refresh_from_db()
    assert deployment.job.status == JobStatus.CANCELLED
    assert_still_live(environment, live)
    assert not Lock.objects.exists()


def test_a_second_request_fails_or_waits_as_its_caller_chooses(
    live_site, alice, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    repo, project, environment, _ = live_site
    repo.commit({"index.html": "v2\n"}, "Second")
    first = services.request_deployment(alice, environment)  # queued, not finished
    with pytest.raises(ProjectError, match=f"Deployment #{first.pk} of Site is queued"):
        services.request_deployment(alice, environment, if_busy="fail")
    waiting = services.request_deployment(alice, environment, if_busy="wait")
    # The first deployment holds the project lock when the second one is picked up.
    held = Job.objects.get(pk=first.job.pk)
    locking.acquire(project.lock_key, holder=f"job #{held.pk}", job=held, lease_seconds=60)
    run_deployment(waiting)
    job = Job.objects.get(pk=waiting.job.pk)
    # Held in the queue, out of any worker, and the page can say why.
    assert job.status == JobStatus.QUEUED and job.waiting_for == project.lock_key
    assert job.progress_message == f"Waiting for job #{held.pk} to finish"
    assert "Waiting in the queue" in log_of(waiting)
    assert not wake_stranded_waiters()  # the lock is still held
    sent: list[int] = []
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: sent.append(job.pk))
    assert wake_waiters(locking.release_for_job(held)) == [waiting.job.pk]
    assert sent == [waiting.job.pk]
    waiting = run_deployment(waiting)
    assert waiting.job.status == JobStatus.SUCCEEDED, log_of(waiting)
    assert Release.objects.get(name=waiting.release_name).status == ReleaseStatus.ACTIVE
    # The log reads as one story: waited, then ran.
    log = log_of(waiting)
    assert log.index("Waiting in the queue") < log.index("Fetch repository")


def test_a_held_job_whose_lock_holder_died_is_woken_by_the_scheduler(
    live_site, alice, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    repo, project, environment, _ = live_site
    repo.commit({"index.html": "v2\n"}, "Second")
    stuck = services.request_deployment(alice, environment)
    Job.objects.filter(pk=stuck.job.pk).update(status=JobStatus.RUNNING)
    locking.acquire(project.lock_key, holder="job #x", job=stuck.job, lease_seconds=60)
    waiting = run_deployment(services.request_deployment(alice, environment, if_busy="wait"))
    assert waiting.job.status == JobStatus.QUEUED
    sent: list[int] = []
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: sent.append(job.pk))
    Lock.objects.all().delete()  # as the reaper does, in its own transaction
    assert wake_stranded_waiters() == [waiting.job.pk]
    assert wake_stranded_waiters() == []  # exactly once
    assert sent == [waiting.job.pk]


def test_the_deployment_time_limit_stops_it_and_keeps_the_live_release(live_site, alice) -> None:  # type: ignore[no-untyped-def]
    repo, project, environment, live = live_site
    repo.commit({"index.html": "v2\n"}, "Second")
    # Below the form's 30 s minimum, so the test stays short.
    Project.objects.filter(pk=project.pk).update(
        build_commands=[{"run": "sleep 620", "once": False}], deploy_timeout_seconds=2
    )
    deployment = run_deployment(services.request_deployment(alice, environment))
    assert deployment.job.timeout_seconds == 2
    assert deployment.job.status == JobStatus.TIMED_OUT
    assert "hard timeout of 2 s" in deployment.job.error
    assert_still_live(environment, live)
    assert not Lock.objects.exists()
    wait_for(lambda: subprocess.run(["pgrep", "-f", "sleep 620"]).returncode == 1, 10, "sleep gone")
