"""The job page follows a job to its end without a reload (WebSocket, else polling)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from devflow.core.jobs import execute_job
from devflow.core.models import Job, JobStatus
from devflow.taskqueue import ensure_broker_dirs

pytestmark = pytest.mark.browser


def test_it_shows_the_installation_check_finishing_without_a_reload(  # type: ignore[no-untyped-def]
    new_context, bob, acme
) -> None:
    # A started worker creates the embedded broker's folders; without them the web
    # process cannot queue (reported: `prepare` should create them).
    ensure_broker_dirs()
    page = new_context(user=bob).new_page()
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
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    assert page.evaluate("window.notReloaded") is True
    assert page.evaluate("document.getElementById('job-progress').style.width") == "100%"

    page.reload()
    expect(status).to_have_text("Succeeded")
    expect(log).to_contain_text("Database: sqlite reachable.")
