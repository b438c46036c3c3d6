"""Monitoring pages: the team overview, one server's charts (JSON and CSV), metrics tokens,
and the Prometheus endpoint.

Pages look up (another team's server is a 404), authorize (a role too low is a 403),
read through `queries`/`dashboard` and render. A new token is only ever in the response
to the POST that made it: never in the session, a message or a log.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from devflow.accounts import ratelimit
from devflow.accounts.choices import Action
from devflow.core import audit
from devflow.core.access import current_team, fetch, me
from devflow.core.tenancy import can
from devflow.monitoring import dashboard, prometheus, queries, tokens
from devflow.monitoring.forms import TokenForm
from devflow.monitoring.models import MetricsToken
from devflow.servers.choices import ServerStatus
from devflow.servers.models import Server

DEFAULT_RANGE = "1h"

# The charts of the per-server page (their series are in static/devflow/metrics.js).
CHARTS = [
    ("cpu", "CPU"),
    ("memory", "Memory"),
    ("disk", "Disk space"),
    ("diskio", "Disk I/O"),
    ("network", "Network"),
    ("load", "Load average"),
]

# CSV column per series field, with its unit.
CSV_COLUMNS = {
    "cpu_percent": "cpu_percent",
    "mem_used": "memory_used_bytes",
    "mem_total": "memory_total_bytes",
    "swap_used": "swap_used_bytes",
    "load1": "load1",
    "net_rx_bps": "network_receive_bytes_per_second",
    "net_tx_bps": "network_transmit_bytes_per_second",
    "disk_read_bps": "disk_read_bytes_per_second",
    "disk_write_bps": "disk_write_bytes_per_second",
    "disk_used": "disk_used_bytes",
    "disk_total": "disk_total_bytes",
}


def _metrics_url(request: HttpRequest) -> str:
    """Where Prometheus scrapes: on DEVFLOW_PUBLIC_URL when set (behind a TLS proxy)."""
    path = reverse("prometheus_metrics")
    if settings.DEVFLOW_PUBLIC_URL:
        return settings.DEVFLOW_PUBLIC_URL + path
    return request.build_absolute_uri(path)


def _scrape_config(request: HttpRequest, token: str = "") -> str:
    """A prometheus.yml scrape job for this installation."""
    url = _metrics_url(request)
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    return "\n".join(
        [
            "scrape_configs:",
            "  - job_name: devflow",
            f"    scheme: {scheme}",
            f"    metrics_path: /{path}",
            "    authorization:",
            "      type: Bearer",
            f"      credentials: {token or '<your token>'}",
            "    static_configs:",
            f"      - targets: ['{host}']",
        ]
    )


def _overview_context(request: HttpRequest) -> dict[str, Any]:
    team = current_team(request)
    servers = list(Server.objects.for_user(me(request)).filter(team=team).order_by("name"))
    ids = [server.pk for server in servers]
    rows = dashboard.overview_rows(servers, queries.latest(ids), queries.sparklines(ids))
    key, descending = dashboard.parse_sort(request.GET.get("sort", ""))
    can_edit = can(request.user, Action.EDIT, team)
    return {
        "team": team,
        "rows": dashboard.sort_rows(rows, key, descending),
        "headings": dashboard.headings(key, descending),
        "sort": request.GET.get("sort", ""),
        "can_edit": can_edit,
        "tokens": (
            MetricsToken.objects.filter(team=team, revoked_at__isnull=True).select_related(
                "created_by"
            )
            if can_edit
            else []
        ),
        "token_form": TokenForm(),
        "metrics_url": _metrics_url(request),
        "scrape_config": _scrape_config(request),
    }


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "monitoring/overview.html", _overview_context(request))


def _range(request: HttpRequest) -> str | None:
    key = request.GET.get("range", DEFAULT_RANGE)
    return key if key in queries.RANGES else None


@login_required
def server_metrics(request: HttpRequest, server_id: int) -> HttpResponse:
    server = fetch(request, Server.objects.all(), pk=server_id)
    sample = dashboard.newest(server)
    chosen = _range(request) or DEFAULT_RANGE
    context = {
        "server": server,
        "sample": sample,
        "stale": sample is not None and timezone.now() - sample.at > dashboard.FRESH,
        "down": server.status == ServerStatus.DOWN,
        "gauges": dashboard.gauges(sample) if sample else [],
        "mounts": dashboard.mounts(sample) if sample else [],
        "ranges": [
            {"key": key, "short": f"{key[:-1]} {key[-1]}", "label": r.label}
            for key, r in queries.RANGES.items()
        ],
        "charts": CHARTS,
        "range": chosen,
        "spans": {key: int(r.span.total_seconds()) for key, r in queries.RANGES.items()},
        "interval": settings.DEVFLOW_METRICS_INTERVAL_SECONDS,
    }
    return render(request, "monitoring/server.html", context)


@login_required
@require_GET
def server_series(request: HttpRequest, server_id: int) -> HttpResponse:
    """The chart columns of one range, as `queries.series` gives them."""
    server = fetch(request, Server.objects.all(), pk=server_id)
    key = _range(request)
    if key is None:
        return JsonResponse(
            {"error": f"range must be one of {', '.join(queries.RANGES)}"}, status=400
        )
    return JsonResponse(queries.series(server, key))


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    return "" if value is None else value


@login_required
@require_GET
def server_csv(request: HttpRequest, server_id: int) -> HttpResponse:
    """The range the page shows, one row per point: ISO time (UTC), then one column per metric."""
    server = fetch(request, Server.objects.all(), pk=server_id)
    key = _range(request)
    if key is None:
        return HttpResponse("Unknown range.", status=400, content_type="text/plain")
    columns = queries.series(server, key)
    name = f"{slugify(server.name) or 'server'}-{server.pk}-metrics-{key}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(["time", *CSV_COLUMNS.values()])
    for index, at in enumerate(columns["at"]):
        moment = datetime.fromtimestamp(at, tz=UTC).isoformat().replace("+00:00", "Z")
        writer.writerow([moment, *(_csv_value(columns[field][index]) for field in CSV_COLUMNS)])
    return response


@never_cache
@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Make a token and show it in this response only; a reload asks to post again."""
    team = current_team(request, Action.EDIT)
    form = TokenForm(request.POST)
    if not form.is_valid():
        context = _overview_context(request)
        context["token_form"] = form
        return render(request, "monitoring/overview.html", context, status=400)
    made = tokens.create(me(request), team, form.cleaned_data["name"], request=request)
    return render(
        request,
        "monitoring/token_created.html",
        {
            "row": made.row,
            "token": made.token,
            "metrics_url": _metrics_url(request),
            "scrape_config": _scrape_config(request, made.token),
        },
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    row = fetch(request, MetricsToken.objects.all(), Action.EDIT, pk=token_id)
    tokens.revoke(me(request), row, request=request)
    messages.success(request, f"Revoked the metrics token “{row.name}”: it is refused from now on.")
    return redirect(reverse("monitoring:overview") + "#prometheus")


def _refused(status: int, text: str) -> HttpResponse:
    response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    response["WWW-Authenticate"] = 'Bearer realm="DevFlow Pro metrics"'
    return response


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """`Authorization: Bearer <token>` → the token's team's newest samples, as Prometheus reads.

    Failures count against the caller's address with the sign-in rate limiter, under a
    key no username can take ("metrics token from <address>") and without the address
    column, so a misconfigured scraper never locks people out of signing in.
    """
    key = f"metrics token from {audit.client_ip(request) or 'unknown'}"
    lockout = ratelimit.lockout_for(key, None)
    if lockout is not None:
        response = _refused(429, "Too many failed attempts; try again later.\n")
        response["Retry-After"] = str(lockout.retry_after_seconds)
        return response
    row = tokens.authenticate(tokens.bearer(request.headers.get("Authorization", "")))
    if row is None:
        ratelimit.note_attempt(key, None, succeeded=False)
        return _refused(401, "A valid metrics token is required.\n")
    return HttpResponse(prometheus.render(row.team), content_type=prometheus.CONTENT_TYPE)
