"""Webhooks: signed GitHub pushes at `devflow web`, against a bare Django view on the same stack.

Run from the project root with the project's interpreter:

    .venv/bin/python bench/webhooks.py [--requests 2000] [--concurrency 8] [--warmup 100]

What it does:
  * runs `python -m devflow prepare` on a fresh temporary data directory (embedded defaults:
    SQLite, filesystem broker; DATABASE_URL, REDIS_URL and the like are removed from the
    environment), sets Django up in this process on the same directory and creates a user
    (and their team), one local server and a project whose only environment deploys branch
    "main"; then its webhook config (services.config_of: public id and secret) with
    rate_limit_per_minute raised to RATE_LIMIT through the ORM (the settings form caps it at
    10000 a minute; the default of 60 would reject the load with 429s);
  * starts two servers on free 127.0.0.1 ports, both with that data directory, and stops
    them at the end (SIGTERM, then their own process group):
      - DevFlow: `python -m devflow web --host 127.0.0.1 --port P` (uvicorn, as `devflow up`
        serves it);
      - the baseline: bench/_bare_app.py, started the same way as `devflow web` with the same
        uvicorn options, same settings, middleware and ASGI router, plus one view
        `POST /bench/bare` that answers 200 "ok" without touching the database;
  * load, from a second process (this script with --client; asyncio, raw HTTP/1.1 on
    CONCURRENCY keep-alive connections, one request in flight per connection): every request
    is a real GitHub push payload (tests/webhooks/payloads/github_push.json) for
    refs/heads/not-main (so nothing deploys) with its own "after" sha, its own
    X-GitHub-Delivery id (so the duplicate-delivery guard never short-circuits) and
    X-Hub-Signature-256 = "sha256=" + HMAC-SHA256 of the raw body with the project's secret.
    The baseline gets the very same requests at /bench/bare. Latency is from the request's
    first byte written to its response's last byte read;
  * checks every answer: DevFlow must say 202 with decision "ignored" (branch not-main is
    not main), the bare view 200 "ok"; anything else is counted in `errors`. At the end the
    Delivery rows are counted (one per request, all "ignored") and no Deployment exists;
  * rounds: the measured requests are split in ROUNDS alternating rounds (bare, devflow,
    devflow, bare, ...), each after its own warm-up on new connections; rps = accepted
    requests / summed measured seconds, p50/p95 over every measured request. Then the same
    at concurrency 1 (SERIAL requests each), the per-request latency without queueing;
  * server CPU per request (psutil, over the measured phase) for both servers, and the
    client's own CPU share (a client near 100 % would cap the baseline);
  * where the time goes: after the servers are stopped, this process sends PROFILE_CALLS
    requests through Django's own request path (test Client: every middleware and the view,
    no HTTP server) to the webhook, with a new database connection per request as
    `devflow web` has and on one kept connection, and to the bare view; CPU per request,
    every SQL statement timed, and the pieces alone (connection open/close, secret
    decryption, signature, JSON parse).

Targets (/work/shared/BENCHMARKS.md): throughput_ratio (devflow/bare) >= 0.5, p95_ms < 50.
The LAST line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import hashlib
import hmac
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from _env import SCALE_OUT_VARS, clean_env, free_port, say

REQUESTS = 2000
WARMUP = 100  # per round, on that round's new connections; not counted
CONCURRENCY = 8
ROUNDS = 2
SERIAL = 200  # concurrency 1, per target, after the rounds
SERIAL_WARMUP = 20
PROFILE_CALLS = 100
RATE_LIMIT = 1_000_000  # requests a minute: far above what this load sends
TARGET_RATIO = 0.5
TARGET_P95_MS = 50.0
READY_TIMEOUT_S = 60.0
PHASE_TIMEOUT_S = 300.0
BRANCH = "main"
PUSHED_REF = "refs/heads/not-main"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAYLOAD = ROOT / "tests" / "webhooks" / "payloads" / "github_push.json"
BARE_APP = HERE / "_bare_app.py"
BARE_PATH = "/bench/bare"
SHA_PLACEHOLDER = "b" * 40  # not in the payload otherwise


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of values in seconds, returned in ms."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return round(ordered[rank - 1] * 1000, 2)


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


# The requests -------------------------------------------------------------------------------


def payload_template() -> bytes:
    """The GitHub push body for PUSHED_REF, with SHA_PLACEHOLDER where its sha goes."""
    data = json.loads(PAYLOAD.read_text())
    data["ref"] = PUSHED_REF
    data["after"] = SHA_PLACEHOLDER
    if isinstance(data.get("head_commit"), dict):
        data["head_commit"]["id"] = SHA_PLACEHOLDER
    return json.dumps(data).encode()


def build_body(template: bytes, tag: str, index: int) -> bytes:
    """A push of its own commit: the body (hence the signature) differs every time."""
    sha = hashlib.sha1(f"{tag}-{index}".encode()).hexdigest()
    return template.replace(SHA_PLACEHOLDER.encode(), sha.encode())


def signed_headers(secret: str, body: bytes) -> dict[str, str]:
    """What GitHub sends (cf. tests/webhooks/conftest.py signed_headers)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/bench",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256="
        + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


def raw_request(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# The load generator (a second process: this script with --client) -----------------------------


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        return status, b"".join(parts)
    if length is None:
        return status, await reader.read()
    return status, await reader.readexactly(length)


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    cpu_s: float = 0.0


class Client:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.host, self.port = spec["host"], int(spec["port"])
        self.path, self.kind = spec["path"], spec["kind"]
        self.secret = spec["secret"]
        self.template = payload_template()
        self.next_index = 0
        self.connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = []

    def request(self) -> bytes:
        self.next_index += 1
        body = build_body(self.template, self.spec["tag"], self.next_index)
        return raw_request(self.host, self.port, self.path, signed_headers(self.secret, body), body)

    def check(self, status: int, body: bytes) -> str:
        """'' when the answer is the expected one, else a short description."""
        if self.kind == "bare":
            return "" if status == 200 and body == b"ok" else f"{status} {body[:80]!r}"
        try:
            decision = json.loads(body).get("decision")
        except ValueError:
            decision = f"not JSON: {body[:80]!r}"
        return "" if status == 202 and decision == "ignored" else f"{status} {decision}"

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reader, writer

    async def run(self, count: int) -> Phase:
        phase = Phase()
        remaining = iter(range(count))

        async def connection_loop(slot: int) -> None:
            for _ in remaining:  # shared by every connection: `count` requests in all
                data = self.request()
                try:
                    if self.connections[slot] is None:
                        self.connections[slot] = await self.connect()
                    conn = self.connections[slot]
                    assert conn is not None
                    reader, writer = conn
                    started = time.perf_counter()
                    writer.write(data)
                    status, body = await read_response(reader)
                    seconds = time.perf_counter() - started
                except (OSError, ValueError, asyncio.IncompleteReadError) as error:
                    phase.errors[f"{type(error).__name__}"] += 1
                    if len(phase.samples) < 5:
                        phase.samples.append(f"{type(error).__name__}: {error}")
                    self.connections[slot] = None
                    continue
                problem = self.check(status, body)
                if problem:
                    phase.errors[problem[:60]] += 1
                    if len(phase.samples) < 5:
                        phase.samples.append(f"{status}: {body[:300]!r}")
                else:
                    phase.latencies.append(seconds)

        cpu = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(connection_loop(slot) for slot in range(len(self.connections)))),
            PHASE_TIMEOUT_S,
        )
        phase.elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        phase.cpu_s = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
        return phase


async def client_main() -> None:
    """--client: read the spec line, warm up, say 'warm', wait for 'go', measure, report."""
    loop = asyncio.get_running_loop()
    spec = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    client = Client(spec)
    client.connections = [None] * int(spec["concurrency"])
    warm = await client.run(int(spec["warmup"]))
    print(json.dumps({"warm": len(warm.latencies), "errors": dict(warm.errors)}), flush=True)
    if (await loop.run_in_executor(None, sys.stdin.readline)).strip() != "go":
        return
    phase = await client.run(int(spec["requests"]))
    for conn in client.connections:
        if conn is not None:
            conn[1].close()
    report = {
        "latencies": phase.latencies,
        "errors": dict(phase.errors),
        "samples": phase.samples,
        "elapsed": phase.elapsed,
        "cpu_s": phase.cpu_s,
        "warmup_errors": dict(warm.errors),
    }
    print(json.dumps(report), flush=True)


@dataclass
class Result:
    kind: str
    concurrency: int
    latencies: list[float]
    errors: dict[str, int]
    samples: list[str]
    elapsed: float
    client_cpu_s: float
    server_cpu_s: float
    warmup_errors: dict[str, int]

    @property
    def accepted(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values()) + sum(self.warmup_errors.values())


def run_client(spec: dict[str, Any], server: psutil.Process, cwd: Path) -> Result:
    """One load phase from a new client process; server CPU over its measured part."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--client"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(spec) + "\n")
        proc.stdin.flush()
        warm = proc.stdout.readline()
        if not warm:
            raise RuntimeError(f"the load client exited during its warm-up ({proc.wait()})")
        before = server.cpu_times()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        after = server.cpu_times()
        if not line:
            raise RuntimeError(f"the load client exited without a report ({proc.wait()})")
        report = json.loads(line)
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return Result(
        kind=spec["kind"],
        concurrency=int(spec["concurrency"]),
        latencies=report["latencies"],
        errors=report["errors"],
        samples=report["samples"],
        elapsed=report["elapsed"],
        client_cpu_s=report["cpu_s"],
        server_cpu_s=(after.user - before.user) + (after.system - before.system),
        warmup_errors=report["warmup_errors"],
    )


# DevFlow: data directory, objects, servers ---------------------------------------------------


def prepare_data_dir(data_dir: Path, work: Path) -> None:
    """`devflow prepare`: migrations, key file, broker folders (as an install does)."""
    done = subprocess.run(
        [sys.executable, "-m", "devflow", "prepare"],
        env=clean_env(data_dir),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"devflow prepare failed: {done.stderr[-1500:]}")


def setup_django(data_dir: Path) -> None:
    for name in SCALE_OUT_VARS:
        os.environ.pop(name, None)
    os.environ["DEVFLOW_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "devflow.settings"
    import django

    django.setup()


@dataclass
class Hook:
    project_id: int
    public_id: str
    secret: str


def create_objects(work: Path) -> Hook:
    from django.db import connections

    from devflow.accounts.services import create_user
    from devflow.projects import services as project_services
    from devflow.servers.models import Server
    from devflow.webhooks import services as webhook_services
    from devflow.webhooks.models import WebhookConfig

    repo = work / "site.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", BRANCH, str(repo)], check=True)
    user = create_user(username="bench", email="bench@example.com", password="bench-" + "x" * 20)
    team = user.last_team
    assert team is not None
    server = Server.objects.create(team=team, name="local", is_local=True, created_by=user)
    project = project_services.create_project(
        user,
        team,
        project_services.ProjectData(name="Site", repository_url=str(repo), template="static"),
        project_services.EnvironmentData(
            branch=BRANCH, servers=[server], deploy_path=str(work / "www" / "site")
        ),
    )
    config = webhook_services.config_of(project)
    # The settings form allows 1..10000 a minute; the load needs more than that.
    WebhookConfig.objects.filter(pk=config.pk).update(rate_limit_per_minute=RATE_LIMIT)
    hook = Hook(project.pk, config.public_id, config.secret)
    connections.close_all()  # nothing of this process holds the SQLite file while serving
    return hook


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def start_server(
    name: str, argv: list[str], port: int, data_dir: Path, work: Path
) -> ServerProcess:
    log_path = work / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*argv, "--host", "127.0.0.1", "--port", str(port)],
            env=clean_env(data_dir),
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ServerProcess(name, process, port, log_path)


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def wait_ready(server: ServerProcess) -> float:
    started = time.perf_counter()
    url = f"http://127.0.0.1:{server.port}/readyz"
    while time.perf_counter() - started < READY_TIMEOUT_S:
        if server.process.poll() is not None:
            break
        if http_status(url) == 200:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError(
        f"{server.name} was not ready (exit {server.process.poll()}): {server.log_tail()}"
    )


def stop_server(server: ServerProcess | None) -> None:
    if server is None or server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        # The session we created for it, by its id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


def post_once(port: int, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


# Where the time goes: the service, in this process --------------------------------------------


def classify(sql: str) -> str:
    text = sql.upper()
    if text.startswith("INSERT") and "WEBHOOKS_DELIVERY" in text:
        return "INSERT delivery"
    if "COUNT(" in text and "WEBHOOKS_DELIVERY" in text:
        return "rate-limit COUNT"
    if "WEBHOOKS_WEBHOOKCONFIG" in text:
        return "config lookup"
    if "WEBHOOKS_DELIVERY_DEPLOYMENTS" in text:
        return "answer: deployments of the delivery"
    if "WEBHOOKS_DELIVERY" in text:
        return "duplicate-delivery SELECT"
    if "PROJECTS_ENVIRONMENT" in text:
        return "environments of the project"
    return text.split()[0] if text else "?"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def profile_in_process(hook: Hook) -> dict[str, Any]:
    """Django's own request path in this process, no HTTP server: where a request's time goes.

    Django's test Client runs every middleware and the view (the sync handler). Modes:
      * webhook, a new connection per request: closed after each, inside the timing, as
        `devflow web` does (CONN_MAX_AGE 0; under ASGI each request also runs in its own
        thread, so a connection could not be reused anyway);
      * webhook, one kept connection (what connection reuse would save);
      * the bare view (the same middleware, no database).
    Every SQL statement of the kept-connection mode is timed (execute only, not fetch).
    """
    import _bare_app  # noqa: F401  (ROOT_URLCONF: DevFlow's URLs + the bare view)
    from django.db import connection
    from django.test import Client

    from devflow.core import crypto
    from devflow.webhooks.models import WebhookConfig
    from devflow.webhooks.providers import RECEIVERS

    template = payload_template()
    client = Client()
    per_query: dict[str, list[float]] = collections.defaultdict(list)
    current: list[tuple[str, float]] = []
    hook_path = f"/hooks/github/{hook.public_id}"

    def timer(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            current.append((classify(sql), time.perf_counter() - started))

    def post(path: str, number: int, close: bool) -> tuple[float, int]:
        body = build_body(template, "profile", number)
        extra = {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in signed_headers(hook.secret, body).items()
            if name != "Content-Type"
        }
        current.clear()
        started = time.perf_counter()
        response = client.post(path, data=body, content_type="application/json", **extra)
        if close:
            connection.close()
        seconds = time.perf_counter() - started
        if response.status_code not in (200, 202):
            raise RuntimeError(f"{path} answered {response.status_code}: {response.content!r}")
        return seconds, len(current)

    figures: dict[str, Any] = {}
    number = 0
    modes = (
        ("webhook_new_connection", hook_path, True),
        ("webhook_kept_connection", hook_path, False),
        ("bare_view", BARE_PATH, False),
    )
    with connection.execute_wrapper(timer):
        for mode, path, close in modes:
            for _ in range(20):  # warm-up
                number += 1
                post(path, number, close)
            walls, counts = [], []
            gc.collect()
            cpu = cpu_seconds()
            for _ in range(PROFILE_CALLS):
                number += 1
                seconds, count = post(path, number, close)
                walls.append(seconds)
                counts.append(count)
                if mode == "webhook_kept_connection":
                    for label, query_seconds in current:
                        per_query[label].append(query_seconds)
            figures[mode] = {
                "wall_ms": ms(statistics.fmean(walls)),
                "cpu_ms": ms((cpu_seconds() - cpu) / PROFILE_CALLS),
                "queries": int(statistics.median(counts)),
            }
    figures["per_query_ms"] = {
        label: ms(statistics.median(values)) for label, values in per_query.items()
    }
    figures["sql_execute_ms"] = ms(sum(statistics.median(values) for values in per_query.values()))
    figures["queries_per_request"] = figures["webhook_kept_connection"]["queries"]

    def timed(function: Any, repeat: int = 200) -> float | None:
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            function()
            runs.append(time.perf_counter() - started)
        return ms(statistics.median(runs))

    def open_select_close() -> None:
        WebhookConfig.objects.filter(public_id=hook.public_id).values_list("id").first()
        connection.close()

    # Pieces of the path, alone.
    figures["connection_open_select_close_ms"] = timed(open_select_close, 100)
    body = build_body(template, "pieces", 0)
    headers = signed_headers(hook.secret, body)
    with connection.cursor() as cursor:  # the stored Fernet token, as the column holds it
        cursor.execute(
            "SELECT secret FROM webhooks_webhookconfig WHERE public_id = %s", [hook.public_id]
        )
        token = cursor.fetchone()[0].removeprefix("fernet:")
    receiver = RECEIVERS["github"]
    figures["decrypt_secret_ms"] = timed(lambda: crypto.decrypt(token))
    figures["verify_signature_ms"] = timed(lambda: receiver.verify(headers, body, hook.secret))
    figures["parse_json_ms"] = timed(lambda: json.loads(body))
    connection.close()
    return figures


def delivery_counts(hook: Hook) -> dict[str, Any]:
    from django.db import connection
    from django.db.models import Count

    from devflow.deployments.models import Deployment
    from devflow.webhooks.models import Delivery

    rows = Delivery.objects.filter(project_id=hook.project_id)
    decisions = dict(
        rows.order_by().values_list("decision").annotate(n=Count("id")).values_list("decision", "n")
    )
    counts = {"deliveries": rows.count(), "decisions": decisions}
    counts["deployments"] = Deployment.objects.count()
    connection.close()
    return counts


# Main -----------------------------------------------------------------------------------------


def summarize(results: list[Result]) -> dict[str, Any]:
    latencies = [x for r in results for x in r.latencies]
    elapsed = sum(r.elapsed for r in results)
    accepted = sum(r.accepted for r in results)
    errors: collections.Counter[str] = collections.Counter()
    for r in results:
        errors.update(r.errors)
        errors.update({f"warm-up: {k}": v for k, v in r.warmup_errors.items()})
    return {
        "rps": round(accepted / elapsed, 1) if elapsed else None,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": percentile(latencies, 100),
        "accepted": accepted,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "samples": [s for r in results for s in r.samples][:5],
        "elapsed_s": round(elapsed, 3),
        "server_cpu_ms_per_request": round(
            sum(r.server_cpu_s for r in results) / accepted * 1000, 3
        )
        if accepted
        else None,
        "server_cpu_share": round(sum(r.server_cpu_s for r in results) / elapsed, 2)
        if elapsed
        else None,
        "client_cpu_share": round(sum(r.client_cpu_s for r in results) / elapsed, 2)
        if elapsed
        else None,
    }


def describe(result: Result) -> str:
    rps = result.accepted / result.elapsed if result.elapsed else 0.0
    return (
        f"{result.accepted:5d} ok, {result.error_count} errors in {result.elapsed:6.2f} s"
        f" -> {rps:7.1f} rps; p50 {percentile(result.latencies, 50)} ms,"
        f" p95 {percentile(result.latencies, 95)} ms; server CPU"
        f" {result.server_cpu_s / max(result.accepted, 1) * 1000:.2f} ms/request"
        f" ({result.server_cpu_s / result.elapsed:.0%} of a core), client CPU"
        f" {result.client_cpu_s / result.elapsed:.0%}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=REQUESTS, help="measured, per target")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--warmup", type=int, default=WARMUP, help="per round, per target")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.client:
        asyncio.run(client_main())
        return 0
    began = time.monotonic()
    requests, concurrency, rounds = args.requests, args.concurrency, max(1, args.rounds)
    say(
        f"webhook benchmark: {requests} signed GitHub pushes ({PUSHED_REF}) per target at"
        f" concurrency {concurrency}, {rounds} alternating rounds with {args.warmup} warm-up"
        f" requests each; python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    work = Path(tempfile.mkdtemp(prefix="devflow-bench-webhooks-"))
    data_dir = work / "data"
    servers: list[ServerProcess] = []
    results: dict[str, list[Result]] = {"bare": [], "devflow": []}
    serial: dict[str, Result] = {}
    notes: list[str] = []
    loaded = False
    try:
        say(f"scratch folder {work}")
        prepare_data_dir(data_dir, work)
        setup_django(data_dir)
        hook = create_objects(work)
        say(
            f"project 'Site' (environment branch {BRANCH!r}), webhook /hooks/github/"
            f"{hook.public_id}; rate_limit_per_minute raised from 60 to {RATE_LIMIT}"
            " (through the ORM) so the limiter does not reject the load"
        )
        notes.append(f"webhook rate_limit_per_minute raised to {RATE_LIMIT} for the load")
        devflow = start_server(
            "devflow-web", [sys.executable, "-m", "devflow", "web"], free_port(), data_dir, work
        )
        servers.append(devflow)
        bare = start_server(
            "bare-app", [sys.executable, str(BARE_APP)], free_port(), data_dir, work
        )
        servers.append(bare)
        for server in servers:
            say(
                f"{server.name}: pid {server.process.pid}, 127.0.0.1:{server.port}, ready after"
                f" {wait_ready(server):.2f} s (/readyz 200)"
            )
        # One request each, by hand, before any load.
        body = build_body(payload_template(), "check", 0)
        headers = signed_headers(hook.secret, body)
        status, answer = post_once(devflow.port, f"/hooks/github/{hook.public_id}", headers, body)
        say(f"check: DevFlow answered {status} {answer.decode(errors='replace')[:200]}")
        if status != 202 or json.loads(answer).get("decision") != "ignored":
            raise RuntimeError(f"DevFlow did not ignore the push: {status} {answer[:300]!r}")
        status, answer = post_once(bare.port, BARE_PATH, headers, body)
        say(f"check: bare view answered {status} {answer[:20]!r}")
        if status != 200 or answer != b"ok":
            raise RuntimeError(f"the bare view answered {status} {answer[:300]!r}")

        targets = {
            "devflow": (devflow, f"/hooks/github/{hook.public_id}"),
            "bare": (bare, BARE_PATH),
        }
        per_round = [
            requests // rounds + (1 if n < requests % rounds else 0) for n in range(rounds)
        ]
        order = ["bare", "devflow"]
        for number in range(rounds):
            for kind in order if number % 2 == 0 else order[::-1]:
                server, path = targets[kind]
                spec = {
                    "kind": kind,
                    "host": "127.0.0.1",
                    "port": server.port,
                    "path": path,
                    "secret": hook.secret,
                    "concurrency": concurrency,
                    "warmup": args.warmup,
                    "requests": per_round[number],
                    "tag": f"{kind}-round{number}",
                }
                result = run_client(spec, psutil.Process(server.process.pid), work)
                results[kind].append(result)
                say(f"round {number + 1}/{rounds} {kind:<8} {describe(result)}")
                if server.process.poll() is not None:
                    raise RuntimeError(f"{server.name} exited: {server.log_tail()}")
        for kind in ("bare", "devflow"):
            server, path = targets[kind]
            spec = {
                "kind": kind,
                "host": "127.0.0.1",
                "port": server.port,
                "path": path,
                "secret": hook.secret,
                "concurrency": 1,
                "warmup": SERIAL_WARMUP,
                "requests": SERIAL,
                "tag": f"{kind}-serial",
            }
            serial[kind] = run_client(spec, psutil.Process(server.process.pid), work)
            say(f"serial (concurrency 1) {kind:<8} {describe(serial[kind])}")
        loaded = True
    finally:
        for server in servers:
            stop_server(server)
        if not loaded:  # failed: nothing more to do with the scratch folder
            shutil.rmtree(work, ignore_errors=True)
    try:
        counts = delivery_counts(hook)
        expected = 1 + sum(
            r.accepted + sum(r.errors.values()) for r in [*results["devflow"], serial["devflow"]]
        )
        say(
            f"Delivery rows: {counts['deliveries']} (decisions {counts['decisions']}), "
            f"Deployments: {counts['deployments']}"
        )
        warm_rows = rounds * args.warmup + SERIAL_WARMUP
        if counts["deliveries"] != expected + warm_rows:
            notes.append(f"{counts['deliveries']} delivery rows, expected {expected + warm_rows}")
        if counts["deployments"]:
            notes.append(f"{counts['deployments']} deployment(s) were created")
        say(f"profiling Django's request path in this process ({PROFILE_CALLS} requests a mode)")
        profile = profile_in_process(hook)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    dev, base = summarize(results["devflow"]), summarize(results["bare"])
    dev_serial, base_serial = summarize([serial["devflow"]]), summarize([serial["bare"]])
    ratio = round(dev["rps"] / base["rps"], 3) if dev["rps"] and base["rps"] else None
    errors = dev["errors"] + base["errors"] + dev_serial["errors"] + base_serial["errors"]
    meets_ratio = ratio is not None and ratio >= TARGET_RATIO
    meets_p95 = dev["p95_ms"] is not None and dev["p95_ms"] < TARGET_P95_MS
    meets = meets_ratio and meets_p95 and errors == 0 and not counts["deployments"]

    say()
    say(f"{requests} measured requests per target, concurrency {concurrency}:")
    for label, figures in (("DevFlow webhook", dev), ("bare view", base)):
        say(
            f"  {label:<16} {figures['rps']} accepted rps, p50 {figures['p50_ms']} ms,"
            f" p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms,"
            f" errors {figures['errors']}; server CPU {figures['server_cpu_ms_per_request']}"
            f" ms/request ({figures['server_cpu_share']:.0%} of a core),"
            f" client CPU {figures['client_cpu_share']:.0%}"
        )
        if figures["errors"]:
            say(f"    error kinds {figures['error_kinds']}; samples {figures['samples']}")
    say(f"  throughput ratio devflow/bare {ratio} (target >= {TARGET_RATIO})")
    say(f"  DevFlow p95 {dev['p95_ms']} ms (target < {TARGET_P95_MS:.0f} ms)")
    say(
        f"  concurrency 1: DevFlow p50 {dev_serial['p50_ms']} / p95 {dev_serial['p95_ms']} ms,"
        f" bare p50 {base_serial['p50_ms']} / p95 {base_serial['p95_ms']} ms"
    )
    new, kept, naked = (
        profile["webhook_new_connection"],
        profile["webhook_kept_connection"],
        profile["bare_view"],
    )
    say(
        "  in this process, Django's request path with no HTTP server (CPU per request):"
        f" webhook {new['cpu_ms']} ms with a new connection per request (as served),"
        f" {kept['cpu_ms']} ms on a kept connection; bare view {naked['cpu_ms']} ms"
    )
    say(
        f"    {profile['queries_per_request']} queries, SQL execute {profile['sql_execute_ms']} ms"
        f" in all: {profile['per_query_ms']}"
    )
    say(
        "    open + one SELECT + close of a connection"
        f" {profile['connection_open_select_close_ms']} ms; decrypt secret"
        f" {profile['decrypt_secret_ms']} ms, verify signature"
        f" {profile['verify_signature_ms']} ms, parse JSON {profile['parse_json_ms']} ms"
    )
    say(f"  targets {'met' if meets else 'MISSED'}" + (f"; notes: {notes}" if notes else ""))

    summary: dict[str, Any] = {
        "devflow_rps": dev["rps"],
        "bare_rps": base["rps"],
        "throughput_ratio": ratio,
        "p50_ms": dev["p50_ms"],
        "p95_ms": dev["p95_ms"],
        "bare_p50_ms": base["p50_ms"],
        "bare_p95_ms": base["p95_ms"],
        "requests": requests,
        "concurrency": concurrency,
        "errors": errors,
        "meets_target": meets,
        "meets_ratio_target": meets_ratio,
        "meets_p95_target": meets_p95,
        "target_ratio": TARGET_RATIO,
        "target_p95_ms": TARGET_P95_MS,
        "p99_ms": dev["p99_ms"],
        "bare_p99_ms": base["p99_ms"],
        "devflow_errors": dev["errors"] + dev_serial["errors"],
        "bare_errors": base["errors"] + base_serial["errors"],
        "error_kinds": {
            "devflow": dev["error_kinds"] | dev_serial["error_kinds"],
            "bare": base["error_kinds"] | base_serial["error_kinds"],
        },
        "rounds": rounds,
        "warmup_per_round": args.warmup,
        "round_rps": {
            kind: [round(r.accepted / r.elapsed, 1) for r in results[kind]]
            for kind in ("devflow", "bare")
        },
        "devflow_server_cpu_ms_per_request": dev["server_cpu_ms_per_request"],
        "bare_server_cpu_ms_per_request": base["server_cpu_ms_per_request"],
        "devflow_server_cpu_share": dev["server_cpu_share"],
        "bare_server_cpu_share": base["server_cpu_share"],
        "client_cpu_share": max(dev["client_cpu_share"] or 0, base["client_cpu_share"] or 0),
        "serial_p50_ms": dev_serial["p50_ms"],
        "serial_p95_ms": dev_serial["p95_ms"],
        "bare_serial_p50_ms": base_serial["p50_ms"],
        "bare_serial_p95_ms": base_serial["p95_ms"],
        "serial_requests": SERIAL,
        "profile": profile,
        "queries_per_request": profile["queries_per_request"],
        "deliveries": counts["deliveries"],
        "delivery_decisions": counts["decisions"],
        "deployments": counts["deployments"],
        "rate_limit_per_minute": RATE_LIMIT,
        "runtime_s": round(time.monotonic() - began, 1),
        "notes": notes,
    }
    say(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
