"""The job page follows a job to its end without a reload (WebSocket, else polling)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from devflow.core.jobs import execute_job
from devflow.core.models import Job, JobStatus
from devflow.taskqueue import ensure_broker_dirs
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser


def test_it_shows_the_installation_check_finishing_without_a_reload(  # type: ignore[no-untyped-def]
    new_context, bob, acme
) -> None:
    # `devflow prepare` and `devflow web` create the embedded broker's folders; the test
    # server runs neither.
    ensure_broker_dirs()
    page = new_context(user=bob).new_page()
    polls: list[str] = []
    page.on(
        "request",
        lambda request: polls.append(request.url) if "/log?after=" in request.url else None,
    )
    page.goto("/settings/")
    page.get_by_role("button", name="Run check").click()

    expect(page).to_have_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(kind="core.diagnostics", team=acme, actor=bob)
    assert page.url.endswith(f"/jobs/{job.pk}/")
    expect(page.get_by_role("status")).to_have_text(f"Queued installation check #{job.pk}.")
    status = page.get_by_test_id("job-status")
    expect(status).to_have_text("Queued")
    assert job.status == JobStatus.QUEUED, job.error
    expect(page.get_by_text("Live: new lines appear as the job writes them.")).to_be_visible()
    # A marker that a reload would wipe out.
    page.evaluate("window.notReloaded = true")

    # No worker here: run the job in this process, as a worker would.
    assert execute_job(job.pk) == JobStatus.SUCCEEDED

    expect(status).to_have_text("Succeeded", timeout=15_000)
    expect(status).to_have_class(re.compile(r"\bbadge-green\b"))
    log = page.get_by_test_id("job-log")
    expect(log).to_contain_text("Database: sqlite reachable.")
    expect(log).to_contain_text("Python ")
    expect(page.get_by_text("The job has finished.")).to_be_visible()
    summary = page.locator("#job-summary")
    expect(summary).to_contain_text("Finished")  # refreshed from the server, no reload
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    assert page.evaluate("window.notReloaded") is True
    # The test server speaks no WebSocket, so the page must have fallen back to polling.
    assert any(f"/jobs/{job.pk}/log?after=" in url for url in polls), polls
    screenshot(page, "job-1280-light")
    assert page.evaluate("document.getElementById('job-progress').style.width") == "100%"

    page.reload()
    expect(status).to_have_text("Succeeded")
    expect(log).to_contain_text("Database: sqlite reachable.")
    expect(page.get_by_text("Live: new lines appear")).to_be_hidden()


def test_the_live_hint_goes_away_when_the_job_finishes(new_context, bob, acme) -> None:  # type: ignore[no-untyped-def]
    """The spinner and "Live: new lines appear..." must not stay next to "The job has finished."."""
    ensure_broker_dirs()
    page = new_context(user=bob).new_page()
    page.goto("/settings/")
    page.get_by_role("button", name="Run check").click()
    expect(page.get_by_test_id("job-status")).to_have_text("Queued")
    execute_job(Job.objects.get(kind="core.diagnostics", team=acme).pk)
    expect(page.get_by_text("The job has finished.")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("Live: new lines appear")).to_be_hidden()
