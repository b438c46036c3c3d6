"""Projects and deployments in the browser: create from a template, deploy, watch, roll back.

The web process only queues jobs; each test runs them here with `execute_job`, as a worker
would, on this machine (`local_server`) from a real bare git repository.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from django.db import connection
from playwright.sync_api import Dialog, Page, expect

from devflow.core.jobs import execute_job
from devflow.core.models import Job, JobStatus
from devflow.deployments import services
from devflow.deployments.models import Deployment, DeployTrigger, Release
from devflow.projects.models import Project
from devflow.taskqueue import ensure_broker_dirs
from tests.deployments import conftest as deployments
from tests.deployments.conftest import log_of, run_deployment
from tests.e2e.conftest import PHONE, screenshot

# The deployments tests' fixtures: a real bare git repository, this machine as a server,
# and projects made through the service layer.
git_repo = deployments.git_repo
local_server = deployments.local_server
make_project = deployments.make_project

pytestmark = [pytest.mark.browser, pytest.mark.services]

VERSION_1 = "<h1>Version 1</h1>\n"
VERSION_2 = "<h1>Version 2</h1>\n"
# A slow job takes this long at most; every wait below is an `expect` with this timeout.
SLOW = 30_000


@pytest.fixture(autouse=True)
def _broker() -> None:
    ensure_broker_dirs()  # the web process queues jobs; no worker runs them here


@pytest.fixture
def run_in_background() -> Iterator[list[threading.Thread]]:
    """Run jobs in a thread so the page can be watched while they write their log."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a job was still running at the end of the test"


def start_job(threads: list[threading.Thread], job_id: int) -> None:
    def run() -> None:
        try:
            execute_job(job_id)
        finally:
            connection.close()  # this thread's own database connection

    thread = threading.Thread(target=run, name=f"job-{job_id}")
    thread.start()
    threads.append(thread)


def deployment_on(page: Page) -> Deployment:
    """The deployment whose page is open."""
    match = re.search(r"/deployments/(\d+)/$", page.url)
    assert match, page.url
    return Deployment.objects.select_related("job").get(pk=int(match.group(1)))


def no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), f"{page.url} is {width}px wide"


def test_create_a_project_from_a_template_deploy_and_watch_the_log(  # type: ignore[no-untyped-def]
    new_context, alice, local_server, git_repo, tmp_path, run_in_background
) -> None:
    repo = git_repo("site")
    deploy_path = tmp_path / "www" / "site"
    gate = tmp_path / "let-the-build-finish"
    page = new_context(user=alice).new_page()

    # The empty list leads to the New project page.
    page.goto("/projects/")
    expect(page.get_by_text("No projects yet")).to_be_visible()
    page.get_by_role("link", name="New project").click()
    expect(page.get_by_role("heading", name="New project")).to_be_visible()

    page.get_by_test_id("template-static").click()
    expect(page.get_by_role("radio", name=re.compile("Static site"))).to_be_checked()
    expect(page.get_by_text("What Static site runs")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Site")
    page.get_by_label("Repository", exact=True).fill(repo.url)
    page.get_by_label("this machine").check()
    page.get_by_label("Deploy path").fill(str(deploy_path))
    screenshot(page, "project-new-1280-light")
    page.get_by_role("button", name="Create project").click()

    expect(page.get_by_role("heading", name="Site", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Created Site. Deploy it when you are ready.")
    expect(page.get_by_test_id("env-tab-production")).to_be_visible()
    expect(page.get_by_test_id("live-release")).to_have_text("nothing deployed yet")
    project = Project.objects.get(name="Site")
    assert project.template == "static" and project.smoke_command == "test -f index.html"
    # Creating it queued a fetch of the branch's latest commits; the page follows it.
    commits = page.locator("#commits")
    expect(commits).to_contain_text("Fetching the branch")
    refresh = Job.objects.get(kind="projects.refresh_commits", team=project.team)
    assert execute_job(refresh.pk) == JobStatus.SUCCEEDED
    expect(commits).to_contain_text("First version", timeout=SLOW)
    expect(commits).not_to_contain_text("Fetching the branch")

    # A build that writes a few lines, then waits for the test before it ends, so the
    # page is seen showing a running deployment's log. The output differs from the
    # command text (the log also shows each command, prefixed with "$").
    page.get_by_role("main").get_by_role("link", name="Settings").click()
    page.get_by_label("Build commands").fill(
        "\n".join(
            [
                "printf 'Building %s\\n' pages",
                "sleep 0.2",
                "printf 'Minifying %s\\n' assets",
                f"for i in $(seq 300); do [ -e {gate} ] && break; sleep 0.1; done",
                "printf 'Build %s\\n' complete",
            ]
        )
    )
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text("Saved the settings of Site.")
    project.refresh_from_db()
    assert project.build_commands[0] == {"run": "printf 'Building %s\\n' pages", "once": False}

    page.get_by_role("link", name="Back to project").click()
    page.get_by_role("button", name="Deploy main").click()
    expect(page).to_have_url(re.compile(r"/deployments/\d+/$"))
    deployment = deployment_on(page)
    expect(page.get_by_role("status")).to_have_text(
        f"Queued deployment #{deployment.pk} of main to production."
    )
    status = page.get_by_test_id("deployment-status")
    expect(status).to_have_text("Queued")
    expect(page.get_by_test_id("steps")).to_contain_text("Waiting for a worker")
    page.evaluate("window.notReloaded = true")  # a reload would wipe this out

    assert deployment.job is not None
    start_job(run_in_background, deployment.job.pk)
    log = page.get_by_test_id("job-log")
    # The first lines arrive while the build is still held at the gate.
    expect(log).to_contain_text("Building pages", timeout=SLOW)
    expect(log).to_contain_text("Minifying assets", timeout=SLOW)
    expect(status).to_have_text("Running")
    expect(page.get_by_test_id("step-fetch")).to_contain_text("Done", timeout=SLOW)
    expect(page.get_by_test_id("step-build")).to_contain_text("Running", timeout=SLOW)
    expect(
        page.get_by_text("Live: new lines appear as the deployment writes them.")
    ).to_be_visible()
    expect(log).not_to_contain_text("Build complete")
    screenshot(page, "deployment-running-1280-light")

    gate.touch()
    expect(log).to_contain_text("Build complete", timeout=SLOW)
    expect(status).to_have_text("Succeeded", timeout=SLOW)
    expect(page.get_by_text("The deployment has finished.")).to_be_visible()
    expect(page.get_by_text("Live: new lines appear")).to_be_hidden()
    steps = page.get_by_test_id("steps")
    done = ["connect", "fetch", "prepare", "build", "smoke", "swap", "purge"]
    skipped = ["deploy_hooks", "post_deploy", "health"]  # the static template sets none
    expect(steps.locator("tbody tr")).to_have_count(len(done + skipped), timeout=SLOW)
    for key in done:
        expect(page.get_by_test_id(f"step-{key}")).to_contain_text("Done", timeout=SLOW)
    for key in skipped:
        expect(page.get_by_test_id(f"step-{key}")).to_contain_text("Skipped")
    expect(steps.get_by_text("Running")).to_have_count(0)
    expect(page.get_by_test_id("outcome")).to_contain_text("is live.", timeout=SLOW)
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "deployment-succeeded-1280-light")

    run_in_background[-1].join(60)
    deployment.refresh_from_db()
    assert deployment.job is not None
    deployment.job.refresh_from_db()
    assert deployment.job.status == JobStatus.SUCCEEDED, log_of(deployment)
    assert (deploy_path / "current" / "index.html").read_text() == VERSION_1

    page.reload()
    expect(status).to_have_text("Succeeded")
    for text in ("Building pages", "Minifying assets", "Build complete"):
        expect(log).to_contain_text(text)
    expect(page.get_by_test_id("step-build")).to_contain_text("Done")
    expect(page.get_by_text("Live: new lines appear")).to_be_hidden()

    # The project page shows it live.
    page.get_by_role("link", name="Site / production").click()
    expect(page.get_by_test_id("live-release")).to_contain_text(deployment.release_name)
    expect(page.get_by_test_id(f"release-{deployment.release_name}")).to_contain_text("Live")
    screenshot(page, "project-deployed-1280-light")


def test_deploy_a_second_version_then_roll_back_to_the_first(  # type: ignore[no-untyped-def]
    new_context, alice, local_server, git_repo, make_project, tmp_path
) -> None:
    repo = git_repo("site")
    deploy_path = tmp_path / "www" / "site"
    project = make_project(repo, [local_server], deploy_path=str(deploy_path))
    environment = project.environments.get()
    first = run_deployment(services.request_deployment(alice, environment))
    assert first.job.status == JobStatus.SUCCEEDED, log_of(first)
    repo.commit({"index.html": VERSION_2}, "Second version")

    page = new_context(user=alice).new_page()
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("button", name="Deploy main").click()
    expect(page).to_have_url(re.compile(r"/deployments/\d+/$"))
    second = deployment_on(page)
    assert second.job is not None
    assert execute_job(second.job.pk) == JobStatus.SUCCEEDED, log_of(second)
    expect(page.get_by_test_id("deployment-status")).to_have_text("Succeeded", timeout=SLOW)
    expect(page.get_by_test_id("job-log")).to_contain_text("Second version", timeout=SLOW)
    assert (deploy_path / "current" / "index.html").read_text() == VERSION_2

    page.get_by_role("link", name="Site / production").click()
    second.refresh_from_db()
    expect(page.get_by_test_id("live-release")).to_contain_text(second.release_name)
    row = page.get_by_test_id(f"release-{first.release_name}")
    expect(row).to_contain_text("Kept")
    expect(page.get_by_test_id(f"release-{second.release_name}")).to_contain_text("Live")

    # Dismissing the confirmation changes nothing.
    questions: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.get_by_role("button", name="Roll back").click()
    expect(row.get_by_role("button", name="Roll back")).to_be_enabled()
    assert questions == [
        f"Roll back production to release {first.release_name} (commit {first.commit_sha[:8]})? "
        "Its servers switch back to it with the variables it was deployed with."
    ]
    assert page.url.endswith(f"/projects/{project.pk}/?env=production")
    assert not Deployment.objects.filter(trigger=DeployTrigger.ROLLBACK).exists()

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.get_by_role("button", name="Roll back").click()
    expect(page).to_have_url(re.compile(r"/deployments/\d+/$"))
    assert len(questions) == 2
    rollback = deployment_on(page)
    expect(page.get_by_role("status")).to_have_text(
        f"Queued deployment #{rollback.pk}: roll back to release {first.release_name}."
    )
    assert rollback.job is not None
    assert execute_job(rollback.job.pk) == JobStatus.SUCCEEDED, log_of(rollback)

    expect(page.get_by_test_id("deployment-status")).to_have_text("Succeeded", timeout=SLOW)
    summary = page.locator("#job-summary")
    expect(summary).to_contain_text("Rollback by alice", timeout=SLOW)
    expect(summary).to_contain_text(f"back to release {first.release_name}")
    expect(page.get_by_test_id("outcome")).to_contain_text(
        f"Rolled back: release {first.release_name}", timeout=SLOW
    )
    for key in ("connect", "restore_env", "swap"):
        expect(page.get_by_test_id(f"step-{key}")).to_contain_text("Done", timeout=SLOW)
    for key in ("post_deploy", "health"):
        expect(page.get_by_test_id(f"step-{key}")).to_contain_text("Skipped")
    screenshot(page, "deployment-rollback-1280-light")
    assert (deploy_path / "current" / "index.html").read_text() == VERSION_1
    assert Release.objects.get(name=first.release_name).status == "active"

    page.get_by_role("link", name="Site / production").click()
    expect(page.get_by_test_id("live-release")).to_contain_text(first.release_name)
    expect(page.get_by_test_id(f"release-{first.release_name}")).to_contain_text("Live")
    expect(page.get_by_test_id(f"release-{second.release_name}")).to_contain_text("Kept")
    history = page.locator("#history")
    expect(history).to_contain_text(f"#{rollback.pk}")
    expect(history).to_contain_text("Rollback")
    screenshot(page, "project-after-rollback-1280-light")


def test_the_project_and_deployment_pages_fit_a_phone_in_dark_mode(  # type: ignore[no-untyped-def]
    new_context, alice, local_server, git_repo, make_project, tmp_path
) -> None:
    repo = git_repo("site")
    project = make_project(
        repo,
        [local_server],
        name="A project with a rather long name",
        deploy_path=str(tmp_path / "www" / "a-project-with-a-rather-long-name"),
    )
    environment = project.environments.get()
    deployment = run_deployment(services.request_deployment(alice, environment))
    assert deployment.job.status == JobStatus.SUCCEEDED, log_of(deployment)

    page = new_context(user=alice, viewport=PHONE, theme="dark").new_page()
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_test_id("live-release")).to_contain_text(deployment.release_name)
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    no_sideways_scrolling(page)
    screenshot(page, "project-375-dark")

    page.goto(f"/deployments/{deployment.pk}/")
    expect(page.get_by_test_id("deployment-status")).to_have_text("Succeeded")
    expect(page.get_by_test_id("job-log")).to_contain_text("test -f index.html")
    no_sideways_scrolling(page)
    screenshot(page, "deployment-375-dark")


def test_a_deployer_gets_a_friendly_page_for_settings_they_may_not_change(  # type: ignore[no-untyped-def]
    new_context, bob, local_server, git_repo, make_project
) -> None:
    project = make_project(git_repo("site"), [local_server])
    page = new_context(user=bob, viewport=PHONE, theme="dark").new_page()
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_role("button", name="Deploy main")).to_be_visible()  # deployers deploy
    expect(page.get_by_role("main").get_by_role("link", name="Settings")).to_have_count(0)
    response = page.goto(f"/projects/{project.pk}/settings/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_test_id("error-403")).to_contain_text(
        "You do not have permission to do this in Acme."
    )
    expect(page.get_by_test_id("error-403")).to_contain_text("ask an owner of the team")
    no_sideways_scrolling(page)
    screenshot(page, "forbidden-375-dark")
