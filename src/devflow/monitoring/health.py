"""Health checks: the rules for saving them, running one, recording what it found.

A run is a `Probe` (what the network said: no database). Recording turns it into a
`HealthResult` and moves the check's status: a failure is first *unconfirmed* and the
check is tried again at the next tick; only a failed retry makes it down (and sends
"health.down"). A check that was down and answers again sends "health.up".

What the pages read (uptime, the chart's buckets) is in `health_queries`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import time
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from cryptography import x509
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from devflow.accounts.models import Team
from devflow.core import audit, egress
from devflow.core.jobs import enqueue
from devflow.core.models import ActivitySource, Job
from devflow.monitoring.models import (
    CheckKind,
    CheckOutcome,
    CheckStatus,
    HealthCheck,
    HealthResult,
)
from devflow.notifications import services as notifications
from devflow.projects.models import Project

JOB_KIND = "monitoring.health"
METHODS = ["GET", "HEAD", "POST"]
MIN_INTERVAL = 20
MAX_INTERVAL = 86400
MAX_TIMEOUT = 60
# The confirming retry waits this long: the next scheduler tick picks it up.
RETRY_SECONDS = 5
KEEP_DAYS = 31
# The body is read this far for the keyword; pages are rarely longer.
MAX_BODY = 1024 * 1024

STATUS_COLOURS = {
    CheckStatus.PENDING: "grey",
    CheckStatus.UP: "green",
    CheckStatus.DEGRADED: "amber",
    CheckStatus.DOWN: "red",
}
OUTCOME_COLOURS = {
    CheckOutcome.UP: "green",
    CheckOutcome.DEGRADED: "amber",
    CheckOutcome.DOWN: "red",
    CheckOutcome.UNCONFIRMED: "grey",
}

HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?$"
)


class CheckError(Exception):
    """A check cannot be saved as given; `errors` maps field names to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# Saving ---------------------------------------------------------------------------------


@dataclass
class CheckData:
    """What a user sets on a check (the form, an API or a test fills it)."""

    name: str = ""
    project: Project | None = None
    kind: str = CheckKind.HTTP
    url: str = ""
    method: str = "GET"
    expected_status: int = 200
    keyword: str = ""
    host: str = ""
    port: int | None = None
    timeout_seconds: int = 10
    interval_seconds: int = 60
    degraded_ms: int = 2000
    tls_warn_days: int = 14

    @classmethod
    def of(cls, check: HealthCheck) -> CheckData:
        return cls(**{f.name: getattr(check, f.name) for f in fields(cls)})


def validate(team: Team, data: CheckData) -> CheckData:
    """Return `data` tidied (stripped, name defaulted); raise CheckError with every problem."""
    errors: dict[str, str] = {}
    data.name = data.name.strip()
    data.url = data.url.strip()
    data.host = data.host.strip().lower()
    if data.project is not None and data.project.team_id != team.pk:
        errors["project"] = "Choose a project of this team."
    if not data.name and data.project is not None:
        data.name = data.project.name
    if not data.name:
        errors["name"] = "Give the check a name, or choose a project to name it after."
    elif len(data.name) > 100:
        errors["name"] = "At most 100 characters."
    if data.kind == CheckKind.HTTP:
        problem = _url_problem(data.url)
        if problem:
            errors["url"] = problem
        if data.method not in METHODS:
            errors["method"] = f"Use one of {', '.join(METHODS)}."
        if not 100 <= data.expected_status <= 599:
            errors["expected_status"] = "An HTTP status is between 100 and 599."
        if data.keyword and data.method == "HEAD":
            errors["keyword"] = "A HEAD request has no body to look in; use GET."
        if len(data.keyword) > 200:
            errors["keyword"] = "At most 200 characters."
        data.host, data.port = "", None
    elif data.kind == CheckKind.TCP:
        if not data.host:
            errors["host"] = "Enter the host name or address to connect to."
        elif not _is_host(data.host):
            errors["host"] = "Enter a host name or an IP address only (no scheme, path or port)."
        if data.port is None or not 1 <= data.port <= 65535:
            errors["port"] = "A port is between 1 and 65535."
        data.url, data.keyword = "", ""
    else:
        errors["kind"] = "Choose HTTP(S) or TCP port."
    if not MIN_INTERVAL <= data.interval_seconds <= MAX_INTERVAL:
        errors["interval_seconds"] = (
            f"At least {MIN_INTERVAL} seconds, at most a day ({MAX_INTERVAL} seconds)."
        )
    if not 1 <= data.timeout_seconds <= MAX_TIMEOUT:
        errors["timeout_seconds"] = f"Between 1 and {MAX_TIMEOUT} seconds."
    elif data.timeout_seconds >= data.interval_seconds:
        errors["timeout_seconds"] = "The timeout must be shorter than the interval."
    if data.degraded_ms < 1:
        errors["degraded_ms"] = "At least 1 ms."
    elif data.degraded_ms >= data.timeout_seconds * 1000 and "timeout_seconds" not in errors:
        errors["degraded_ms"] = "Set it below the timeout, or no answer could ever be slow."
    if not 0 <= data.tls_warn_days <= 365:
        errors["tls_warn_days"] = "Between 0 (never) and 365 days."
    if errors:
        raise CheckError(errors)
    return data


def _url_problem(url: str) -> str:
    if not url:
        return "Enter the address to check, e.g. https://example.com/health."
    if len(url) > 2000:
        return "At most 2,000 characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return "This is not a valid address."
    if parts.scheme not in ("http", "https"):
        return "Only http:// and https:// addresses can be checked."
    if not parts.hostname:
        return "The address has no host name."
    if parts.username or parts.password:
        return "Leave credentials out of the address: it is stored and shown in clear."
    if any(c.isspace() for c in url):
        return "An address has no spaces."
    return ""


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(HOSTNAME.match(host))
    return True


def _apply(check: HealthCheck, data: CheckData) -> None:
    for f in fields(CheckData):
        setattr(check, f.name, getattr(data, f.name))


def create(
    actor: Any, team: Team, data: CheckData, *, request: HttpRequest | None = None
) -> HealthCheck:
    """Save a new check; the next tick runs it for the first time."""
    data = validate(team, data)
    check = HealthCheck(team=team, created_by=actor, next_check_at=timezone.now())
    _apply(check, data)
    check.save()
    audit.record(
        "health_check.created",
        actor=actor,
        team=team,
        target=check,
        request=request,
        details={"target": check.target, "interval_seconds": check.interval_seconds},
    )
    return check


def update(
    actor: Any, check: HealthCheck, data: CheckData, *, request: HttpRequest | None = None
) -> HealthCheck:
    """Change a check; it runs again at the next tick with its new settings."""
    before = CheckData.of(check)
    data = validate(check.team, data)
    _apply(check, data)
    check.confirming = False
    check.next_check_at = timezone.now() if check.enabled else None
    check.save()
    changed = sorted(
        f.name
        for f in fields(CheckData)
        if getattr(before, f.name) != getattr(data, f.name) and f.name != "project"
    )
    if before.project != data.project:
        changed.append("project")
    audit.record(
        "health_check.changed",
        actor=actor,
        team=check.team,
        target=check,
        request=request,
        details={"changed": changed},
    )
    return check


def delete(actor: Any, check: HealthCheck, *, request: HttpRequest | None = None) -> None:
    """Delete a check and its results."""
    label = f"{check.name} ({check.target})"
    team = check.team
    audit.record(
        "health_check.deleted", actor=actor, team=team, target=check, request=request,
        target_label=label,
    )  # fmt: skip
    check.delete()


def set_enabled(
    actor: Any, check: HealthCheck, enabled: bool, *, request: HttpRequest | None = None
) -> HealthCheck:
    """Pause a check (no runs, no results, no events) or resume it at the next tick."""
    check.enabled = enabled
    check.confirming = False
    check.next_check_at = timezone.now() if enabled else None
    check.save(update_fields=["enabled", "confirming", "next_check_at"])
    audit.record(
        "health_check.resumed" if enabled else "health_check.paused",
        actor=actor,
        team=check.team,
        target=check,
        request=request,
    )
    return check


def check_now(actor: Any, check: HealthCheck, *, request: HttpRequest | None = None) -> Job:
    """Queue a run of this one check now (its schedule moves on by an interval)."""
    now = timezone.now()
    HealthCheck.objects.filter(pk=check.pk, enabled=True).update(
        next_check_at=now + timedelta(seconds=check.interval_seconds)
    )
    job = enqueue(
        JOB_KIND,
        team=check.team,
        actor=actor,
        target=check,
        trigger=audit.job_trigger(ActivitySource.WEB, request),
        params={"check_ids": [check.pk]},
    )
    audit.record(
        "health_check.run_requested", actor=actor, team=check.team, target=check, request=request
    )
    return job


# Scheduling -------------------------------------------------------------------------------


def claim_due(now: datetime, limit: int = 1000) -> list[int]:
    """Take the checks due at `now` and move each one's next run by its interval.

    Each claim is a conditional UPDATE on the `next_check_at` just read, so of two
    schedulers ticking together exactly one takes a row (on PostgreSQL the second
    waits for the first's row lock, then finds the time changed).
    """
    due = list(
        HealthCheck.objects.filter(enabled=True, next_check_at__lte=now)
        .order_by("next_check_at")
        .values_list("pk", "next_check_at", "interval_seconds")[:limit]
    )
    claimed = []
    with transaction.atomic():
        for pk, due_at, interval in due:
            # Until the run records its own next time, a lost job is retried after an interval.
            taken = HealthCheck.objects.filter(pk=pk, enabled=True, next_check_at=due_at).update(
                next_check_at=now + timedelta(seconds=interval)
            )
            if taken == 1:
                claimed.append(pk)
    return claimed


# Running ----------------------------------------------------------------------------------


@dataclass
class Probe:
    """What one run found. `error` set = failed; `note` = why it is only degraded."""

    at: datetime
    response_ms: int | None = None
    status_code: int | None = None
    error: str = ""
    note: str = ""
    tls_expires_at: datetime | None = None
    degraded: bool = field(default=False)

    @property
    def failed(self) -> bool:
        return bool(self.error)


def run_check(check: HealthCheck, *, team: Team | None = None) -> Probe:
    """Make the request or connection once and judge it (network only, no database writes)."""
    team = team or check.team
    if check.kind == CheckKind.TCP:
        probe = _run_tcp(check, bool(team.allow_private_egress))
    else:
        probe = _run_http(check, team)
    if not probe.failed:
        _judge(check, probe)
    return probe


def _run_http(check: HealthCheck, team: Team) -> Probe:
    probe = Probe(at=timezone.now())
    started = time.monotonic()
    try:
        with (
            egress.client_for_team(team, timeout=check.timeout_seconds) as client,
            client.stream(check.method, check.url) as response,
        ):
            probe.tls_expires_at = _certificate_expiry(response)
            body = b""
            if check.keyword:
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) >= MAX_BODY:
                        break
            else:
                response.read()
            probe.response_ms = _ms_since(started)
            probe.status_code = response.status_code
    except egress.EgressRefused as error:
        probe.error = str(error)
    except httpx.TimeoutException:
        probe.error = f"No answer within {check.timeout_seconds} s (timeout)."
    except httpx.TooManyRedirects:
        probe.error = "Too many redirects (more than 5)."
    except httpx.HTTPError as error:
        probe.error = _connect_message(error, check.url)
    if probe.failed:
        return probe
    if probe.status_code != check.expected_status:
        probe.error = f"Answered HTTP {probe.status_code}, expected {check.expected_status}."
    elif check.keyword and check.keyword.encode() not in body:
        probe.error = f"The keyword “{check.keyword}” is not in the response."
    return probe


def _connect_message(error: Exception, url: str) -> str:
    text = str(error) or type(error).__name__
    if "Connection refused" in text:
        # The request that failed: after a redirect, not necessarily the check's own URL.
        with contextlib.suppress(RuntimeError):  # RuntimeError: no request attached
            url = str(error.request.url) if isinstance(error, httpx.RequestError) else url
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"Connection refused by {parts.hostname} on port {port}: nothing listens there."
    if "CERTIFICATE_VERIFY_FAILED" in text:
        reason = text.split("certificate verify failed:")[-1].split("(_ssl")[0].strip()
        return f"The TLS certificate is not valid: {reason or 'verification failed'}."
    return f"Could not connect: {text}"[:500]


def _certificate_expiry(response: httpx.Response) -> datetime | None:
    """The end of validity of the certificate the server sent in this handshake."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    # httpcore hands out the socket's internal `_ssl._SSLSocket`: positional argument only.
    der = ssl_object.getpeercert(True)
    if not der:
        return None
    expires: datetime = x509.load_der_x509_certificate(der).not_valid_after_utc
    return expires


def _run_tcp(check: HealthCheck, allow_private: bool) -> Probe:
    probe = Probe(at=timezone.now())
    started = time.monotonic()
    try:
        sock = egress.create_connection(
            check.host, check.port or 0, check.timeout_seconds, allow_private=allow_private
        )
    except egress.EgressRefused as error:
        probe.error = str(error)
    except TimeoutError:
        probe.error = f"No connection within {check.timeout_seconds} s (timeout)."
    except ConnectionRefusedError:
        probe.error = f"Connection refused on port {check.port}: nothing listens there."
    except (httpcore.ConnectError, OSError) as error:
        probe.error = f"Could not connect: {error}"[:500]
    else:
        probe.response_ms = _ms_since(started)
        sock.close()
    return probe


def _ms_since(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


def _judge(check: HealthCheck, probe: Probe) -> None:
    """Mark a successful probe degraded when it was slow or its certificate ends soon."""
    notes = []
    if probe.response_ms is not None and probe.response_ms > check.degraded_ms:
        notes.append(f"Slow: {probe.response_ms:,} ms (degraded above {check.degraded_ms:,} ms).")
    if probe.tls_expires_at is not None and check.tls_warn_days:
        left = probe.tls_expires_at - probe.at
        if left < timedelta(days=check.tls_warn_days):
            notes.append(
                f"The TLS certificate expires in {_days(left)} "
                f"(warning below {check.tls_warn_days} days)."
            )
    probe.degraded = bool(notes)
    probe.note = " ".join(notes)


def _days(left: timedelta) -> str:
    if left < timedelta(days=1):
        hours = max(0, int(left.total_seconds() // 3600))
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{left.days} day{'s' if left.days != 1 else ''}"


# Recording --------------------------------------------------------------------------------


def record(check: HealthCheck, probe: Probe) -> HealthResult:
    """Store one run and move the check's status; emit "health.down" / "health.up".

    A failure while up (or pending, or degraded) is unconfirmed: the status stays and a
    retry is due at the next tick. A failure while confirming or already down is down.
    """
    now = probe.at
    previous = check.status
    if probe.failed and not check.confirming and previous != CheckStatus.DOWN:
        outcome = CheckOutcome.UNCONFIRMED
        status = previous
        confirming = True
        next_at = now + timedelta(seconds=RETRY_SECONDS)
    else:
        if probe.failed:
            outcome = CheckOutcome.DOWN
        elif probe.degraded:
            outcome = CheckOutcome.DEGRADED
        else:
            outcome = CheckOutcome.UP
        status = CheckStatus(outcome.value)
        confirming = False
        next_at = now + timedelta(seconds=check.interval_seconds)
    with transaction.atomic():
        result = HealthResult.objects.create(
            health_check=check,
            at=now,
            outcome=outcome,
            response_ms=probe.response_ms,
            status_code=probe.status_code,
            error=(probe.error or probe.note)[:500],
        )
        changes: dict[str, Any] = {
            "status": status,
            "confirming": confirming,
            "last_checked_at": now,
            "last_response_ms": probe.response_ms,
            "last_status_code": probe.status_code,
            "last_error": (probe.error or probe.note)[:500],
        }
        if probe.tls_expires_at is not None or check.kind == CheckKind.TCP:
            changes["tls_expires_at"] = probe.tls_expires_at
        if status != previous:
            changes["status_since"] = now
        # Only the run's own fields: an edit saved meanwhile keeps its settings.
        HealthCheck.objects.filter(pk=check.pk).update(**changes)
        # Paused meanwhile: it stays paused, with no next run.
        HealthCheck.objects.filter(pk=check.pk, enabled=True).update(next_check_at=next_at)
        for name, value in changes.items():
            setattr(check, name, value)
        if status == CheckStatus.DOWN and previous != CheckStatus.DOWN:
            _emit_down(check, probe)
        elif previous == CheckStatus.DOWN and status in (CheckStatus.UP, CheckStatus.DEGRADED):
            _emit_up(check, probe)
    return result


def _link(check: HealthCheck) -> str:
    return notifications.link_to(reverse("monitoring:health_detail", args=[check.pk]))


def _emit_down(check: HealthCheck, probe: Probe) -> None:
    notifications.emit(
        check.team,
        "health.down",
        title=f"{check.name} is down",
        body=f"{check.target} failed twice in a row: {probe.error}",
        link=_link(check),
        data={"check": check_facts(check, "down"), "error": probe.error},
    )


def _emit_up(check: HealthCheck, probe: Probe) -> None:
    state = "degraded" if probe.degraded else "up"
    timing = f" in {probe.response_ms:,} ms" if probe.response_ms is not None else ""
    body = f"{check.target} answered again{timing}; it is {state}."
    if probe.note:
        body += f" {probe.note}"
    notifications.emit(
        check.team, "health.up", title=f"{check.name} is back up", body=body, link=_link(check),
        data={"check": check_facts(check, state), "response_ms": probe.response_ms},
    )  # fmt: skip


def check_facts(check: HealthCheck, status: str) -> dict[str, Any]:
    """What an event webhook's `data.check` holds (docs/notifications.md)."""
    return {
        "id": check.pk, "name": check.name, "kind": check.kind, "target": check.target,
        "status": status,
    }  # fmt: skip


def purge(now: datetime | None = None) -> int:
    """Delete results older than KEEP_DAYS (the longest chart is 30 days)."""
    cutoff = (now or timezone.now()) - timedelta(days=KEEP_DAYS)
    deleted, _ = HealthResult.objects.filter(at__lt=cutoff).delete()
    return deleted


def badge(check: HealthCheck) -> tuple[str, str]:
    """The label and colour a page shows for a check's state."""
    if not check.enabled:
        return "Paused", "grey"
    status = CheckStatus(check.status)
    label = str(status.label)
    if check.confirming:
        label += ", retrying"
    return label, STATUS_COLOURS[status]
