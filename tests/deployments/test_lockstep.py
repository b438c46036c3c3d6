"""Two servers deploy in lockstep; a killed worker leaves the live release in place."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from django.db import transaction

from devflow.core.models import JobStatus, Lock
from devflow.core.scheduler import reap_stale_jobs
from devflow.deployments import services
from devflow.deployments.models import Release, ReleaseStatus
from devflow.projects.models import Project
from tests.conftest import wait_for
from tests.deployments.conftest import current_of, log_of, run_deployment
from tests.services.test_celery_workers import wait_for_status

MOUNT = "/srv/devflow-lockstep-test"


@pytest.fixture
def two_servers(sshd_factory, make_server, tmp_path):  # type: ignore[no-untyped-def]
    """Two sshd "machines", each seeing its own disk at MOUNT (its own mount namespace)."""
    disks = {}
    servers = []
    for name in ("alpha", "beta"):
        disk = tmp_path / f"disk-{name}"
        disk.mkdir()
        (disk / "whoami").write_text(name)
        sshd = sshd_factory(bind_mounts={MOUNT: str(disk)})
        servers.append(make_server(sshd, name=name))
        disks[name] = disk
    return servers, disks


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_queue")
def test_two_servers_deploy_phase_by_phase_and_run_once_hooks_once(
    git_repo, two_servers, make_project, alice, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    servers, disks = two_servers
    order = tmp_path / "order.log"
    me = f"$(cat {MOUNT}/whoami)"
    step = f'echo "{{0}} {me}" >> {order}'
    project = make_project(
        git_repo("site"),
        servers,
        deploy_path=f"{MOUNT}/app",
        build_commands=[
            {
                "run": step.format("build-start") + "; sleep 0.5; " + step.format("build-end"),
                "once": False,
            },
        ],
        deploy_commands=[{"run": step.format("migrate"), "once": True}],
        post_deploy_commands=[{"run": step.format("post"), "once": False}],
    )
    environment = project.environments.get()
    deployment = run_deployment(services.request_deployment(alice, environment))
    assert deployment.job.status == JobStatus.SUCCEEDED, log_of(deployment)
    assert deployment.server_names == ["alpha", "beta"]
    lines = order.read_text().splitlines()
    phases = [line.split()[0] for line in lines]
    # Every build ends (on both) before the migration; the migration runs once, on alpha.
    assert phases.count("build-end") == 2
    assert max(i for i, p in enumerate(phases) if p.startswith("build")) < phases.index("migrate")
    assert [line for line in lines if line.startswith("migrate")] == ["migrate alpha"]
    assert sorted(line for line in lines if line.startswith("post")) == ["post alpha", "post beta"]
    for disk in disks.values():
        assert current_of(disk / "app") == deployment.release_name
        assert (disk / "app" / "current" / "index.html").read_text() == "<h1>Version 1</h1>\n"
    assert "[alpha]" in log_of(deployment) and "[beta]" in log_of(deployment)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_queue")
def test_a_failure_on_one_server_leaves_both_on_the_old_release(
    git_repo, two_servers, make_project, alice
) -> None:  # type: ignore[no-untyped-def]
    servers, disks = two_servers
    repo = git_repo("site")
    project = make_project(repo, servers, deploy_path=f"{MOUNT}/app")
    environment = project.environments.get()
    good = run_deployment(services.request_deployment(alice, environment))
    assert good.job.status == JobStatus.SUCCEEDED, log_of(good)
    repo.commit({"index.html": "v2\n"}, "Second")
    Project.objects.filter(pk=project.pk).update(
        build_commands=[{"run": f'test "$(cat {MOUNT}/whoami)" != beta', "once": False}]
    )
    bad = run_deployment(services.request_deployment(alice, environment))
    assert bad.job.status == JobStatus.FAILED
    assert bad.job.error.startswith("beta:")
    for disk in disks.values():
        assert current_of(disk / "app") == good.release_name
        assert sorted(p.name for p in (disk / "app" / "releases").iterdir()) == [good.release_name]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_a_worker_killed_mid_deploy_is_reaped_and_the_site_stays_up(
    broker,
    start_worker,
    git_repo,
    local_server,
    make_project,
    alice,
    settings,
) -> None:  # type: ignore[no-untyped-def]
    settings.DEVFLOW_JOB_STALE_SECONDS = 3
    repo = git_repo("site")
    project = make_project(repo, [local_server])
    environment = project.environments.get()
    worker = start_worker(redis=broker)
    with transaction.atomic():
        first = services.request_deployment(alice, environment)
    wait_for_status(first.job, {JobStatus.SUCCEEDED, JobStatus.FAILED}, worker)
    first.refresh_from_db()
    assert first.job.status == JobStatus.SUCCEEDED, log_of(first)

    repo.commit({"index.html": "v2\n"}, "Second")
    Project.objects.filter(pk=project.pk).update(
        build_commands=[{"run": "sleep 619", "once": False}]
    )
    try:
        with transaction.atomic():
            second = services.request_deployment(alice, environment)
        wait_for(lambda: "sleep 619" in log_of(second), 60, "the build to start")
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(10)
        assert Lock.objects.filter(key=project.lock_key).exists()
        wait_for(lambda: bool(reap_stale_jobs()), 30, "the reaper")
        second.refresh_from_db()
        second.job.refresh_from_db()
        assert second.job.status == JobStatus.FAILED
        assert "worker" in second.job.error.lower()
        assert not Lock.objects.filter(key=project.lock_key).exists()
        deploy = Path(environment.deploy_path)
        assert current_of(deploy) == first.release_name
        assert (deploy / "current" / "index.html").read_text() == "<h1>Version 1</h1>\n"
    finally:
        subprocess.run(["pkill", "-f", "sleep 619"], check=False)

    # The next deployment marks the abandoned release failed and removes its directory.
    Project.objects.filter(pk=project.pk).update(build_commands=[])
    worker = start_worker(redis=broker)
    with transaction.atomic():
        third = services.request_deployment(alice, environment)
    wait_for_status(third.job, {JobStatus.SUCCEEDED, JobStatus.FAILED}, worker)
    third.refresh_from_db()
    assert third.job.status == JobStatus.SUCCEEDED, log_of(third)
    assert Release.objects.get(name=second.release_name).status == ReleaseStatus.FAILED
    releases = sorted(p.name for p in (Path(environment.deploy_path) / "releases").iterdir())
    assert releases == sorted([first.release_name, third.release_name])


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_a_waiting_deployment_starts_when_the_running_one_ends(
    broker,
    start_worker,
    git_repo,
    local_server,
    make_project,
    alice,
) -> None:  # type: ignore[no-untyped-def]
    repo = git_repo("site")
    project = make_project(repo, [local_server])
    Project.objects.filter(pk=project.pk).update(build_commands=[{"run": "sleep 2", "once": False}])
    environment = project.environments.get()
    worker = start_worker(redis=broker)
    with transaction.atomic():
        first = services.request_deployment(alice, environment)
    wait_for_status(first.job, {JobStatus.RUNNING}, worker)
    repo.commit({"index.html": "v2\n"}, "Second")
    with transaction.atomic():
        second = services.request_deployment(alice, environment, if_busy="wait")
    for deployment in (first, second):
        wait_for_status(deployment.job, set(JobStatus.finished()), worker)
        deployment.refresh_from_db()
        assert deployment.job.status == JobStatus.SUCCEEDED, log_of(deployment)
    assert "Waiting in the queue" in log_of(second)
    assert second.job.started_at >= first.job.finished_at
    assert current_of(environment.deploy_path) == second.release_name
