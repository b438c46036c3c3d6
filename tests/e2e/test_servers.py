"""Servers in the browser: add one over real SSH, a quick action, a bulk action on three."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from devflow.core.jobs import execute_job
from devflow.core.models import Job
from devflow.servers import keys, services
from devflow.servers.models import BulkRun, Server
from devflow.taskqueue import ensure_broker_dirs
from tests.e2e.conftest import PHONE, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.services]


@pytest.fixture
def imported_key(transactional_db, alice, acme, shared_sshd):  # type: ignore[no-untyped-def]
    ensure_broker_dirs()  # the web process queues jobs; no worker runs them here
    return keys.import_key(alice, acme, "deploy key", shared_sshd.client_key.read_text())


def run_latest(kind: str) -> Job:
    job = Job.objects.filter(kind=kind).latest("pk")
    execute_job(job.pk)
    job.refresh_from_db()
    return job


def test_add_a_server_see_it_checked_and_run_a_quick_action(
    new_context, alice, imported_key, shared_sshd
):
    page = new_context(user=alice).new_page()
    page.goto("/servers/")
    expect(page.get_by_text("No servers yet")).to_be_visible()
    page.get_by_role("link", name="Add server").first.click()
    page.get_by_label("Name", exact=True).fill("web-1")
    page.get_by_label("Host", exact=True).fill("127.0.0.1")
    page.get_by_label("Port").fill(str(shared_sshd.port))
    page.get_by_label("Username").fill(shared_sshd.username)
    page.get_by_role("button", name="Add and check connection").click()
    expect(page.get_by_role("heading", name=re.compile("web-1"))).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Checking the connection")

    check = run_latest("servers.check")
    assert check.status == "succeeded", check.error
    page.reload()
    expect(page.get_by_test_id("server-status")).to_have_text("Up")
    server = Server.objects.get(name="web-1")
    expect(page.get_by_test_id("host-key-fingerprint")).to_have_text(server.host_key_fingerprint)
    expect(page.get_by_test_id("facts")).to_contain_text("Debian")
    screenshot(page, "server-detail-1280-light")

    page.get_by_role("button", name="Disk usage").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+/$"))
    job = run_latest("servers.disk_usage")
    assert job.status == "succeeded", job.error
    expect(page.get_by_test_id("job-status")).to_have_text("Succeeded", timeout=15_000)
    expect(page.get_by_test_id("job-log")).to_contain_text("Filesystem")


def test_a_bulk_command_on_three_servers_shows_each_result(
    new_context, alice, acme, imported_key, sshd_factory
):
    for number in range(3):
        sshd = sshd_factory()
        server = Server.objects.create(
            team=acme,
            name=f"node-{number}",
            host=sshd.host,
            port=sshd.port,
            username=sshd.username,
            ssh_key=imported_key,
        )
        services.pin_host_key(server, sshd.host_public_key)
    page = new_context(user=alice).new_page()
    page.goto("/servers/")
    page.get_by_test_id("select-all").check()
    expect(page.get_by_test_id("bulk-bar")).to_contain_text("3 selected")
    page.get_by_label("Bulk action").select_option("run_command")
    page.get_by_label("Command").fill("echo hello from $SSH_CONNECTION")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Run a command started on 3 server(s).")
    expect(page.get_by_test_id("bulk-summary")).to_contain_text("3 pending")

    run = BulkRun.objects.get()
    execute_job(run.job_id)
    # The page polls (htmx) and shows every result without a reload.
    expect(page.get_by_test_id("bulk-summary")).to_contain_text("3 succeeded", timeout=15_000)
    for number in range(3):
        expect(page.get_by_test_id(f"bulk-row-node-{number}")).to_contain_text("hello from")
    screenshot(page, "bulk-run-1280-light")

    phone = new_context(user=alice, viewport=PHONE, theme="dark").new_page()
    phone.goto("/servers/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(phone, "servers-375-dark")
