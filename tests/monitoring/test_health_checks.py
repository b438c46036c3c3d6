"""Health checks against real servers on 127.0.0.1: HTTP, HTTPS with a short-lived
certificate, TCP ports, and the egress guard; the confirmation retry, events, uptime."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from devflow.accounts.models import Team
from devflow.core.jobs import execute_job
from devflow.core.models import ActivityLog, Job, JobStatus
from devflow.monitoring import health, health_queries, health_ticks
from devflow.monitoring.models import (
    CheckKind,
    CheckOutcome,
    CheckStatus,
    HealthCheck,
    HealthResult,
)
from devflow.notifications.models import Channel, Delivery
from tests.conftest import free_port
from tests.monitoring.health_servers import Site, make_certificates, open_port, serve

pytestmark = pytest.mark.django_db


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as running:
        yield running


@pytest.fixture
def private_ok(acme) -> Team:  # type: ignore[no-untyped-def]
    """The owner of Acme allowed private addresses (the test servers are on loopback)."""
    acme.allow_private_egress = True
    acme.save()
    return acme


@pytest.fixture
def channel(acme) -> Channel:  # type: ignore[no-untyped-def]
    return Channel.objects.create(
        team=acme,
        name="ops",
        url="json://127.0.0.1:9/",
        service="json",
        masked_url="json://127.0.0.1:9/",
        events=["health.down", "health.up"],
    )


@pytest.fixture(autouse=True)
def _jobs_stay_here(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Queued jobs (deliveries, runs) are not sent to a broker; tests run them when needed."""
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)


def http_check(team: Team, url: str, **fields: object) -> HealthCheck:
    data = health.CheckData(name=fields.pop("name", "web"), url=url, **fields)  # type: ignore[arg-type]
    return health.create(None, team, data)


def run(check: HealthCheck) -> HealthResult:
    check.refresh_from_db()
    return health.record(check, health.run_check(check))


# One run -------------------------------------------------------------------------------


def test_it_is_up_when_the_page_answers_the_expected_status_and_keyword(site, private_ok) -> None:  # type: ignore[no-untyped-def]
    check = http_check(private_ok, site.url("/ok"), keyword="all good")
    result = run(check)
    check.refresh_from_db()
    assert result.outcome == CheckOutcome.UP
    assert check.status == CheckStatus.UP
    assert check.last_status_code == 200
    assert check.last_response_ms is not None
    assert check.last_error == ""
    assert check.tls_expires_at is None  # plain HTTP: no certificate


def test_a_slow_answer_is_degraded_and_says_why(site, private_ok) -> None:  # type: ignore[no-untyped-def]
    check = http_check(private_ok, site.url("/slow"), degraded_ms=100)
    result = run(check)
    check.refresh_from_db()
    assert result.outcome == CheckOutcome.DEGRADED
    assert check.status == CheckStatus.DEGRADED
    assert "degraded above 100 ms" in check.last_error


def test_a_500_is_a_failure_with_the_status_in_the_message(site, private_ok) -> None:  # type: ignore[no-untyped-def]
    check = http_check(private_ok, site.url("/error"))
    result = run(check)
    check.refresh_from_db()
    assert result.outcome == CheckOutcome.UNCONFIRMED
    assert check.last_status_code == 500
    assert check.last_error == "Answered HTTP 500, expected 200."


def test_an_expected_non_200_status_is_up(site, private_ok) -> None:  # type: ignore[no-untyped-def]
    check = http_check(private_ok, site.url("/missing"), expected_status=404)
    assert run(check).outcome == CheckOutcome.UP


def test_a_missing_keyword_is_a_failure(site, private_ok) -> None:  # type: ignore[no-untyped-def]
    check = http_check(private_ok, site.url("/ok"), keyword="welcome back")
    run(check)
    check.refresh_from_db()
    assert check.last_error == "The keyword “welcome back” is not in the response."
    assert check.confirming


def test_head_and_post_requests_reach_the_server(site, private_ok) -> None:  # type: ignore[no-untyped-def]
    head = http_check(private_ok, site.url("/ok"), name="head", method="HEAD")
    assert run(head).outcome == CheckOutcome.UP
    post = http_check(private_ok, site.url("/ok"), name="post", method="POST")
    result = run(post)  # the test server has no POST handler: 501 from http.server
    assert result.status_code == 501
    assert result.error == "Answered HTTP 501, expected 200."


def test_the_certificate_expiry_comes_from_the_handshake_and_soon_means_degraded(
    tmp_path, private_ok
) -> None:  # type: ignore[no-untyped-def]
    certs = make_certificates(tmp_path / "tls", valid_for=timedelta(days=2))
    with (
        override_settings(DEVFLOW_CA_BUNDLE=str(certs.ca_path)),
        serve(certs.server_context()) as tls_site,
    ):
        check = http_check(private_ok, tls_site.url("/ok"), tls_warn_days=14)
        result = run(check)
    check.refresh_from_db()
    assert check.tls_expires_at == certs.not_after
    assert result.outcome == CheckOutcome.DEGRADED
    assert check.status == CheckStatus.DEGRADED
    assert "The TLS certificate expires in 1 day (warning below 14 days)." in check.last_error
    assert health_queries.tls_days_left(check) == 1


def test_a_certificate_from_an_unknown_ca_is_a_failure(tmp_path, private_ok) -> None:  # type: ignore[no-untyped-def]
    certs = make_certificates(tmp_path / "tls")
    with serve(certs.server_context()) as tls_site:  # the test CA is not trusted here
        check = http_check(private_ok, tls_site.url("/ok"))
        result = run(check)
    assert result.outcome == CheckOutcome.UNCONFIRMED
    assert result.error.startswith("The TLS certificate is not valid:")


def test_a_timeout_is_a_failure_that_names_the_timeout(site, private_ok, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    check = http_check(private_ok, site.url("/slow"), timeout_seconds=1, degraded_ms=500)
    # The server sleeps longer than the timeout; only the wording matters here.
    monkeypatch.setattr("tests.monitoring.health_servers.SLOW_SECONDS", 1.5)
    result = run(check)
    assert result.error == "No answer within 1 s (timeout)."


def test_an_open_tcp_port_is_up_and_a_closed_one_is_refused(private_ok) -> None:  # type: ignore[no-untyped-def]
    with open_port() as port:
        check = health.create(
            None,
            private_ok,
            health.CheckData(name="db", kind=CheckKind.TCP, host="127.0.0.1", port=port),
        )
        assert run(check).outcome == CheckOutcome.UP
    closed = free_port()
    check = health.create(
        None,
        private_ok,
        health.CheckData(name="cache", kind=CheckKind.TCP, host="127.0.0.1", port=closed),
    )
    result = run(check)
    assert result.outcome == CheckOutcome.UNCONFIRMED
    assert result.error == f"Connection refused on port {closed}: nothing listens there."
    assert check.target == f"127.0.0.1:{closed}"


def test_an_http_check_on_a_closed_port_says_the_connection_was_refused(private_ok) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    result = run(http_check(private_ok, f"http://127.0.0.1:{port}/"))
    assert result.error == f"Connection refused by 127.0.0.1 on port {port}: nothing listens there."


def test_the_metadata_address_is_refused_even_when_private_addresses_are_allowed(
    private_ok,
) -> None:  # type: ignore[no-untyped-def]
    check = http_check(private_ok, "http://169.254.169.254/latest/meta-data/")
    run(check)
    run(check)
    check.refresh_from_db()
    assert check.status == CheckStatus.DOWN
    assert (
        check.last_error == "Refused 169.254.169.254: 169.254.169.254 is a cloud metadata address."
    )
    tcp = health.create(
        None,
        private_ok,
        health.CheckData(name="meta", kind=CheckKind.TCP, host="169.254.169.254", port=80),
    )
    assert "cloud metadata address" in run(tcp).error


def test_loopback_is_refused_until_the_owner_allows_private_addresses(site, acme) -> None:  # type: ignore[no-untyped-def]
    check = http_check(acme, site.url("/ok"))
    result = run(check)
    assert "is this machine (loopback); an owner can allow private addresses" in result.error
    assert site.hits == 0


# Confirmation and events ----------------------------------------------------------------


def test_a_failure_counts_as_down_only_when_the_retry_fails_too(site, private_ok, channel) -> None:  # type: ignore[no-untyped-def]
    check = http_check(private_ok, site.url("/flaky"))
    assert run(check).outcome == CheckOutcome.UP
    site.status = 503

    first = run(check)
    check.refresh_from_db()
    assert first.outcome == CheckOutcome.UNCONFIRMED
    assert check.status == CheckStatus.UP and check.confirming
    assert check.next_check_at == first.at + timedelta(seconds=health.RETRY_SECONDS)
    assert not Delivery.objects.exists()

    second = run(check)
    check.refresh_from_db()
    assert second.outcome == CheckOutcome.DOWN
    assert check.status == CheckStatus.DOWN and not check.confirming
    assert check.status_since == second.at
    assert check.next_check_at == second.at + timedelta(seconds=check.interval_seconds)
    down = Delivery.objects.get()
    assert down.event == "health.down"
    assert down.title == "web is down"
    assert "failed twice in a row: Answered HTTP 503, expected 200." in down.body
    assert down.link.endswith(f"/monitoring/health/{check.pk}/")
    assert down.data == {
        "check": {"id": check.pk, "name": "web", "kind": check.kind, "target": check.target,
                  "status": "down"},
        "error": "Answered HTTP 503, expected 200.",
    }  # fmt: skip

    # Still down: no confirmation needed, and no second notification.
    assert run(check).outcome == CheckOutcome.DOWN
    assert Delivery.objects.count() == 1

    site.status = 200
    assert run(check).outcome == CheckOutcome.UP
    up = Delivery.objects.exclude(pk=down.pk).get()
    assert up.event == "health.up"
    assert up.title == "web is back up"


def test_a_failure_then_success_is_not_down_and_sends_nothing(site, private_ok, channel) -> None:  # type: ignore[no-untyped-def]
    check = http_check(private_ok, site.url("/flaky"))
    site.status = 500
    run(check)
    site.status = 200
    assert run(check).outcome == CheckOutcome.UP
    check.refresh_from_db()
    assert check.status == CheckStatus.UP and not check.confirming
    assert not Delivery.objects.exists()
    outcomes = list(check.results.order_by("at").values_list("outcome", flat=True))
    assert outcomes == [CheckOutcome.UNCONFIRMED, CheckOutcome.UP]
    assert health_queries.uptimes([check.pk])[check.pk]["24h"] == 100.0


def test_the_first_success_after_pending_sends_no_back_up(site, private_ok, channel) -> None:  # type: ignore[no-untyped-def]
    check = http_check(private_ok, site.url("/ok"))
    assert check.status == CheckStatus.PENDING
    run(check)
    check.refresh_from_db()
    assert check.status == CheckStatus.UP
    assert not Delivery.objects.exists()


def test_a_paused_check_stays_paused_when_a_run_in_flight_records(site, private_ok) -> None:  # type: ignore[no-untyped-def]
    check = http_check(private_ok, site.url("/ok"))
    probe = health.run_check(check)
    health.set_enabled(None, check, False)
    health.record(check, probe)
    check.refresh_from_db()
    assert not check.enabled and check.next_check_at is None
    assert health.badge(check) == ("Paused", "grey")


# Scheduling and the job -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_tick_claims_due_checks_once_and_one_job_runs_them_all(site, private_ok) -> None:  # type: ignore[no-untyped-def]
    checks = [http_check(private_ok, site.url("/ok"), name=f"web-{n}") for n in range(5)]
    broken = http_check(private_ok, site.url("/error"), name="broken")
    paused = http_check(private_ok, site.url("/ok"), name="paused")
    health.set_enabled(None, paused, False)
    now = timezone.now()

    assert health_ticks.tick(now) == [health.JOB_KIND, "monitoring.health_purge"]
    assert health_ticks.tick(now) == []  # a second scheduler at the same moment gets nothing
    job = Job.objects.get(kind=health.JOB_KIND)
    assert sorted(job.params["check_ids"]) == sorted([c.pk for c in checks] + [broken.pk])

    execute_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["up"] == 5 and job.result["unconfirmed"] == 1
    assert all(
        status == CheckStatus.UP
        for status in HealthCheck.objects.filter(pk__in=[c.pk for c in checks]).values_list(
            "status", flat=True
        )
    )
    broken.refresh_from_db()
    assert broken.confirming
    # The retry is due a few seconds later: the next tick after that takes it alone.
    later = broken.next_check_at
    assert later is not None
    assert health_ticks.tick(later) == [health.JOB_KIND]
    retry = Job.objects.filter(kind=health.JOB_KIND).order_by("-pk").first()
    assert retry is not None and retry.params["check_ids"] == [broken.pk]
    execute_job(retry.pk)
    broken.refresh_from_db()
    assert broken.status == CheckStatus.DOWN


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_ticking_together_never_claim_the_same_check(acme) -> None:  # type: ignore[no-untyped-def]
    ids = {http_check(acme, f"https://site-{n}.example.com/", name=f"s{n}").pk for n in range(40)}
    now = timezone.now()
    barrier = threading.Barrier(2)
    claims: list[list[int]] = []

    def scheduler() -> None:
        try:
            barrier.wait()
            claims.append(health.claim_due(now))
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claims) == 2
    assert sorted(claims[0] + claims[1]) == sorted(ids)  # each one exactly once


def test_check_now_queues_a_job_for_that_check_and_records_who_asked(
    site, private_ok, alice
) -> None:  # type: ignore[no-untyped-def]
    check = http_check(private_ok, site.url("/ok"))
    job = health.check_now(alice, check)
    assert job.kind == health.JOB_KIND and job.params == {"check_ids": [check.pk]}
    assert job.team == private_ok and job.actor == alice
    assert ActivityLog.objects.filter(action="health_check.run_requested", actor=alice).exists()


# Rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"interval_seconds": 10}, "interval_seconds", "At least 20 seconds"),
        ({"interval_seconds": 20, "timeout_seconds": 20}, "timeout_seconds", "shorter than"),
        ({"url": "ftp://example.com/"}, "url", "Only http:// and https://"),
        ({"url": "example.com/health"}, "url", "Only http:// and https://"),
        ({"url": "https://user:pw@example.com/"}, "url", "Leave credentials out"),
        ({"method": "PUT"}, "method", "GET, HEAD, POST"),
        ({"expected_status": 700}, "expected_status", "between 100 and 599"),
        ({"method": "HEAD", "keyword": "ok"}, "keyword", "HEAD request has no body"),
        ({"kind": "tcp", "host": "", "port": 22}, "host", "Enter the host"),
        ({"kind": "tcp", "host": "db.example.com", "port": None}, "port", "between 1 and 65535"),
        ({"kind": "tcp", "host": "http://db", "port": 5432}, "host", "host name or an IP"),
    ],
)
def test_invalid_settings_are_refused_with_a_message_per_field(
    acme, changes, field, message
) -> None:  # type: ignore[no-untyped-def]
    data = health.CheckData(name="web", url="https://example.com/health")
    for name, value in changes.items():
        setattr(data, name, value)
    with pytest.raises(health.CheckError) as caught:
        health.create(None, acme, data)
    assert message in caught.value.errors[field]
    assert not HealthCheck.objects.exists()


def test_a_project_check_is_named_after_the_project_and_audited(acme, alice) -> None:  # type: ignore[no-untyped-def]
    from devflow.projects.models import Project

    project = Project.objects.create(team=acme, name="shop", repository_url="https://x/shop.git")
    check = health.create(
        alice, acme, health.CheckData(project=project, url="https://shop.example.com/")
    )
    assert check.name == "shop"
    assert check.next_check_at is not None  # due at the next tick
    entry = ActivityLog.objects.get(action="health_check.created")
    assert entry.actor == alice and entry.details["target"] == "https://shop.example.com/"


def test_a_project_of_another_team_is_refused(acme, globex) -> None:  # type: ignore[no-untyped-def]
    from devflow.projects.models import Project

    theirs = Project.objects.create(team=globex, name="theirs", repository_url="https://x/t.git")
    with pytest.raises(health.CheckError) as caught:
        health.create(None, acme, health.CheckData(project=theirs, url="https://a.example/"))
    assert "project" in caught.value.errors


# Uptime, chart, purge ------------------------------------------------------------------


def add_results(check: HealthCheck, outcomes: list[tuple[timedelta, str, int | None]]) -> None:
    now = timezone.now()
    HealthResult.objects.bulk_create(
        HealthResult(health_check=check, at=now - ago, outcome=outcome, response_ms=ms)
        for ago, outcome, ms in outcomes
    )


def test_uptime_counts_up_and_degraded_against_down_and_leaves_unconfirmed_out(acme) -> None:  # type: ignore[no-untyped-def]
    check = http_check(acme, "https://example.com/")
    hour = timedelta(hours=1)
    add_results(
        check,
        [
            (hour, CheckOutcome.UP, 100),
            (2 * hour, CheckOutcome.UP, 100),
            (3 * hour, CheckOutcome.DEGRADED, 3000),
            (4 * hour, CheckOutcome.DOWN, None),
            (5 * hour, CheckOutcome.UNCONFIRMED, None),
            (3 * 24 * hour, CheckOutcome.DOWN, None),  # only in 7 d and 30 d
            (10 * 24 * hour, CheckOutcome.UP, 100),  # only in 30 d
            (40 * 24 * hour, CheckOutcome.DOWN, None),  # outside every window
        ],
    )
    other = http_check(acme, "https://example.org/", name="quiet")
    uptime = health_queries.uptimes([check.pk, other.pk])
    assert uptime[check.pk] == {"24h": 75.0, "7d": 60.0, "30d": pytest.approx(100 * 4 / 6)}
    assert uptime[other.pk] == {"24h": None, "7d": None, "30d": None}


def test_the_chart_reads_buckets_not_every_result(acme) -> None:  # type: ignore[no-untyped-def]
    check = http_check(acme, "https://example.com/")
    # A result every 20 s for a day: 4,320 rows, one of them down.
    add_results(
        check,
        [
            (
                timedelta(seconds=20 * n),
                CheckOutcome.DOWN if n == 7 else CheckOutcome.UP,
                100 + n % 3,
            )
            for n in range(3 * 60 * 24 - 2)
        ],
    )
    day = health_queries.series(check, "24h")
    assert 280 <= len(day["at"]) <= 289
    assert day["at"] == sorted(day["at"]) and all(at % 300 == 0 for at in day["at"])
    assert sum(day["down"]) == 1
    assert all(100 <= avg <= 102 for avg in day["avg_ms"])
    assert max(day["max_ms"]) == 102
    week = health_queries.series(check, "7d")
    assert 24 <= len(week["at"]) <= 25
    assert all(at % 3600 == 0 for at in week["at"])


def test_results_older_than_31_days_are_purged(acme) -> None:  # type: ignore[no-untyped-def]
    check = http_check(acme, "https://example.com/")
    add_results(
        check,
        [(timedelta(days=32), CheckOutcome.UP, 1), (timedelta(days=29), CheckOutcome.UP, 1)],
    )
    assert health.purge() == 1
    assert check.results.count() == 1
