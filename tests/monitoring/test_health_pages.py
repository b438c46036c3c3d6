"""Health check pages through the Django test client (results are made in the database)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devflow.accounts import services as accounts
from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, User
from devflow.core.models import ActivityLog, Job
from devflow.monitoring import health
from devflow.monitoring.models import CheckOutcome, CheckStatus, HealthCheck, HealthResult
from devflow.projects.models import Project
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LIST = "/monitoring/health/"


@pytest.fixture(autouse=True)
def _jobs_stay_here(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)


@pytest.fixture
def victor(acme) -> User:  # type: ignore[no-untyped-def]
    """Viewer in Acme."""
    user = accounts.create_user(username="victor", email="victor@example.com", password=PASSWORD)
    Membership.objects.create(user=user, team=acme, role=Role.VIEWER)
    user.last_team = acme
    user.save()
    return user


@pytest.fixture
def shop(acme) -> Project:  # type: ignore[no-untyped-def]
    return Project.objects.create(
        team=acme, name="shop", repository_url="https://git.example/shop.git"
    )


def add_check(team, name: str = "web", **fields) -> HealthCheck:  # type: ignore[no-untyped-def]
    fields.setdefault("url", f"https://{name}.example.com/health")
    return health.create(None, team, health.CheckData(name=name, **fields))


def set_state(check: HealthCheck, status: str, **fields) -> HealthCheck:  # type: ignore[no-untyped-def]
    HealthCheck.objects.filter(pk=check.pk).update(
        status=status, last_checked_at=timezone.now(), **fields
    )
    check.refresh_from_db()
    return check


def add_results(check: HealthCheck, *outcomes: str) -> None:
    now = timezone.now()
    HealthResult.objects.bulk_create(
        HealthResult(
            health_check=check,
            at=now - timedelta(minutes=n + 1),
            outcome=outcome,
            response_ms=120 if outcome != CheckOutcome.DOWN else None,
            error="Answered HTTP 502, expected 200." if outcome == CheckOutcome.DOWN else "",
        )
        for n, outcome in enumerate(outcomes)
    )


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", response.content.decode())


# The dashboard --------------------------------------------------------------------------


def test_it_shows_an_empty_state_that_invites_a_maintainer_to_add_a_check(alice_client) -> None:  # type: ignore[no-untyped-def]
    response = alice_client.get(LIST)
    assert response.status_code == 200
    page = text(response)
    assert "No health checks yet" in page
    assert 'href="/monitoring/health/new/"' in page
    assert 'aria-current="page">Health checks</a>' in page  # the monitoring tab


def test_a_viewer_sees_no_add_button(client, victor) -> None:  # type: ignore[no-untyped-def]
    client.force_login(victor)
    page = text(client.get(LIST))
    assert "No health checks yet" in page
    assert "/monitoring/health/new/" not in page


def test_it_lists_status_uptime_response_and_certificate_per_check(
    alice_client, acme, shop
) -> None:  # type: ignore[no-untyped-def]
    web = set_state(
        add_check(acme, "web", project=shop),
        CheckStatus.UP,
        last_response_ms=123,
        tls_expires_at=timezone.now() + timedelta(days=5, hours=1),
    )
    add_results(web, *[CheckOutcome.UP] * 3, CheckOutcome.DOWN, CheckOutcome.UNCONFIRMED)
    set_state(add_check(acme, "api"), CheckStatus.DOWN)
    set_state(add_check(acme, "slow"), CheckStatus.DEGRADED)
    paused = add_check(acme, "old")
    health.set_enabled(None, paused, False)

    page = text(alice_client.get(LIST))
    row = re.search(r'<tr data-testid="health-row" data-check="web".*?</tr>', page)
    assert row is not None
    assert 'class="badge badge-green" data-testid="health-status">Up<' in row.group(0)
    assert ">75.00%<" in row.group(0)  # 3 up of 4 counted: the unconfirmed failure is left out
    assert ">123 ms<" in row.group(0)
    assert "5 days left" in row.group(0) and "badge-amber" in row.group(0)  # < 14 days
    assert "shop" in row.group(0)
    assert 'data-check="api" data-status="down"' in page
    assert 'data-check="old" data-status="paused"' in page
    assert ">1 down<" in page and ">1 degraded<" in page and ">1 paused<" in page


def test_it_filters_by_status_and_by_project(alice_client, acme, shop) -> None:  # type: ignore[no-untyped-def]
    set_state(add_check(acme, "web", project=shop), CheckStatus.UP)
    set_state(add_check(acme, "api"), CheckStatus.DOWN)
    set_state(add_check(acme, "shop-api", project=shop), CheckStatus.DOWN)

    down = text(alice_client.get(LIST, {"status": "down"}))
    assert re.findall(r'data-check="([^"]+)"', down) == ["api", "shop-api"]
    shop_down = text(alice_client.get(LIST, {"status": "down", "project": shop.pk}))
    assert re.findall(r'data-check="([^"]+)"', shop_down) == ["shop-api"]
    nothing = text(alice_client.get(LIST, {"status": "degraded"}))
    assert "No check matches these filters" in nothing


def test_the_dashboard_query_count_does_not_grow_with_checks(alice_client, acme) -> None:  # type: ignore[no-untyped-def]
    for n in range(2):
        add_results(add_check(acme, f"site-{n}"), CheckOutcome.UP)
    with CaptureQueriesContext(connection) as few:
        alice_client.get(LIST)
    for n in range(2, 12):
        add_results(add_check(acme, f"site-{n}"), CheckOutcome.UP)
    with CaptureQueriesContext(connection) as many:
        response = alice_client.get(LIST)
    assert response.content.decode().count('data-testid="health-row"') == 12
    assert len(many) == len(few)


def test_another_teams_checks_are_neither_listed_nor_found(client, acme, charlie) -> None:  # type: ignore[no-untyped-def]
    check = add_check(acme, "secret-site")
    client.force_login(charlie)
    assert "secret-site" not in text(client.get(LIST))
    for path in ["", "edit/", "series.json"]:
        assert client.get(f"{LIST}{check.pk}/{path}").status_code == 404
    for action in ["delete", "pause", "resume", "run"]:
        assert client.post(f"{LIST}{check.pk}/{action}/").status_code == 404
    assert HealthCheck.objects.filter(pk=check.pk, enabled=True).exists()


# The form -------------------------------------------------------------------------------


def form_data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "kind": "http",
        "project": "",
        "name": "web",
        "url": "https://web.example.com/health",
        "method": "GET",
        "expected_status": 200,
        "keyword": "",
        "host": "",
        "port": "",
        "interval_seconds": 60,
        "timeout_seconds": 10,
        "degraded_ms": 2000,
        "tls_warn_days": 14,
    }
    data.update(changes)
    return data


def test_a_maintainer_adds_a_check_and_lands_on_its_page(alice_client, alice) -> None:  # type: ignore[no-untyped-def]
    response = alice_client.post(f"{LIST}new/", form_data(keyword="ok"))
    check = HealthCheck.objects.get()
    assert response.status_code == 302 and response.url == f"{LIST}{check.pk}/"
    assert (check.url, check.keyword, check.status) == (
        "https://web.example.com/health",
        "ok",
        CheckStatus.PENDING,
    )
    assert ActivityLog.objects.filter(action="health_check.created", actor=alice).exists()
    page = text(alice_client.get(response.url))
    assert "Added “web”: its first check runs within seconds." in page
    assert "Not checked yet" in page


def test_a_project_check_takes_the_projects_name(alice_client, shop) -> None:  # type: ignore[no-untyped-def]
    assert alice_client.get(f"{LIST}new/", {"project": "nonsense"}).status_code == 200
    form = text(alice_client.get(f"{LIST}new/", {"project": shop.pk}))
    assert f'<option value="{shop.pk}" selected>shop</option>' in form
    alice_client.post(f"{LIST}new/", form_data(name="", project=shop.pk))
    check = HealthCheck.objects.get()
    assert check.name == "shop" and check.project == shop
    detail = text(alice_client.get(f"/projects/{shop.pk}/"))
    assert f'href="/monitoring/health/{check.pk}/"' in detail
    assert "shop: not checked yet" in detail


def test_a_tcp_check_needs_host_and_port(alice_client) -> None:  # type: ignore[no-untyped-def]
    response = alice_client.post(f"{LIST}new/", form_data(kind="tcp", url=""))
    assert response.status_code == 400
    page = text(response)
    assert "Enter the host name or address to connect to." in page
    assert "A port is between 1 and 65535." in page
    alice_client.post(
        f"{LIST}new/", form_data(kind="tcp", url="", host="db.example.com", port=5432)
    )
    assert HealthCheck.objects.get().target == "db.example.com:5432"


def test_a_too_short_interval_is_refused_on_the_form(alice_client) -> None:  # type: ignore[no-untyped-def]
    response = alice_client.post(f"{LIST}new/", form_data(interval_seconds=5, timeout_seconds=2))
    assert response.status_code == 400
    assert "At least 20 seconds" in text(response)
    assert not HealthCheck.objects.exists()


def test_editing_saves_the_new_settings_and_audits_what_changed(alice_client, acme) -> None:  # type: ignore[no-untyped-def]
    check = add_check(acme, "web")
    edit = text(alice_client.get(f"{LIST}{check.pk}/edit/"))
    assert 'value="https://web.example.com/health"' in edit
    response = alice_client.post(
        f"{LIST}{check.pk}/edit/",
        form_data(url="https://web.example.com/ready", interval_seconds=30),
    )
    assert response.status_code == 302
    check.refresh_from_db()
    assert (check.url, check.interval_seconds) == ("https://web.example.com/ready", 30)
    entry = ActivityLog.objects.get(action="health_check.changed")
    assert entry.details == {"changed": ["interval_seconds", "url"]}


# One check ------------------------------------------------------------------------------


def test_the_detail_page_shows_uptime_results_and_the_chart(alice_client, acme) -> None:  # type: ignore[no-untyped-def]
    check = set_state(
        add_check(acme, "web"),
        CheckStatus.DOWN,
        last_error="Answered HTTP 502, expected 200.",
        status_since=timezone.now(),
    )
    add_results(check, CheckOutcome.DOWN, CheckOutcome.UP, CheckOutcome.UP, CheckOutcome.UP)
    page = text(alice_client.get(f"{LIST}{check.pk}/"))
    assert 'data-testid="health-status">Down<' in page
    assert "Answered HTTP 502, expected 200." in page
    assert 'data-testid="uptime-24h">75.00%<' in page
    assert page.count('data-testid="health-result"') == 4
    assert f'data-series-url="/monitoring/health/{check.pk}/series.json"' in page

    series = alice_client.get(f"{LIST}{check.pk}/series.json", {"range": "7d"}).json()
    assert series["range"] == "7d" and series["step"] == 3600
    # The four results may straddle an hour boundary: check what every bucket says.
    assert sum(series["down"]) == 1
    assert {ms for ms in series["avg_ms"] if ms is not None} == {120}
    assert alice_client.get(f"{LIST}{check.pk}/series.json", {"range": "1y"}).status_code == 400


def test_pause_resume_check_now_and_delete(alice_client, alice, acme) -> None:  # type: ignore[no-untyped-def]
    check = add_check(acme, "web")
    url = f"{LIST}{check.pk}/"
    alice_client.post(f"{url}pause/")
    page = text(alice_client.get(url))
    assert 'data-testid="health-status">Paused<' in page and "Resume" in page
    assert "Check now" not in page
    alice_client.post(f"{url}resume/")
    check.refresh_from_db()
    assert check.enabled and check.next_check_at is not None

    response = alice_client.post(f"{url}run/")
    job = Job.objects.get(kind=health.JOB_KIND)
    assert job.params == {"check_ids": [check.pk]}
    assert f"Queued a check of “web” (job #{job.pk})." in text(alice_client.get(response.url))

    response = alice_client.post(f"{url}delete/")
    assert response.url == LIST
    assert not HealthCheck.objects.exists()
    assert "Deleted the health check “web” and its history." in text(alice_client.get(LIST))
    actions = set(ActivityLog.objects.values_list("action", flat=True))
    assert {"health_check.paused", "health_check.resumed", "health_check.deleted"} <= actions


def test_a_viewer_sees_but_may_change_nothing(client, victor, acme) -> None:  # type: ignore[no-untyped-def]
    check = add_check(acme, "web")
    client.force_login(victor)
    page = text(client.get(f"{LIST}{check.pk}/"))
    assert "web.example.com" in page
    assert "Edit" not in page and "Check now" not in page and "Delete" not in page
    assert client.get(f"{LIST}new/").status_code == 403
    assert client.post(f"{LIST}new/", form_data()).status_code == 403
    assert client.get(f"{LIST}{check.pk}/edit/").status_code == 403
    for action in ["delete", "pause", "run"]:
        assert client.post(f"{LIST}{check.pk}/{action}/").status_code == 403
    assert HealthCheck.objects.filter(pk=check.pk, enabled=True).exists()
    assert not Job.objects.exists()


def test_a_deployer_may_check_now_but_not_change_the_check(client, bob, acme) -> None:  # type: ignore[no-untyped-def]
    check = add_check(acme, "web")
    client.force_login(bob)
    assert client.post(f"{LIST}{check.pk}/run/").status_code == 302
    assert client.post(f"{LIST}{check.pk}/pause/").status_code == 403
    assert client.post(f"{LIST}{check.pk}/edit/", form_data(name="x")).status_code == 403
