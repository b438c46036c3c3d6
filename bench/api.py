"""API lists: 1,000 servers and 1,000 projects page by page through /api/v1/, and the SQL each
list request runs, against the cheapest authenticated endpoint on the same server.

Run from the project root with the project's interpreter:

    .venv/bin/python bench/api.py [--passes 2] [--concurrency 4] [--baseline 100]

What it does:
  * runs `python -m devflow prepare` on a fresh temporary data directory (embedded defaults:
    SQLite, filesystem broker; DATABASE_URL, REDIS_URL and the like are removed from the
    environment), sets Django up in this process on the same directory and creates, with
    bulk_create: a user (and their team), 3 SSH keys, 12 tags, 6 groups, 1,000 servers (each
    with a key, a group, 2 tags, a pinned host key and the facts a check gathers; every 4th
    with a sudo password), 1,000 projects (each with a deploy key, a pipeline and one
    environment on one server, with its branch's 10 latest commits), 1,000 deployments (each
    with its job, its release and an encrypted variables snapshot) and 1,000 health checks
    (each of a project, with 6 results in the last day); then a `read` API token
    (accounts.api_tokens.create);
  * queries per request, in this process (Django's test Client: every middleware, DRF, the
    view, a new database connection per request as `devflow web` has), counted with
    CaptureQueriesContext for page sizes 10, 50, 100 and 200, pages 1 and 2, of
    /api/v1/servers/, /projects/, /environments/, /deployments/ and /health-checks/ (and
    /me/). Each counted request comes right after an uncounted one of the same URL, so the
    token's once-a-minute `last_used_at` UPDATE never lands in a count. `queries_constant`:
    every page size and page of every list runs the same number of queries;
  * starts `python -m devflow web --host 127.0.0.1 --port P` (uvicorn, as `devflow up` serves
    it) on that data directory, with DEVFLOW_API_RATE_PER_TOKEN and _PER_ADDRESS raised to
    RATE (the defaults, 600 and 1,200 a minute, would answer this load with 429s), and stops
    it at the end (SIGTERM, then its own process group);
  * pages through both lists with httpx, the way a script does: GET the first page, then
    follow `next` to the end, checking every answer (200, count 1,000, every id once a pass).
    At the default page size (50: no page_size parameter; 20 pages a list) and at page_size
    200 (5 pages a list). The baseline is GET /api/v1/me/ (token check, throttles, the user's
    teams: the cheapest authenticated endpoint) on the same server with the same token:
      - sequential: one keep-alive connection, ROUNDS rounds of [baseline x BASELINE,
        PASSES passes of both lists at 50, PASSES passes at 200] (after a warm-up);
      - concurrent: CONCURRENCY clients at once (asyncio, one keep-alive connection each),
        each paging through both lists at the default size PASSES times; the baseline the
        same way (each client BASELINE requests of /me/). Rounds alternate the order.
    Latency is from the request sent to the response's last byte read (client side). Server
    CPU per request comes from psutil over each phase;
  * where the time goes, after the server is stopped: PROFILE_CALLS requests per URL through
    the test Client in this process, with the pieces timed inside (token authentication,
    throttles, permission, filtering, pagination = COUNT + page SELECT + prefetches, the
    serializer, JSON rendering), every SQL statement timed by kind, and the time CPython's
    cyclic garbage collector took (full collections counted and timed through gc.callbacks);
    then the two page-size-200 URLs again after gc.freeze() (what is alive after setup is
    left out of later collections), and one full collection of this process timed, to show
    what a full collection costs against a page.

Targets (/work/shared/BENCHMARKS.md): queries_constant true (no N+1: the number of queries per
list request does not grow with the page size) and p95_ms <= 50 (the p95 of every sequential
page request of both lists at both page sizes). `rps` is the list pages per second with
CONCURRENCY clients at the default page size; `rps_ratio` divides it by the baseline's rps
measured the same way. The LAST line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import gc
import json
import logging
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from _env import SCALE_OUT_VARS, clean_env, free_port, say

SERVERS = 1000
PROJECTS = 1000
KEYS, TAGS, GROUPS = 3, 12, 6
RESULTS_PER_CHECK = 6
COMMITS = 10  # latest commits kept per environment
SUDO_EVERY = 4  # every 4th server has a sudo password
COUNT_PAGE_SIZES = (10, 50, 100, 200)
LIST_PAGE_SIZES = (50, 200)  # 50 is the default: sent without page_size
DEFAULT_PAGE_SIZE = 50
LISTS = ("servers", "projects")
COUNTED = ("servers", "projects", "environments", "deployments", "health-checks")
ROUNDS = 3
PASSES = 2
BASELINE = 100
CONCURRENCY = 4
PROFILE_CALLS = 40
RATE = "1000000/min"
RATE_ENV = {"DEVFLOW_API_RATE_PER_TOKEN": RATE, "DEVFLOW_API_RATE_PER_ADDRESS": RATE}
TARGET_P95_MS = 50.0
READY_TIMEOUT_S = 60.0
API = "/api/v1"


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of values in seconds, returned in ms."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return round(ordered[rank - 1] * 1000, 2)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# DevFlow: data directory and objects ----------------------------------------------------------


def prepare_data_dir(data_dir: Path, work: Path) -> None:
    """`devflow prepare`: migrations, key file, broker folders (as an install does)."""
    done = subprocess.run(
        [sys.executable, "-m", "devflow", "prepare"],
        env=clean_env(data_dir, **RATE_ENV),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"devflow prepare failed: {done.stderr[-1500:]}")


def setup_django(data_dir: Path) -> None:
    os.environ.update(clean_env(data_dir, **RATE_ENV))
    for name in SCALE_OUT_VARS:
        if name not in ("DEVFLOW_API_RATE_PER_TOKEN", "DEVFLOW_API_RATE_PER_ADDRESS"):
            os.environ.pop(name, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "devflow.settings"
    import django

    django.setup()


def create_objects() -> dict[str, Any]:
    """The rows, through bulk_create; returns counts and the token."""
    from django.db import connections
    from django.utils import timezone

    from devflow.accounts import api_tokens
    from devflow.accounts.services import create_user
    from devflow.core.models.jobs import Job, JobStatus, JobTrigger
    from devflow.deployments.models import Deployment, DeployTrigger, Release, ReleaseStatus
    from devflow.monitoring.models import CheckOutcome, CheckStatus, HealthCheck, HealthResult
    from devflow.projects.models import Environment, Project
    from devflow.servers.models import Server, ServerGroup, SshKey, Tag

    started = time.perf_counter()
    now = timezone.now()
    user = create_user(username="bench", email="bench@example.com", password="bench-" + "x" * 20)
    team = user.last_team
    assert team is not None
    keys = SshKey.objects.bulk_create(
        SshKey(
            team=team, name=f"key-{n}", algorithm="ssh-ed25519",
            private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nbench\n"
            "-----END OPENSSH PRIVATE KEY-----\n",
            public_key=f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBENCH{n} bench",
            fingerprint=f"SHA256:bench{n}", created_by=user,
        )
        for n in range(KEYS)
    )  # fmt: skip
    tags = Tag.objects.bulk_create(Tag(team=team, name=f"tag-{n:02d}") for n in range(TAGS))
    groups = ServerGroup.objects.bulk_create(
        ServerGroup(team=team, name=f"group-{n}", description=f"Group {n}") for n in range(GROUPS)
    )
    facts = {
        "os": "Debian GNU/Linux 12 (bookworm)",
        "os_id": "debian",
        "os_like": "",
        "os_version": "12",
        "kernel": "6.1.0-18-amd64",
        "arch": "x86_64",
        "cpus": 4,
        "ram_kb": 8_148_012,
        "disk_total_kb": 81_000_000,
        "disk_used_kb": 23_400_000,
        "uptime_s": 1_203_344,
        "docker": "Docker version 24.0.7, build afdd53b",
        "family": "debian",
    }  # as services.gather_facts stores them
    servers = Server.objects.bulk_create(
        Server(
            team=team, name=f"host-{n:04d}", host=f"10.{n // 250}.{n % 250}.1", username="deploy",
            ssh_key=keys[n % KEYS], group=groups[n % GROUPS], status="up",
            sudo_password="sudo-secret" if n % SUDO_EVERY == 0 else "",
            latency_ms=12, last_seen_at=now, last_checked_at=now,
            host_key=f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{n:040d}",
            host_key_fingerprint=f"SHA256:host{n}", facts=facts, facts_at=now,
            created_by=user,
        )
        for n in range(SERVERS)
    )  # fmt: skip
    Server.tags.through.objects.bulk_create(
        Server.tags.through(server_id=server.pk, tag_id=tags[(n + k) % TAGS].pk)
        for n, server in enumerate(servers)
        for k in (0, 5)
    )
    commands = [{"run": "pip install -r requirements.txt", "once": False}]
    projects = Project.objects.bulk_create(
        Project(
            team=team, name=f"project-{n:04d}",
            repository_url=f"git@github.com:acme/project-{n:04d}.git",
            deploy_key=keys[n % KEYS], template="django", framework="django",
            build_commands=commands,
            deploy_commands=[{"run": "python manage.py migrate --noinput", "once": True}],
            shared_paths=[".env", "media"], health_check_path="/healthz", created_by=user,
        )
        for n in range(PROJECTS)
    )  # fmt: skip
    commits_of_branch = [
        {
            "sha": f"{n:040x}",
            "author": "Dev Eloper",
            "at": (now - timedelta(hours=n)).isoformat(),
            "message": f"Fix the invoice totals when a discount applies ({n})",
        }
        for n in range(COMMITS)
    ]  # as deployments.releases.record_commits stores them
    environments = Environment.objects.bulk_create(
        Environment(
            project=project, name="production", branch="main",
            deploy_path=f"/srv/{project.name}", head_sha=commits_of_branch[0]["sha"],
            behind_count=0, commits=commits_of_branch, commits_refreshed_at=now,
        )
        for project in projects
    )  # fmt: skip
    Environment.servers.through.objects.bulk_create(
        Environment.servers.through(environment_id=env.pk, server_id=servers[n % SERVERS].pk)
        for n, env in enumerate(environments)
    )
    jobs = Job.objects.bulk_create(
        Job(
            team=team, kind="deployments.deploy", status=JobStatus.SUCCEEDED,
            trigger=JobTrigger.API, actor=user, started_at=now, finished_at=now,
        )
        for _ in environments
    )  # fmt: skip
    deployments = Deployment.objects.bulk_create(
        Deployment(
            team=team, project=env.project, environment=env, job=job,
            trigger=DeployTrigger.API, actor=user, branch="main", commit_sha="a" * 40,
            commit_message="Bench commit", commit_author="Bench", release_name=f"r{n:04d}",
            pipeline_snapshot=env.project.pipeline(),
            env_snapshot=json.dumps({"APP_ENV": "production", "DEBUG": "0"}),
            server_names=[servers[n % SERVERS].name], steps=[{"name": "build", "ok": True}],
            outcome="Deployed.",
        )
        for n, (env, job) in enumerate(zip(environments, jobs, strict=True))
    )  # fmt: skip
    Release.objects.bulk_create(
        Release(
            environment_id=d.environment_id, deployment=d, name=d.release_name,
            commit_sha=d.commit_sha, status=ReleaseStatus.KEPT,
        )
        for d in deployments
    )  # fmt: skip
    checks = HealthCheck.objects.bulk_create(
        HealthCheck(
            team=team, name=f"check-{n:04d}", project=project,
            url=f"https://project-{n:04d}.example.com/healthz", status=CheckStatus.UP,
            status_since=now, last_checked_at=now, last_response_ms=40, last_status_code=200,
            created_by=user,
        )
        for n, project in enumerate(projects)
    )  # fmt: skip
    HealthResult.objects.bulk_create(
        HealthResult(
            health_check=check, at=now - timedelta(hours=3 * k), outcome=CheckOutcome.UP,
            response_ms=40, status_code=200,
        )
        for check in checks
        for k in range(RESULTS_PER_CHECK)
    )  # fmt: skip
    made = api_tokens.create(user, "bench", ["read"])
    seconds = time.perf_counter() - started
    connections.close_all()  # nothing of this process holds the SQLite file while serving
    return {
        "token": made.token,
        "seconds": seconds,
        "rows": {
            "servers": len(servers), "server_tags": 2 * len(servers), "projects": len(projects),
            "environments": len(environments), "deployments": len(deployments),
            "health_checks": len(checks), "health_results": RESULTS_PER_CHECK * len(checks),
        },
    }  # fmt: skip


# Queries per request, in this process ---------------------------------------------------------


def list_url(name: str, page_size: int | None = None, page: int = 1) -> str:
    params = []
    if page_size is not None:
        params.append(f"page_size={page_size}")
    if page > 1:
        params.append(f"page={page}")
    return f"{API}/{name}/" + ("?" + "&".join(params) if params else "")


def classify(sql: str) -> str:
    text = " ".join(sql.split()).upper()
    if text.startswith("UPDATE") and "ACCOUNTS_APITOKEN" in text:
        return "token last_used UPDATE"
    if "COUNT(" in text and "FROM (" not in text and "ACCOUNTS_APITOKEN" not in text:
        return "COUNT (pagination)" if "LIMIT" not in text else "COUNT"
    if "COUNT(" in text:
        return "COUNT (pagination)"
    if text.startswith("PRAGMA"):
        return "PRAGMA"
    if " FROM " in text:
        table = text.split(" FROM ", 1)[1].split()[0].strip('"').lower()
        return f"SELECT {table}"
    return text.split()[0].lower() if text else "?"


def test_client(token: str) -> Any:
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")


def count_queries(token: str) -> dict[str, Any]:
    """Queries per request for every list, page size and page (1 and 2); SQL of a few."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = test_client(token)
    counts: dict[str, dict[str, list[int]]] = {}
    statements: dict[str, list[str]] = {}

    def counted(url: str) -> tuple[int, list[str]]:
        client.get(url)  # the uncounted one: token last_used UPDATE, warm caches
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.content[:300]!r}")
        return len(captured.captured_queries), [q["sql"] for q in captured.captured_queries]

    for name in COUNTED:
        counts[name] = {}
        for size in COUNT_PAGE_SIZES:
            per_page = []
            for page in (1, 2):
                number, sql = counted(list_url(name, size, page))
                per_page.append(number)
                if size == DEFAULT_PAGE_SIZE and page == 1:
                    statements[name] = sql
            counts[name][str(size)] = per_page
    number, sql = counted(f"{API}/me/")
    statements["me"] = sql
    return {"counts": counts, "me": number, "statements": statements}


# Where the time goes, in this process ---------------------------------------------------------


class Pieces:
    """Wall time of named methods (patched for the duration) and of every SQL statement."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = collections.defaultdict(float)
        self.sql: dict[str, float] = collections.defaultdict(float)
        self.sql_count: collections.Counter[str] = collections.Counter()
        self._patched: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = owner.__dict__[name]
        totals = self.totals

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                totals[label] += time.perf_counter() - started

        setattr(owner, name, timed)
        self._patched.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)
        self._patched.clear()

    def execute(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = classify(sql)
            self.sql[kind] += time.perf_counter() - started
            self.sql_count[kind] += 1


@contextlib.contextmanager
def timed_pieces() -> Iterator[Pieces]:
    from django.db import connection
    from rest_framework.pagination import PageNumberPagination
    from rest_framework.renderers import JSONRenderer
    from rest_framework.serializers import ListSerializer
    from rest_framework.views import APIView

    from devflow.api.authentication import TokenAuthentication

    pieces = Pieces()
    pieces.wrap(TokenAuthentication, "authenticate", "token authentication")
    pieces.wrap(APIView, "check_throttles", "throttles")
    pieces.wrap(APIView, "check_permissions", "permission")
    pieces.wrap(PageNumberPagination, "paginate_queryset", "pagination (COUNT, page, prefetch)")
    pieces.wrap(ListSerializer, "to_representation", "serializer")
    pieces.wrap(JSONRenderer, "render", "JSON rendering")
    try:
        with connection.execute_wrapper(pieces.execute):
            yield pieces
    finally:
        pieces.restore()


class GcClock:
    """Time spent in CPython's cyclic garbage collector, per generation, while installed."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = collections.defaultdict(float)
        self.count: collections.Counter[int] = collections.Counter()
        self.full: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        generation = int(info["generation"])
        self.seconds[generation] += seconds
        self.count[generation] += 1
        if generation == 2:
            self.full.append(seconds)

    @contextlib.contextmanager
    def installed(self) -> Iterator[GcClock]:
        gc.callbacks.append(self)
        try:
            yield self
        finally:
            gc.callbacks.remove(self)


def profile(token: str, urls: dict[str, str], *, frozen: bool = False) -> dict[str, Any]:
    """PROFILE_CALLS requests per URL through Django's request path; ms per request.

    frozen: gc.freeze() first (everything alive now is left out of later collections), as a
    server could do once Django is set up.
    """
    client = test_client(token)
    found: dict[str, Any] = {}
    for label, url in urls.items():
        for _ in range(3):
            client.get(url)
        gc.collect()
        if frozen:
            gc.freeze()
        walls, cpus = [], []
        clock = GcClock()
        try:
            with timed_pieces() as pieces, clock.installed():
                for _ in range(PROFILE_CALLS):
                    wall, cpu = time.perf_counter(), time.thread_time()
                    response = client.get(url)
                    cpus.append(time.thread_time() - cpu)
                    walls.append(time.perf_counter() - wall)
                    if response.status_code != 200:
                        raise RuntimeError(f"{url}: {response.status_code}")
        finally:
            if frozen:
                gc.unfreeze()
        calls = PROFILE_CALLS
        found[label] = {
            "url": url,
            "wall_p50_ms": percentile(walls, 50),
            "wall_p95_ms": percentile(walls, 95),
            "wall_max_ms": percentile(walls, 100),
            "wall_mean_ms": round(statistics.mean(walls) * 1000, 2),
            "cpu_p50_ms": percentile(cpus, 50),
            "pieces_mean_ms": {k: round(v / calls * 1000, 2) for k, v in pieces.totals.items()},
            "sql_mean_ms": {
                k: round(v / calls * 1000, 3)
                for k, v in sorted(pieces.sql.items(), key=lambda item: -item[1])
            },
            "sql_per_request": {k: v / calls for k, v in pieces.sql_count.items()},
            "gc_mean_ms": round(sum(clock.seconds.values()) / calls * 1000, 2),
            "gc_full_collections": clock.count[2],
            "gc_full_p50_ms": percentile(clock.full, 50),
            "bytes": len(response.content),
        }
    return found


# The server -----------------------------------------------------------------------------------


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def start_server(port: int, data_dir: Path, work: Path) -> ServerProcess:
    log_path = work / "devflow-web.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devflow", "web", "--host", "127.0.0.1", "--port", str(port)],
            env=clean_env(
                data_dir, DEVFLOW_API_RATE_PER_TOKEN=RATE, DEVFLOW_API_RATE_PER_ADDRESS=RATE
            ),
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ServerProcess(process, port, log_path)


def wait_ready(server: ServerProcess) -> float:
    started = time.perf_counter()
    url = f"http://127.0.0.1:{server.port}/readyz"
    while time.perf_counter() - started < READY_TIMEOUT_S:
        if server.process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"devflow web was not ready ({server.process.poll()}): {server.log_tail()}")


def stop_server(server: ServerProcess | None) -> None:
    if server is None or server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)  # the session we made for it
        server.process.wait()


# The load ------------------------------------------------------------------------------------


@dataclass
class Phase:
    """Latencies (s) of one kind of request, with errors and the phase's clocks."""

    latencies: list[float] = field(default_factory=list)
    by_size: dict[int, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    def error(self, text: str) -> None:
        self.errors[text[:60]] += 1
        if len(self.samples) < 5:
            self.samples.append(text[:300])

    def merge(self, other: Phase) -> None:
        self.latencies += other.latencies
        for size, values in other.by_size.items():
            self.by_size[size] += values
        self.errors += other.errors
        self.samples = (self.samples + other.samples)[:5]
        self.elapsed += other.elapsed
        self.server_cpu_s += other.server_cpu_s
        self.client_cpu_s += other.client_cpu_s

    def figures(self) -> dict[str, Any]:
        count = len(self.latencies)
        return {
            "requests": count,
            "rps": round(count / self.elapsed, 1) if self.elapsed else None,
            "p50_ms": percentile(self.latencies, 50),
            "p95_ms": percentile(self.latencies, 95),
            "max_ms": percentile(self.latencies, 100),
            "errors": sum(self.errors.values()),
            "server_cpu_ms_per_request": round(self.server_cpu_s / count * 1000, 2)
            if count
            else None,
            "client_cpu_share": round(self.client_cpu_s / self.elapsed, 2)
            if self.elapsed
            else None,
        }


def first_url(base: str, name: str, size: int) -> str:
    return base + list_url(name, None if size == DEFAULT_PAGE_SIZE else size)


def check_page(phase: Phase, response: httpx.Response, seen: set[int], size: int) -> str | None:
    """The next page's URL (None: the last page); records anything unexpected."""
    if response.status_code != 200:
        phase.error(f"{response.status_code} {response.text[:200]}")
        return None
    data = response.json()
    results = data["results"]
    if data["count"] != 1000 or not results or len(results) > size:
        phase.error(f"count {data['count']}, {len(results)} results on a page of {size}")
    ids = {row["id"] for row in results}
    if ids & seen:
        phase.error("an id seen twice in one pass")
    seen |= ids
    nxt = data["next"]
    if nxt is None and len(seen) != 1000:
        phase.error(f"a pass saw {len(seen)} ids, not 1000")
    return str(nxt) if nxt else None


def sequential_lists(client: httpx.Client, base: str, size: int, passes: int) -> Phase:
    phase = Phase()
    for _ in range(passes):
        for name in LISTS:
            url: str | None = first_url(base, name, size)
            seen: set[int] = set()
            while url:
                started = time.perf_counter()
                response = client.get(url)
                seconds = time.perf_counter() - started
                url = check_page(phase, response, seen, size)
                if response.status_code == 200:
                    phase.latencies.append(seconds)
                    phase.by_size[size].append(seconds)
    return phase


def sequential_baseline(client: httpx.Client, base: str, count: int) -> Phase:
    phase = Phase()
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(base + f"{API}/me/")
        seconds = time.perf_counter() - started
        if response.status_code == 200 and response.json().get("username") == "bench":
            phase.latencies.append(seconds)
        else:
            phase.error(f"{response.status_code} {response.text[:200]}")
    return phase


async def concurrent(base: str, token: str, kind: str, clients: int, amount: int) -> Phase:
    """`clients` coroutines, one connection each: `amount` passes of both lists, or `amount`
    baseline requests, per client."""
    phase = Phase()
    headers = {"Authorization": f"Bearer {token}"}

    async def one_client() -> None:
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:
            if kind == "baseline":
                for _ in range(amount):
                    started = time.perf_counter()
                    response = await client.get(base + f"{API}/me/")
                    seconds = time.perf_counter() - started
                    if response.status_code == 200:
                        phase.latencies.append(seconds)
                    else:
                        phase.error(f"{response.status_code} {response.text[:200]}")
                return
            for _ in range(amount):
                for name in LISTS:
                    url: str | None = first_url(base, name, DEFAULT_PAGE_SIZE)
                    seen: set[int] = set()
                    while url:
                        started = time.perf_counter()
                        response = await client.get(url)
                        seconds = time.perf_counter() - started
                        url = check_page(phase, response, seen, DEFAULT_PAGE_SIZE)
                        if response.status_code == 200:
                            phase.latencies.append(seconds)
                            phase.by_size[DEFAULT_PAGE_SIZE].append(seconds)

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return phase


def measured(server: psutil.Process, run: Callable[[], Phase]) -> Phase:
    before, cpu, started = server.cpu_times(), cpu_seconds(), time.perf_counter()
    phase = run()
    phase.elapsed = time.perf_counter() - started
    phase.client_cpu_s = cpu_seconds() - cpu
    after = server.cpu_times()
    phase.server_cpu_s = (after.user - before.user) + (after.system - before.system)
    return phase


# Main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--passes", type=int, default=PASSES, help="per list, size and round")
    parser.add_argument("--baseline", type=int, default=BASELINE, help="/me/ per round (client)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Django's logging shows every request
    began = time.monotonic()
    say(
        f"API list benchmark: {SERVERS} servers and {PROJECTS} projects through {API}/, pages of"
        f" {' and '.join(map(str, LIST_PAGE_SIZES))}; {args.rounds} rounds, {args.passes} passes,"
        f" {args.concurrency} concurrent clients; python {sys.version.split()[0]},"
        f" {os.cpu_count()} CPUs"
    )
    work = Path(tempfile.mkdtemp(prefix="devflow-bench-api-"))
    data_dir = work / "data"
    server: ServerProcess | None = None
    seq = {"lists": Phase(), "baseline": Phase()}
    conc = {"lists": Phase(), "baseline": Phase()}
    notes: list[str] = [
        f"DEVFLOW_API_RATE_PER_TOKEN and _PER_ADDRESS raised to {RATE} so the load is not 429'd"
    ]
    try:
        say(f"scratch folder {work}")
        prepare_data_dir(data_dir, work)
        setup_django(data_dir)
        made = create_objects()
        token = made["token"]
        say(f"rows made in {made['seconds']:.1f} s: {made['rows']}")

        say("queries per request (in this process, test Client, pages 1 and 2):")
        queries = count_queries(token)
        from django.db import connections

        connections.close_all()
        constant: dict[str, bool] = {}
        for name, per_size in queries["counts"].items():
            values = {n for pair in per_size.values() for n in pair}
            constant[name] = len(values) == 1
            shown = ", ".join(f"{size}: {pair[0]}/{pair[1]}" for size, pair in per_size.items())
            say(f"  {name:<14} page size {shown}  -> {'constant' if constant[name] else 'GROWS'}")
        say(f"  me             {queries['me']}")
        for name in (*LISTS, "me"):
            kinds = collections.Counter(classify(sql) for sql in queries["statements"][name])
            say(f"  {name} (page 1 of 50): {dict(kinds)}")

        port = free_port()
        server = start_server(port, data_dir, work)
        say(f"devflow web: pid {server.process.pid}, 127.0.0.1:{port}, ready after"
            f" {wait_ready(server):.2f} s (/readyz 200)")  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        proc = psutil.Process(server.process.pid)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(headers=headers, timeout=60) as client:
            warm = Phase()
            for size in LIST_PAGE_SIZES:
                warm.merge(sequential_lists(client, base, size, 1))
            warm.merge(sequential_baseline(client, base, 20))
            if warm.errors:
                raise RuntimeError(f"warm-up errors: {dict(warm.errors)} {warm.samples}")
            for number in range(args.rounds):
                order = ["baseline", "lists"] if number % 2 == 0 else ["lists", "baseline"]
                for kind in order:
                    if kind == "baseline":
                        phase = measured(
                            proc,
                            functools.partial(sequential_baseline, client, base, args.baseline),
                        )
                    else:
                        phase = Phase()
                        for size in LIST_PAGE_SIZES:
                            phase.merge(
                                measured(
                                    proc,
                                    functools.partial(
                                        sequential_lists, client, base, size, args.passes
                                    ),
                                )
                            )
                    seq[kind].merge(phase)
                    f = phase.figures()
                    say(f"sequential round {number + 1}/{args.rounds} {kind:<8}"
                        f" {f['requests']} requests, {f['rps']} rps, p50 {f['p50_ms']} ms,"
                        f" p95 {f['p95_ms']} ms, errors {f['errors']}")  # fmt: skip
        for number in range(args.rounds):
            order = ["baseline", "lists"] if number % 2 == 0 else ["lists", "baseline"]
            for kind in order:
                amount = args.baseline if kind == "baseline" else args.passes
                load = concurrent(base, token, kind, args.concurrency, amount)
                phase = measured(proc, functools.partial(asyncio.run, load))
                conc[kind].merge(phase)
                f = phase.figures()
                say(f"concurrent ({args.concurrency}) round {number + 1}/{args.rounds} {kind:<8}"
                    f" {f['requests']} requests, {f['rps']} rps, p50 {f['p50_ms']} ms,"
                    f" p95 {f['p95_ms']} ms, errors {f['errors']}")  # fmt: skip
        if server.process.poll() is not None:
            raise RuntimeError(f"devflow web exited: {server.log_tail()}")
        stop_server(server)
        server = None

        say(f"where the time goes: {PROFILE_CALLS} requests per URL (page 2) through Django's"
            " request path in this process; pieces, SQL and GC are means per request")  # fmt: skip
        urls = {"me": f"{API}/me/"}
        for name in LISTS:
            for size in LIST_PAGE_SIZES:
                urls[f"{name}_{size}"] = list_url(name, size, 2)
        profiled = profile(token, urls)
        for label, e in profiled.items():
            say(f"  {label:<13} wall p50 {e['wall_p50_ms']} / p95 {e['wall_p95_ms']} / max"
                f" {e['wall_max_ms']} / mean {e['wall_mean_ms']} ms, {e['bytes']} bytes;"
                f" GC {e['gc_mean_ms']} ms/request ({e['gc_full_collections']} full collections,"
                f" {e['gc_full_p50_ms']} ms each)")  # fmt: skip
            say(f"                pieces {e['pieces_mean_ms']}")
            say(f"                SQL {e['sql_mean_ms']}")
        say("  the same with gc.freeze() first (what is alive after setup is not collected again):")
        big = {label: url for label, url in urls.items() if label.endswith("_200")}
        frozen = profile(token, big, frozen=True)
        for label, e in frozen.items():
            say(
                f"  {label:<13} wall p50 {e['wall_p50_ms']} / p95 {e['wall_p95_ms']} / max"
                f" {e['wall_max_ms']} ms; GC {e['gc_mean_ms']} ms/request"
                f" ({e['gc_full_collections']} full collections, {e['gc_full_p50_ms']} ms each)"
            )
        tracked = len(gc.get_objects())
        started = time.perf_counter()
        gc.collect()
        full_collect_ms = round((time.perf_counter() - started) * 1000, 1)
        say(
            f"  one full collection of this process ({tracked} tracked objects):"
            f" {full_collect_ms} ms"
        )
    finally:
        stop_server(server)
        shutil.rmtree(work, ignore_errors=True)

    lists_seq, base_seq = seq["lists"].figures(), seq["baseline"].figures()
    lists_conc, base_conc = conc["lists"].figures(), conc["baseline"].figures()
    by_size = {
        str(size): {
            "p50_ms": percentile(times, 50),
            "p95_ms": percentile(times, 95),
            "rps": round(len(times) / sum(times), 1) if times else None,
        }
        for size, times in sorted(seq["lists"].by_size.items())
    }
    errors = sum(p.figures()["errors"] for p in (*seq.values(), *conc.values()))
    queries_constant = all(constant.values())
    p95 = lists_seq["p95_ms"]
    meets_p95 = p95 is not None and p95 <= TARGET_P95_MS
    rps = lists_conc["rps"]
    ratio = round(rps / base_conc["rps"], 3) if rps and base_conc["rps"] else None
    ratio_seq = (
        round(lists_seq["rps"] / base_seq["rps"], 3)
        if lists_seq["rps"] and base_seq["rps"]
        else None
    )
    meets = queries_constant and meets_p95 and errors == 0

    say()
    say("list pages (servers + projects):")
    say(f"  sequential   {lists_seq['rps']} rps, p50 {lists_seq['p50_ms']} ms, p95"
        f" {p95} ms (target <= {TARGET_P95_MS:.0f}), max {lists_seq['max_ms']} ms, server CPU"
        f" {lists_seq['server_cpu_ms_per_request']} ms/request")  # fmt: skip
    for label, figures in by_size.items():
        say(f"    page size {label:>3}: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms,"
            f" {figures['rps']} pages/s back to back")  # fmt: skip
    say(f"  concurrent   {lists_conc['rps']} rps, p50 {lists_conc['p50_ms']} ms, p95"
        f" {lists_conc['p95_ms']} ms ({args.concurrency} clients, page size 50), server CPU"
        f" {lists_conc['server_cpu_ms_per_request']} ms/request, client CPU"
        f" {lists_conc['client_cpu_share']:.0%}")  # fmt: skip
    say("baseline GET /api/v1/me/:")
    say(
        f"  sequential   {base_seq['rps']} rps, p50 {base_seq['p50_ms']} ms, p95"
        f" {base_seq['p95_ms']} ms, server CPU {base_seq['server_cpu_ms_per_request']} ms/request"
    )
    say(f"  concurrent   {base_conc['rps']} rps, p50 {base_conc['p50_ms']} ms, p95"
        f" {base_conc['p95_ms']} ms")  # fmt: skip
    say(f"  rps ratio lists/baseline: {ratio} concurrent, {ratio_seq} sequential")
    say(f"  queries constant in the page size: {queries_constant} {constant}")
    say(f"  targets {'met' if meets else 'MISSED'}; errors {errors}; notes: {notes}")

    summary: dict[str, Any] = {
        "queries_per_page": {
            size: {name: queries["counts"][name][size][0] for name in COUNTED}
            for size in map(str, COUNT_PAGE_SIZES)
        },
        "queries_constant": queries_constant,
        "rps": rps,
        "p95_ms": p95,
        "meets_target": meets,
        "target_p95_ms": TARGET_P95_MS,
        "queries_constant_by_list": constant,
        "queries_me": queries["me"],
        "p50_ms": lists_seq["p50_ms"],
        "max_ms": lists_seq["max_ms"],
        "by_page_size": by_size,
        "rps_sequential": lists_seq["rps"],
        "concurrent_p50_ms": lists_conc["p50_ms"],
        "concurrent_p95_ms": lists_conc["p95_ms"],
        "concurrency": args.concurrency,
        "baseline": "GET /api/v1/me/",
        "baseline_rps": base_conc["rps"],
        "baseline_rps_sequential": base_seq["rps"],
        "baseline_p50_ms": base_seq["p50_ms"],
        "baseline_p95_ms": base_seq["p95_ms"],
        "rps_ratio": ratio,
        "rps_ratio_sequential": ratio_seq,
        "server_cpu_ms_per_page": lists_seq["server_cpu_ms_per_request"],
        "baseline_server_cpu_ms_per_request": base_seq["server_cpu_ms_per_request"],
        "client_cpu_share_concurrent": lists_conc["client_cpu_share"],
        "requests": {
            "lists_sequential": lists_seq["requests"],
            "lists_concurrent": lists_conc["requests"],
            "baseline_sequential": base_seq["requests"],
            "baseline_concurrent": base_conc["requests"],
        },
        "errors": errors,
        "error_samples": [s for p in (*seq.values(), *conc.values()) for s in p.samples][:5],
        "profile": profiled,
        "profile_gc_frozen": frozen,
        "gc_full_collection_ms": full_collect_ms,
        "gc_tracked_objects": tracked,
        "rows": made["rows"],
        "runtime_s": round(time.monotonic() - began, 1),
        "notes": notes,
    }
    say(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
