"""The monitoring API: metrics series and latest samples, health checks (CRUD, check now,
results, uptime), with the pages' roles and team scope."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devflow.accounts import services as account_services
from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, Team, User
from devflow.core.jobs import execute_job
from devflow.core.models import Job, JobStatus
from devflow.monitoring import health
from devflow.monitoring.models import CheckOutcome, HealthCheck, HealthResult, ServerSample
from devflow.projects.models import Project
from devflow.servers.models import Server
from tests.api.conftest import problem_of
from tests.monitoring.health_servers import Site, serve

pytestmark = pytest.mark.django_db

GiB = 1024**3


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture(autouse=True)
def _jobs_stay_here(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Queued jobs are not sent to a broker; a test runs them itself when it needs to."""
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)


def member(team: Team, name: str, role: str) -> User:
    user = account_services.create_user(
        username=name, email=f"{name}@example.com", password="correct horse battery staple"
    )
    Membership.objects.create(user=user, team=team, role=role)
    return user


@pytest.fixture
def victor(acme) -> User:  # type: ignore[no-untyped-def]
    """Viewer in Acme."""
    return member(acme, "victor", Role.VIEWER)


@pytest.fixture
def mia(acme) -> User:  # type: ignore[no-untyped-def]
    """Maintainer in Acme."""
    return member(acme, "mia", Role.MAINTAINER)


@pytest.fixture
def web1(acme) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=acme, name="web-1", host="10.0.0.5")


@pytest.fixture
def theirs(globex) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=globex, name="their-1", host="10.9.9.9")


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as running:
        yield running


def add_samples(server: Server, minutes: int, cpu: float = 25.0) -> None:
    """One sample a minute for `minutes`, the newest now."""
    now = timezone.now()
    ServerSample.objects.bulk_create(
        ServerSample(
            server=server,
            at=now - timedelta(minutes=minute),
            cpu_percent=cpu,
            mem_used=2 * GiB,
            mem_total=8 * GiB,
            swap_used=0,
            swap_total=GiB,
            load1=0.5,
            load5=0.25,
            load15=0.125,
            net_rx_bps=1536.0,
            net_tx_bps=512.0,
            disk_read_bps=4096.0,
            disk_write_bps=8192.0,
            disk_used=30 * GiB,
            disk_total=100 * GiB,
            mounts=[{"mount": "/", "used": 30 * GiB, "total": 100 * GiB}],
        )
        for minute in range(minutes)
    )


def http_check(team: Team, url: str, **fields: object) -> HealthCheck:
    data = health.CheckData(name=str(fields.pop("name", "web")), url=url, **fields)  # type: ignore[arg-type]
    return health.create(None, team, data)


# Metrics --------------------------------------------------------------------------------


def test_metrics_series_gives_the_columns_of_the_range(api, alice, web1) -> None:  # type: ignore[no-untyped-def]
    add_samples(web1, 30, cpu=42.5)
    body = api(alice, "read").get(f"/api/v1/metrics/{web1.pk}/?range=1h").json()
    assert body["range"] == "1h" and body["resolution"] == "raw"
    assert len(body["at"]) == 30
    assert body["cpu_percent"] == [42.5] * 30
    assert body["mem_total"] == [8 * GiB] * 30
    assert body["at"] == sorted(body["at"])


def test_metrics_default_to_an_hour_and_refuse_an_unknown_range(api, alice, web1) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read")
    assert client.get(f"/api/v1/metrics/{web1.pk}/").json()["range"] == "1h"
    response = client.get(f"/api/v1/metrics/{web1.pk}/?range=1y")
    assert response.status_code == 400
    assert problem_of(response)["errors"] == {
        "range": ["range must be one of 1h, 6h, 24h, 7d, 30d"]
    }


def test_metrics_of_another_teams_server_are_a_404(api, alice, theirs) -> None:  # type: ignore[no-untyped-def]
    add_samples(theirs, 5)
    response = api(alice, "read").get(f"/api/v1/metrics/{theirs.pk}/?range=1h")
    assert response.status_code == 404
    assert problem_of(response)["detail"] == "Not found (or not yours)."


def test_latest_lists_each_of_my_servers_with_its_newest_sample(  # type: ignore[no-untyped-def]
    api, alice, acme, web1, theirs
) -> None:
    quiet = Server.objects.create(team=acme, name="web-2", host="10.0.0.6")
    add_samples(web1, 3, cpu=11.0)
    add_samples(theirs, 3)
    body = api(alice, "read").get(f"/api/v1/metrics/latest/?team={acme.pk}").json()
    assert body["count"] == 2
    rows = {row["server_name"]: row for row in body["results"]}
    assert rows["web-1"]["server"] == web1.pk
    assert rows["web-1"]["sample"]["cpu_percent"] == 11.0
    assert rows["web-1"]["sample"]["mounts"][0]["mount"] == "/"
    assert rows["web-2"]["server"] == quiet.pk and rows["web-2"]["sample"] is None


def test_metrics_need_a_token_with_read(api, alice, web1) -> None:  # type: ignore[no-untyped-def]
    response = api(alice, "deploy").get(f"/api/v1/metrics/{web1.pk}/")
    assert response.status_code == 403
    assert "lacks the “read” scope" in problem_of(response)["detail"]


# Health checks: saving ------------------------------------------------------------------


def test_a_maintainer_adds_a_check_and_its_detail_has_uptime(api, mia, acme) -> None:  # type: ignore[no-untyped-def]
    project = Project.objects.create(team=acme, name="shop", repository_url="https://x.test/r.git")
    response = api(mia, "read", "write").post(
        "/api/v1/health-checks/",
        {
            "team": acme.pk,
            "project": project.pk,
            "url": "https://shop.example.com/health",
            "keyword": "ok",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    check = HealthCheck.objects.get()
    assert body["id"] == check.pk and check.team == acme and check.created_by == mia
    assert body["name"] == "shop"  # named after its project, as the page does
    assert body["status"] == "pending" and body["enabled"] is True
    assert body["uptime"] == {"24h": None, "7d": None, "30d": None}
    assert check.next_check_at is not None


def test_invalid_settings_answer_the_services_message_and_save_nothing(api, alice, acme) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write")
    response = client.post(
        "/api/v1/health-checks/",
        {
            "team": acme.pk,
            "name": "api",
            "url": "https://user:pw@example.com/",
            "interval_seconds": 5,
        },
        format="json",
    )
    assert response.status_code == 400
    errors = problem_of(response)["errors"]
    assert errors["url"] == [
        "Leave credentials out of the address: it is stored and shown in clear."
    ]
    assert errors["interval_seconds"] == ["At least 20 seconds, at most a day (86400 seconds)."]
    response = client.post(
        "/api/v1/health-checks/",
        {"team": acme.pk, "name": "db", "kind": "tcp", "host": "db"},
        format="json",
    )
    assert problem_of(response)["errors"] == {"port": ["A port is between 1 and 65535."]}
    response = client.post("/api/v1/health-checks/", {"name": "x", "colour": "red"}, format="json")
    assert problem_of(response)["errors"] == {"colour": ["Unknown field."]}
    assert not HealthCheck.objects.exists()


def test_a_change_goes_through_the_service_and_a_bad_one_changes_nothing(  # type: ignore[no-untyped-def]
    api, alice, acme
) -> None:
    check = http_check(acme, "https://example.com/")
    client = api(alice, "read", "write")
    response = client.patch(
        f"/api/v1/health-checks/{check.pk}/", {"timeout_seconds": 30, "interval_seconds": 30},
        format="json",
    )  # fmt: skip
    assert problem_of(response)["errors"] == {
        "timeout_seconds": ["The timeout must be shorter than the interval."]
    }
    response = client.patch(
        f"/api/v1/health-checks/{check.pk}/", {"name": "home", "interval_seconds": 120},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200
    check.refresh_from_db()
    assert (check.name, check.interval_seconds, check.url) == ("home", 120, "https://example.com/")
    response = client.patch(f"/api/v1/health-checks/{check.pk}/", {"enabled": False}, format="json")
    assert response.json()["state"] == "Paused"
    check.refresh_from_db()
    assert not check.enabled and check.next_check_at is None


def test_a_project_of_another_team_is_refused(api, alice, acme, globex) -> None:  # type: ignore[no-untyped-def]
    project = Project.objects.create(team=globex, name="theirs", repository_url="https://x.test/r")
    response = api(alice, "read", "write").post(
        "/api/v1/health-checks/",
        {"team": acme.pk, "project": project.pk, "url": "https://example.com/"},
        format="json",
    )
    assert response.status_code == 400
    assert "project" in problem_of(response)["errors"]
    assert not HealthCheck.objects.exists()


def test_roles_are_the_pages_roles(api, acme, bob, victor, mia) -> None:  # type: ignore[no-untyped-def]
    check = http_check(acme, "https://example.com/")
    every = ("read", "write", "deploy", "admin")
    for user in (bob, victor):
        client = api(user, *every)
        assert client.get(f"/api/v1/health-checks/{check.pk}/").status_code == 200
        for response in (
            client.post(
                "/api/v1/health-checks/",
                {"team": acme.pk, "url": "https://a.example/"},
                format="json",
            ),
            client.patch(f"/api/v1/health-checks/{check.pk}/", {"name": "x"}, format="json"),
            client.delete(f"/api/v1/health-checks/{check.pk}/"),
        ):
            assert response.status_code == 403, response.content
            assert "does not allow this" in problem_of(response)["detail"]
    response = api(victor, *every).post(f"/api/v1/health-checks/{check.pk}/run/")
    assert response.status_code == 403
    assert api(bob, *every).post(f"/api/v1/health-checks/{check.pk}/run/").status_code == 202
    assert api(mia, *every).delete(f"/api/v1/health-checks/{check.pk}/").status_code == 204
    assert not HealthCheck.objects.exists()


def test_a_scope_too_small_is_403(api, alice, acme) -> None:  # type: ignore[no-untyped-def]
    check = http_check(acme, "https://example.com/")
    client = api(alice, "read")
    response = client.post(f"/api/v1/health-checks/{check.pk}/run/")
    assert "lacks the “deploy” scope" in problem_of(response)["detail"]
    response = client.delete(f"/api/v1/health-checks/{check.pk}/")
    assert "lacks the “write” scope" in problem_of(response)["detail"]
    assert HealthCheck.objects.filter(pk=check.pk).exists()
    assert not Job.objects.exists()


def test_another_teams_check_is_a_404_on_every_route(api, alice, globex) -> None:  # type: ignore[no-untyped-def]
    check = http_check(globex, "https://example.com/", name="theirs")
    client = api(alice, "read", "write", "deploy")
    base = f"/api/v1/health-checks/{check.pk}/"
    for response in (
        client.get(base),
        client.get(base + "results/"),
        client.put(base, {"name": "mine", "url": "https://example.com/"}, format="json"),
        client.patch(base, {"name": "mine"}, format="json"),
        client.delete(base),
        client.post(base + "run/"),
    ):
        assert response.status_code == 404
        assert problem_of(response)["detail"] == "Not found (or not yours)."
    check.refresh_from_db()
    assert check.name == "theirs"
    assert not Job.objects.exists()
    assert api(alice, "read").get("/api/v1/health-checks/").json()["count"] == 0


# Health checks: running and reading -----------------------------------------------------------


def test_check_now_queues_the_job_and_its_run_shows_in_results_and_uptime(  # type: ignore[no-untyped-def]
    api, bob, acme, site
) -> None:
    acme.allow_private_egress = True
    acme.save()
    check = http_check(acme, site.url("/ok"), keyword="all good")
    client = api(bob, "read", "deploy")
    response = client.post(f"/api/v1/health-checks/{check.pk}/run/")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == health.JOB_KIND and job.params == {"check_ids": [check.pk]}
    assert job.actor == bob and job.status == JobStatus.QUEUED

    execute_job(job.pk)

    assert site.hits == 1
    results = client.get(f"/api/v1/health-checks/{check.pk}/results/").json()
    assert results["count"] == 1
    assert results["results"][0]["outcome"] == CheckOutcome.UP
    assert results["results"][0]["status_code"] == 200
    detail = client.get(f"/api/v1/health-checks/{check.pk}/").json()
    assert detail["status"] == "up" and detail["state"] == "Up"
    assert detail["uptime"] == {"24h": 100.0, "7d": 100.0, "30d": 100.0}


def test_checking_a_paused_check_is_a_conflict(api, alice, acme) -> None:  # type: ignore[no-untyped-def]
    check = http_check(acme, "https://example.com/")
    health.set_enabled(None, check, False)
    response = api(alice, "read", "deploy").post(f"/api/v1/health-checks/{check.pk}/run/")
    assert response.status_code == 409
    assert problem_of(response)["detail"] == "“web” is paused; resume it to check it."
    assert not Job.objects.exists()


def test_results_are_newest_first_and_paginated(api, alice, acme) -> None:  # type: ignore[no-untyped-def]
    check = http_check(acme, "https://example.com/")
    start = timezone.now() - timedelta(hours=1)
    HealthResult.objects.bulk_create(
        HealthResult(
            health_check=check, at=start + timedelta(minutes=n), outcome="up", response_ms=n
        )
        for n in range(30)
    )
    body = (
        api(alice, "read")
        .get(f"/api/v1/health-checks/{check.pk}/results/?page_size=10&page=2")
        .json()
    )
    assert body["count"] == 30
    assert [r["response_ms"] for r in body["results"]] == list(range(19, 9, -1))


def test_the_list_filters_like_the_page(api, alice, acme) -> None:  # type: ignore[no-untyped-def]
    project = Project.objects.create(team=acme, name="shop", repository_url="https://x.test/r.git")
    up = http_check(acme, "https://a.example/", name="a", project=project)
    HealthCheck.objects.filter(pk=up.pk).update(status="up")
    paused = http_check(acme, "https://b.example/", name="b")
    health.set_enabled(None, paused, False)
    tcp = health.create(None, acme, health.CheckData(name="db", kind="tcp", host="db", port=5432))
    client = api(alice, "read")

    def names(query: str) -> list[str]:
        return [c["name"] for c in client.get(f"/api/v1/health-checks/?{query}").json()["results"]]

    assert names("") == ["a", "b", "db"]
    assert names("status=paused") == ["b"]
    assert names("status=up") == ["a"]
    assert names("kind=tcp") == [tcp.name]
    assert names(f"project={project.pk}") == ["a"]
    assert names("ordering=-name") == ["db", "b", "a"]


def test_the_list_reads_the_same_number_of_queries_for_1_or_20_checks(  # type: ignore[no-untyped-def]
    client, alice, acme
) -> None:
    project = Project.objects.create(team=acme, name="shop", repository_url="https://x.test/r.git")
    client.force_login(alice)  # the session: no token bookkeeping in the count

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/health-checks/").status_code == 200
        return len(captured)

    check = http_check(acme, "https://example.com/", name="c0", project=project)
    HealthResult.objects.create(health_check=check, at=timezone.now(), outcome="up")
    one = queries()
    for n in range(1, 20):
        check = http_check(acme, "https://example.com/", name=f"c{n}", project=project)
        HealthResult.objects.create(health_check=check, at=timezone.now(), outcome="down")
    assert client.get("/api/v1/health-checks/").json()["count"] == 20
    assert queries() == one
