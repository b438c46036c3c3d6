"""Monitoring pages through the Django test client, with samples and roll-ups made in the DB."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devflow.accounts import ratelimit
from devflow.accounts.models import LoginAttempt
from devflow.core.models import ActivityLog
from devflow.monitoring import prometheus, tokens
from devflow.monitoring.models import MetricsToken, Resolution, ServerRollup, ServerSample
from devflow.servers.models import Server

pytestmark = pytest.mark.django_db

GiB = 1024**3


def add_server(team, name: str = "web-1", **fields) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=team, name=name, host="10.0.0.5", **fields)


def add_samples(server: Server, minutes: int = 60, cpu: float | None = 25.0) -> datetime:
    """One sample a minute for `minutes`, the newest now; returns now."""
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
            mounts=[
                {"mount": "/", "used": 20 * GiB, "total": 50 * GiB},
                {"mount": "/var", "used": 10 * GiB, "total": 50 * GiB},
            ],
        )
        for minute in range(minutes)
    )
    return now


def add_rollups(server: Server, resolution: str, count: int, step: timedelta, cpu: float) -> None:
    start = timezone.now().replace(second=0, microsecond=0)
    ServerRollup.objects.bulk_create(
        ServerRollup(
            server=server,
            resolution=resolution,
            bucket=start - step * (number + 1),
            samples=1,
            cpu_percent=cpu + number % 5,
            mem_used=GiB,
            mem_total=8 * GiB,
            swap_used=0,
            load1=1.0,
            disk_used=GiB,
            disk_total=10 * GiB,
        )
        for number in range(count)
    )


def queries_for(client, path: str, **headers: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path, **headers).status_code == 200
    return len(captured)


# One server -----------------------------------------------------------------------------


def test_the_metrics_page_shows_the_newest_values_and_every_mount(alice_client, acme):
    server = add_server(acme)
    add_samples(server)
    page = alice_client.get(f"/monitoring/servers/{server.pk}/").content.decode()
    assert 'aria-current="page">Metrics</a>' in page
    assert "25.0%" in page  # CPU
    assert "2.0 GiB of 8.0 GiB" in page  # memory, used of total
    assert "1.5 KiB/s" in page  # network in
    assert "0.50" in page and "0.25 · 0.12" in page  # load 1, 5, 15
    mounts = page.split('data-testid="mounts"')[1]
    assert '<code class="wrap">/</code>' in mounts and "/var" in mounts and "40.0%" in mounts
    assert f'data-series-url="/monitoring/servers/{server.pk}/series.json"' in page
    assert "uPlot-1.6.32.iife.min.js" in page
    for key in ("1h", "6h", "24h", "7d", "30d"):
        assert f'data-range="{key}"' in page


def test_the_server_page_links_to_its_metrics_tab(alice_client, acme):
    server = add_server(acme)
    page = alice_client.get(f"/servers/{server.pk}/").content.decode()
    assert f'href="/monitoring/servers/{server.pk}/"' in page


def test_a_server_without_samples_says_the_first_arrives_within_a_minute(alice_client, acme):
    server = add_server(acme)
    page = alice_client.get(f"/monitoring/servers/{server.pk}/").content.decode()
    assert "No samples yet" in page and "the first sample arrives within a minute" in page
    assert "data-metrics-empty" in page and "data-metrics " not in page


def test_a_down_server_is_noted_above_its_last_values(alice_client, acme):
    server = add_server(acme, status="down", status_message="Connection refused")
    add_samples(server, minutes=3)
    ServerSample.objects.update(at=timezone.now() - timedelta(minutes=30))
    page = alice_client.get(f"/monitoring/servers/{server.pk}/").content.decode()
    assert 'data-testid="server-down"' in page and "Connection refused" in page
    assert "stale" in page


def test_the_json_series_reads_raw_samples_for_an_hour_and_roll_ups_beyond(alice_client, acme):
    server = add_server(acme)
    add_samples(server, minutes=90)
    add_rollups(server, Resolution.MINUTE, 400, timedelta(minutes=1), cpu=40)
    hour = alice_client.get(f"/monitoring/servers/{server.pk}/series.json?range=1h").json()
    assert hour["range"] == "1h" and hour["resolution"] == "raw"
    assert len(hour["at"]) == 60 and hour["at"] == sorted(hour["at"])
    assert set(hour["cpu_percent"]) == {25.0} and hour["mem_total"][0] == 8 * GiB
    six = alice_client.get(f"/monitoring/servers/{server.pk}/series.json?range=6h").json()
    # 360 minutes of roll-ups; the oldest is on the edge, and one more falls out when the
    # request runs in the minute after the roll-ups were written (a slow machine).
    assert six["resolution"] == "1m" and len(six["at"]) in (358, 359, 360)
    assert min(six["cpu_percent"]) >= 40
    bad = alice_client.get(f"/monitoring/servers/{server.pk}/series.json?range=1y")
    assert bad.status_code == 400


def test_the_csv_export_has_iso_times_and_one_column_per_metric(alice_client, acme):
    server = add_server(acme, name="web 1")
    add_samples(server, minutes=5)
    response = alice_client.get(f"/monitoring/servers/{server.pk}/export.csv?range=1h")
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="web-1-{server.pk}-metrics-1h.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header, body = rows[0], rows[1:]
    assert header == [
        "time", "cpu_percent", "memory_used_bytes", "memory_total_bytes", "swap_used_bytes",
        "load1", "network_receive_bytes_per_second", "network_transmit_bytes_per_second",
        "disk_read_bytes_per_second", "disk_write_bytes_per_second", "disk_used_bytes",
        "disk_total_bytes",
    ]  # fmt: skip
    assert len(body) == 5
    first = datetime.fromisoformat(body[0][0].replace("Z", "+00:00"))
    assert first.tzinfo is not None and timezone.now() - first < timedelta(minutes=6)
    assert body[-1][1:4] == ["25.0", str(2 * GiB), str(8 * GiB)]
    times = [row[0] for row in body]
    assert times == sorted(times)


def test_an_unknown_csv_range_is_refused(alice_client, acme):
    server = add_server(acme)
    assert (
        alice_client.get(f"/monitoring/servers/{server.pk}/export.csv?range=2h").status_code == 400
    )


def test_another_teams_server_metrics_json_and_csv_are_404(client, charlie, acme):
    server = add_server(acme)
    add_samples(server, minutes=2)
    client.force_login(charlie)
    for path in ["", "series.json?range=1h", "export.csv?range=1h"]:
        assert client.get(f"/monitoring/servers/{server.pk}/{path}").status_code == 404, path


# Overview ----------------------------------------------------------------------------------


def order_on(page: str) -> list[str]:
    return re.findall(r'data-testid="overview-row" data-server="([^"]+)"', page)


def test_the_overview_replaces_the_placeholder_and_sorts_by_any_column(alice_client, acme):
    calm, busy, _silent = (add_server(acme, name=name) for name in ["calm", "busy", "silent"])
    add_samples(calm, minutes=2, cpu=10.0)
    add_samples(busy, minutes=2, cpu=90.0)
    page = alice_client.get("/monitoring/").content.decode()
    assert "not available in this version" not in page
    assert order_on(page) == ["busy", "calm", "silent"]  # by name
    assert 'href="?sort=-cpu"' in page  # numbers sort high-first on the first click
    by_cpu = alice_client.get("/monitoring/?sort=-cpu").content.decode()
    assert order_on(by_cpu) == ["busy", "calm", "silent"]  # no value: last either way
    assert 'aria-sort="descending"' in by_cpu and 'href="?sort=cpu"' in by_cpu
    assert order_on(alice_client.get("/monitoring/?sort=cpu").content.decode()) == [
        "calm",
        "busy",
        "silent",
    ]
    assert order_on(alice_client.get("/monitoring/?sort=-name").content.decode())[0] == "silent"
    assert order_on(alice_client.get("/monitoring/?sort=bogus").content.decode())[0] == "busy"
    assert "90.0%" in page and "25.0%" in page and "30.0%" in page  # cpu, memory, disk


def test_the_overview_draws_the_last_hours_cpu_as_an_svg_line(alice_client, acme):
    server = add_server(acme)
    add_samples(server, minutes=2)
    add_rollups(server, Resolution.MINUTE, 30, timedelta(minutes=1), cpu=20)
    page = alice_client.get("/monitoring/").content.decode()
    points = re.search(r'<polyline points="([^"]+)"', page)
    assert points is not None and len(points.group(1).split()) == 30
    assert "CPU over the last hour: 20 to 24%" in page


def test_the_overview_only_lists_the_current_teams_servers(alice_client, acme, globex):
    add_server(acme, name="ours")
    add_server(globex, name="theirs")
    assert order_on(alice_client.get("/monitoring/").content.decode()) == ["ours"]


def test_the_overview_runs_as_many_queries_for_ten_servers_as_for_three(alice_client, acme):
    def more(count: int, start: int) -> None:
        for number in range(start, start + count):
            server = add_server(acme, name=f"node-{number:02}")
            add_samples(server, minutes=3, cpu=float(number))
            add_rollups(server, Resolution.MINUTE, 5, timedelta(minutes=1), cpu=number)

    MetricsToken.objects.create(team=acme, name="t", token_hash="0" * 64, prefix="dfm_x")
    more(3, 0)
    few = queries_for(alice_client, "/monitoring/?sort=-cpu")
    more(7, 3)
    many = queries_for(alice_client, "/monitoring/?sort=-cpu")
    assert many == few, f"{few} queries with 3 servers, {many} with 10"


# Tokens --------------------------------------------------------------------------------------


def make_token(alice_client) -> str:  # type: ignore[no-untyped-def]
    response = alice_client.post("/monitoring/tokens/", {"name": "prometheus on ops-1"})
    assert response.status_code == 200
    found = re.search(r'data-testid="metrics-token"', response.content.decode())
    assert found is not None
    token = re.search(r'value="(dfm_[A-Za-z0-9_-]+)"', response.content.decode())
    assert token is not None
    return token.group(1)


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(alice_client, acme):
    token = make_token(alice_client)
    row = MetricsToken.objects.get()
    assert row.team == acme and row.name == "prometheus on ops-1" and row.created_by is not None
    assert row.token_hash == tokens.hash_of(token) and len(row.token_hash) == 64
    assert token not in row.token_hash and row.prefix == token[: tokens.PREFIX_LENGTH]
    assert len(token) > 40
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM monitoring_metricstoken")
        stored = " ".join(str(value) for value in cursor.fetchone())
    assert token not in stored
    overview = alice_client.get("/monitoring/").content.decode()
    assert token not in overview and f"{row.prefix}…" in overview
    assert ActivityLog.objects.filter(action="metrics_token.created").count() == 1


def test_a_deployer_can_neither_create_nor_revoke_tokens(client, bob, acme, alice):
    made = tokens.create(alice, acme, "scraper")
    client.force_login(bob)
    assert "create and revoke tokens here" in client.get("/monitoring/").content.decode()
    assert client.post("/monitoring/tokens/", {"name": "mine"}).status_code == 403
    assert client.post(f"/monitoring/tokens/{made.row.pk}/revoke/").status_code == 403
    assert MetricsToken.objects.filter(revoked_at__isnull=True).count() == 1


def test_another_team_cannot_revoke_a_token(client, charlie, acme, alice):
    made = tokens.create(alice, acme, "scraper")
    client.force_login(charlie)
    assert client.post(f"/monitoring/tokens/{made.row.pk}/revoke/").status_code == 404


# /metrics ------------------------------------------------------------------------------------


def scrape(client, token: str | None):  # type: ignore[no-untyped-def]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return client.get("/metrics", **headers)


def test_metrics_without_or_with_a_wrong_token_is_401_without_saying_which(client, acme, alice):
    made = tokens.create(alice, acme, "scraper")
    answers = [
        scrape(client, None),
        scrape(client, "nonsense"),
        scrape(client, made.token[:-1] + ("A" if made.token[-1] != "A" else "B")),
        client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {made.token}"),
    ]
    assert {answer.status_code for answer in answers} == {401}
    assert len({answer.content for answer in answers}) == 1
    assert answers[0]["WWW-Authenticate"].startswith("Bearer")


def test_metrics_with_a_good_token_lists_the_teams_servers_only(client, alice_client, acme, globex):
    web = add_server(acme, name="web-1", status="up")
    add_samples(web, minutes=2)
    idle = add_server(acme, name='odd "name"\\x', status="down")
    theirs = add_server(globex, name="globex-db", status="up")
    add_samples(theirs, minutes=2)
    token = make_token(alice_client)
    response = scrape(client, token)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.content.decode()
    labels = f'server="web-1",server_id="{web.pk}"'
    assert f"devflow_server_up{{{labels}}} 1\n" in text
    assert f"devflow_server_cpu_percent{{{labels}}} 25.0\n" in text
    assert f"devflow_server_memory_used_bytes{{{labels}}} {2 * GiB}\n" in text
    assert f"devflow_server_load15{{{labels}}} 0.125\n" in text
    assert f"devflow_server_network_receive_bytes_per_second{{{labels}}} 1536.0\n" in text
    assert (
        f'devflow_server_filesystem_size_bytes{{{labels},mountpoint="/var"}} {50 * GiB}\n' in text
    )
    odd = f'server="odd \\"name\\"\\\\x",server_id="{idle.pk}"'
    assert f"devflow_server_up{{{odd}}} 0\n" in text  # no sample: only "up"
    assert f"devflow_server_cpu_percent{{{odd}}}" not in text
    assert "globex" not in text and f'server_id="{theirs.pk}"' not in text
    for name in [
        "up", "cpu_percent", "memory_used_bytes", "memory_total_bytes", "swap_used_bytes",
        "load1", "load5", "load15", "network_receive_bytes_per_second",
        "network_transmit_bytes_per_second", "disk_read_bytes_per_second",
        "disk_write_bytes_per_second", "filesystem_used_bytes", "filesystem_size_bytes",
    ]:  # fmt: skip
        assert f"# HELP devflow_server_{name} " in text
        assert f"# TYPE devflow_server_{name} gauge\n" in text
    # Each family's samples follow its own HELP and TYPE lines.
    families = re.findall(r"^# TYPE (\S+) gauge$", text, flags=re.M)
    seen = [line.split("{")[0] for line in text.splitlines() if not line.startswith("#")]
    assert seen == sorted(seen, key=families.index)
    assert MetricsToken.objects.get().last_used_at is not None


def test_a_revoked_token_is_refused(client, alice_client, acme):
    token = make_token(alice_client)
    assert scrape(client, token).status_code == 200
    row = MetricsToken.objects.get()
    alice_client.post(f"/monitoring/tokens/{row.pk}/revoke/")
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert scrape(client, token).status_code == 401
    assert "No tokens yet" in alice_client.get("/monitoring/").content.decode()


def test_repeated_bad_tokens_are_rate_limited_without_locking_out_sign_ins(
    client, acme, alice, settings
):
    made = tokens.create(alice, acme, "scraper")
    for _ in range(settings.DEVFLOW_LOGIN_MAX_FAILURES):
        assert scrape(client, "dfm_wrong-wrong-wrong").status_code == 401
    locked = scrape(client, made.token)
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    # Counted under a key of its own, not the address sign-ins are limited by.
    assert not LoginAttempt.objects.filter(ip_address__isnull=False).exists()
    assert ratelimit.lockout_for("alice", "127.0.0.1") is None


def test_metrics_runs_as_many_queries_for_ten_servers_as_for_three(client, acme, alice):
    made = tokens.create(alice, acme, "scraper")
    for number in range(3):
        add_samples(add_server(acme, name=f"n{number}"), minutes=3)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {made.token}"}
    queries_for(client, "/metrics", **auth)  # the first use writes last_used_at
    few = queries_for(client, "/metrics", **auth)
    for number in range(3, 10):
        add_samples(add_server(acme, name=f"n{number}"), minutes=3)
    assert queries_for(client, "/metrics", **auth) == few


def test_label_values_are_escaped_as_the_exposition_format_says():
    assert prometheus.escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert prometheus.format_value(float("nan")) == "NaN"
    assert prometheus.format_value(3) == "3"


def test_stale_samples_are_left_out_of_the_exposition(client, acme, alice):
    made = tokens.create(alice, acme, "scraper")
    server = add_server(acme, status="up")
    add_samples(server, minutes=1)
    ServerSample.objects.update(at=datetime.now(UTC) - timedelta(minutes=30))
    text = scrape(client, made.token).content.decode()
    assert "devflow_server_up{" in text and "devflow_server_cpu_percent{" not in text
