"""A small Python web app deployed over ssh: restarted by its post-deploy hook, health-checked,
and put back on the old code when the new one is unhealthy. Also: commits and "behind"."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest

from devflow.core.jobs import execute_job
from devflow.core.models import JobStatus
from devflow.deployments import services
from devflow.projects import services as project_services
from tests.conftest import free_port
from tests.deployments.conftest import current_of, log_of, run_deployment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_queue")]

APP = """\
import http.server, os, pathlib

VERSION = pathlib.Path("VERSION").read_text().strip()
HEALTHY = os.environ.get("BROKEN") != "yes" and VERSION != "v3"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = 200 if self.path != "/health" or HEALTHY else 500
        body = f"{VERSION} {os.environ.get('GREETING', '')}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

RESTART = (
    'pid=../../shared/app.pid; [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; sleep 0.2; '
    "setsid python3 app.py > ../../shared/app.log 2>&1 < /dev/null & echo $! > ../../shared/app.pid"
)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def test_python_app_restarts_on_deploy_and_an_unhealthy_release_is_undone(
    git_repo, sshd_server, make_server, make_project, alice
) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    repo = git_repo("api", {"app.py": APP, "VERSION": "v1\n"})
    project = make_project(
        repo,
        [make_server(sshd_server)],
        template="custom",
        name="Api",
        health_check_url=f"http://127.0.0.1:{port}/health",
        smoke_command="python3 -m py_compile app.py",
        post_deploy_commands=[{"run": RESTART, "once": False}],
        health_check_retries=5,
    )
    environment = project.environments.get()
    project_services.set_variable(alice, environment, "PORT", str(port))
    project_services.set_variable(alice, environment, "GREETING", "hello")
    deploy = Path(environment.deploy_path)
    try:
        first = run_deployment(services.request_deployment(alice, environment))
        assert first.job.status == JobStatus.SUCCEEDED, log_of(first)
        assert fetch(f"http://127.0.0.1:{port}/") == "v1 hello"

        repo.commit({"VERSION": "v2\n"}, "Version two")
        second = run_deployment(services.request_deployment(alice, environment))
        assert second.job.status == JobStatus.SUCCEEDED, log_of(second)
        assert fetch(f"http://127.0.0.1:{port}/") == "v2 hello"

        repo.commit({"VERSION": "v3\n"}, "Version three, unhealthy")
        third = run_deployment(services.request_deployment(alice, environment))
        assert third.job.status == JobStatus.FAILED
        assert "HTTP 500" in log_of(third)
        assert f"current re-pointed to {second.release_name}" in third.job.error
        assert current_of(deploy) == second.release_name
        # The post-deploy hook ran again after the re-point: the old code serves again.
        assert fetch(f"http://127.0.0.1:{port}/") == "v2 hello"
    finally:
        pid_file = deploy / "shared" / "app.pid"
        if pid_file.exists():
            subprocess.run(["kill", pid_file.read_text().strip()], check=False)


def test_refreshing_commits_shows_how_far_behind_the_live_release_is(
    git_repo, local_server, make_project, alice
) -> None:  # type: ignore[no-untyped-def]
    repo = git_repo("site")
    environment = make_project(repo, [local_server]).environments.get()
    live = run_deployment(services.request_deployment(alice, environment))
    assert live.job.status == JobStatus.SUCCEEDED
    repo.commit({"a.txt": "a"}, "Add a")
    head = repo.commit({"b.txt": "b"}, "Add b")
    job = project_services.refresh_commits(alice, environment)
    execute_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    environment.refresh_from_db()
    assert environment.head_sha == head
    assert environment.behind_count == 2
    assert [c["message"] for c in environment.commits] == ["Add b", "Add a", "First version"]
    assert environment.commits[0]["author"] == "Dana Developer"
