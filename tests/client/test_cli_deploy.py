"""End to end: `devflow login`, `deploy --wait` to a real sshd server through a running
DevFlow Pro and a real worker, `deployments ls`, `logs`, then `rollback`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from devflow.accounts import api_tokens
from devflow.cli import app
from devflow.core.models import ActivityLog
from devflow.deployments.models import Deployment
from devflow.taskqueue import ensure_broker_dirs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.fixture
def cli(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DEVFLOW_URL", raising=False)
    monkeypatch.delenv("DEVFLOW_TOKEN", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def test_deploy_wait_logs_and_rollback(  # type: ignore[no-untyped-def]
    cli, live_server, start_worker, alice, git_repo, sshd_server, make_server, make_project
) -> None:
    repo = git_repo("shop")
    project = make_project(repo, [make_server(sshd_server)])
    ensure_broker_dirs()  # as `devflow web` does when it starts
    start_worker()
    token = api_tokens.create(alice, "laptop", ["read", "deploy"]).token
    assert cli("login", live_server.url, "--token", token).exit_code == 0

    first = cli("deploy", project.name, "--wait")
    assert first.exit_code == 0, first.output
    assert "Deployment #" in first.output and "succeeded." in first.output
    assert "Finished: Succeeded." in first.output  # the streamed job log
    # The progress display (a plain line per step when not on a terminal) ends at 100 %.
    progress = [line for line in first.output.splitlines() if line.startswith("[")]
    assert progress[0] == "[  0%] Queued" and progress[-1] == "[100%] Succeeded", progress

    repo.commit({"index.html": "<h1>Version 2</h1>\n"}, "Second version")
    second = cli("deploy", project.name, "--wait")
    assert second.exit_code == 0, second.output

    listing = json.loads(cli("deployments", "ls", "--json").output)
    assert [d["status"] for d in listing[:2]] == ["succeeded", "succeeded"]
    # The page, the activity log and the jobs say these came from the command line.
    assert [d["trigger"] for d in listing[:2]] == ["cli", "cli"]
    newest = Deployment.objects.order_by("-pk").first()
    assert newest is not None
    logs = cli("logs", str(newest.pk))
    assert logs.exit_code == 0 and "Finished: Succeeded." in logs.output

    back = cli("rollback", project.name)
    assert back.exit_code == 0, back.output
    rollback = Deployment.objects.order_by("-pk").first()
    assert rollback is not None and rollback.rollback_of is not None
    first_deployment = Deployment.objects.order_by("pk").first()
    assert first_deployment is not None
    assert rollback.commit_sha == first_deployment.commit_sha
    assert rollback.job is not None and rollback.job.trigger == "cli"
    sources = set(ActivityLog.objects.filter(action__startswith="deployment.")
                  .values_list("source", flat=True))  # fmt: skip
    assert sources == {"cli"}, sources


def test_a_read_only_token_cannot_deploy_and_exits_non_zero(  # type: ignore[no-untyped-def]
    cli, live_server, alice, git_repo, make_project, sshd_server, make_server
) -> None:
    project = make_project(git_repo("shop"), [make_server(sshd_server)])
    token = api_tokens.create(alice, "laptop", ["read"]).token
    cli("login", live_server.url, "--token", token)
    result = cli("deploy", project.name)
    assert result.exit_code == 1
    assert "lacks the “deploy” scope" in result.output
    assert not Deployment.objects.exists()


def test_an_unknown_project_says_how_to_find_one(cli, live_server, alice) -> None:  # type: ignore[no-untyped-def]
    token = api_tokens.create(alice, "laptop", ["read", "deploy"]).token
    cli("login", live_server.url, "--token", token)
    result = cli("deploy", "nope")
    assert result.exit_code == 1
    assert "No project called 'nope' in your teams (`devflow projects ls`)." in result.output
