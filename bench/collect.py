"""Collect: one metrics collection tick over 50 loopback sshd servers, against one server's.

Run from the project root with the project's interpreter:

    .venv/bin/python bench/collect.py

What it does:
  * starts 4 private sshd processes serving 127.0.0.2 .. 127.0.0.51 (50 "hosts", at most 16
    ListenAddress lines per sshd), key-only, one host key per sshd, one ed25519 client key,
    `SetEnv SHLVL=1` (as bench/fanout.py does); they are stopped at the end, on error too;
  * runs `python -m devflow prepare` on a fresh temporary data directory (SQLite, embedded
    defaults), sets Django up in this process on the same directory, creates a user (and their
    team), imports the client key and one Server row per host with its host key pinned;
  * times the `monitoring.collect` job as a worker runs it, in this process: `enqueue(
    "monitoring.collect", params={"server_ids": [...]})` inside a transaction (the broker send
    is replaced by a no-op: the job runs here) then `execute_job(job.pk)`, for N = 1 (the
    baseline: one server's collection) and N = 50. Every run is checked: the job succeeded, its
    result is {"stored": N, "failed": 0} and N new ServerSample rows exist for those servers;
  * WARM runs (the headline figures `one_s`, `fifty_s`, `ratio_vs_one`): the steady state a
    worker is in from its second collection on, its SSH connections kept open since the last
    tick (transport/pool.py); each warm run is checked to have opened no connection;
  * COLD runs (`cold_one_s`, `cold_fifty_s`, `cold_ratio`): the kept connections are closed
    first (and sshd has seen them go), so the tick opens every connection afresh, as a worker's
    first collection, or one after `DEVFLOW_METRICS_KEEP_CONNECTIONS_SECONDS` idle, does;
  * in the same run, a bare in-process asyncssh gather of the very same command (curve25519,
    no database) on 1 and 50 hosts: the floor of what the transport alone can do here;
  * per run, the CPU this process used (client) and the CPU the sshd processes used (their
    reaped sessions), against the wall time: on 2 shared cores, a run whose summed CPU is close
    to 2 x its wall time is CPU-bound;
  * after the measured runs, one unmeasured warm N = 50 run under cProfile (the job's thread
    and the pool's event-loop thread, profiled separately) and the time spent storing samples
    (services.record, wrapped).

Figures are medians of RUNS interleaved runs after one unmeasured warm-up (which also fills the
pool). The target is ratio_vs_one = fifty_s / one_s <= 2 (warm). The LAST line is one JSON
object (see /work/shared/BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from _sshd import Host, Inventory, sshd_pids, start_sshds, stop_sshds

RUNS = 7
HOSTS = 50
KEX = "curve25519-sha256"
TARGET_RATIO = 2.0
# Environment variables that would switch DevFlow away from its embedded defaults.
SCALE_OUT_VARS = (
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "REDIS_URL",
    "REDIS_URL_FILE",
    "DEVFLOW_SECRET_KEYS",
    "DEVFLOW_SECRET_KEYS_FILE",
    "DEVFLOW_SECRET_KEY_FILE",
    "DEVFLOW_JOB_MODULES",
    "DEVFLOW_DEBUG",
)


def say(message: str = "") -> None:
    print(message, flush=True)


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def sshd_cpu(pids: list[int]) -> float:
    """CPU seconds of the sshd listeners and everything below them: the sessions they have
    reaped (with their commands), plus the ones still alive (kept connections)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            listener = psutil.Process(pid)
            for process in [listener, *listener.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    total += times.user + times.system + times.children_user
                    total += times.children_system
    return total


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# DevFlow --------------------------------------------------------------------------------------


def prepare_data_dir(data_dir: Path, work: Path) -> None:
    """`devflow prepare`: migrations, key file, broker folders (as an install does)."""
    env = {k: v for k, v in os.environ.items() if k not in SCALE_OUT_VARS}
    env["DEVFLOW_DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        [sys.executable, "-m", "devflow", "prepare"],
        env=env,
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
    # Every job kind, as `devflow worker` loads them.
    import devflow.core.jobs_registry
    import devflow.monitoring.jobs  # noqa: F401


def no_broker() -> None:
    """The job runs in this process: sending it to the broker would be a second run."""
    import devflow.core.jobs

    def send_to_queue(job: Any) -> None:
        return None

    devflow.core.jobs.send_to_queue = send_to_queue


def create_servers(inventory: Inventory) -> list[int]:
    from devflow.accounts.services import create_user
    from devflow.servers import keys
    from devflow.servers.models import Server

    user = create_user(username="bench", email="bench@example.com", password="bench-" + "x" * 20)
    team = user.last_team
    ssh_key = keys.import_key(user, team, "bench key", inventory.client_key.read_text())
    servers = Server.objects.bulk_create(
        Server(
            team=team,
            name=f"host-{index:03d}",
            host=host.address,
            port=host.port,
            username="root",
            ssh_key=ssh_key,
            host_key=host.host_public_key,
            created_by=user,
        )
        for index, host in enumerate(inventory.hosts)
    )
    return [server.pk for server in servers]


@dataclass
class Run:
    seconds: float
    client_cpu: float
    server_cpu: float
    problem: str
    opened: int = 0  # SSH connections the run opened


def kept_pool() -> Any:
    from devflow.transport import pool

    return pool.shared()


def drop_kept_connections(pids: list[int]) -> None:
    """Close the worker's kept connections and wait until sshd has reaped their sessions, so a
    cold run starts from nothing (and does not pay for the previous run's teardown)."""
    kept_pool().close_all()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = 0
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                alive += len(psutil.Process(pid).children())
        if not alive:
            return
        time.sleep(0.02)


def collect_run(server_ids: list[int], pids: list[int]) -> Run:
    """Enqueue one collection of `server_ids`, run its job here; check what it stored."""
    from django.db import transaction

    from devflow.core.jobs import enqueue, execute_job
    from devflow.core.models import Job
    from devflow.monitoring.models import ServerSample

    count = len(server_ids)
    before = ServerSample.objects.filter(server_id__in=server_ids).count()
    opened = kept_pool().opened
    cpu0, server0 = own_cpu(), sshd_cpu(pids)
    started = time.perf_counter()
    with transaction.atomic():
        job = enqueue("monitoring.collect", params={"server_ids": server_ids})
    status = execute_job(job.pk)
    seconds = time.perf_counter() - started
    client_cpu, server_cpu = own_cpu() - cpu0, sshd_cpu(pids) - server0
    job = Job.objects.get(pk=job.pk)
    stored = ServerSample.objects.filter(server_id__in=server_ids).count() - before
    problem = ""
    if status != "succeeded" or job.result != {"stored": count, "failed": 0} or stored != count:
        problem = f"job {status}, result {job.result}, {stored}/{count} rows; {job.error[:300]}"
    return Run(seconds, client_cpu, server_cpu, problem, kept_pool().opened - opened)


def warm_run(server_ids: list[int], pids: list[int]) -> Run:
    """A tick over connections kept from the previous one: it must open none."""
    run = collect_run(server_ids, pids)
    if not run.problem and run.opened:
        run.problem = f"a warm run opened {run.opened} connection(s)"
    return run


def cold_run(server_ids: list[int], pids: list[int]) -> Run:
    """A tick that opens every connection: the kept ones are closed first."""
    drop_kept_connections(pids)
    run = collect_run(server_ids, pids)
    if not run.problem and run.opened != len(server_ids):
        run.problem = f"a cold run opened {run.opened} connection(s), not {len(server_ids)}"
    return run


def bare_asyncssh_run(inventory: Inventory, count: int, pids: list[int]) -> Run:
    """The same command on `count` hosts with plain asyncssh.connect + run, gathered."""
    import asyncssh

    from devflow.monitoring import collector

    line = shlex.join(collector.command().argv)
    key = asyncssh.read_private_key(str(inventory.client_key))
    hosts = inventory.hosts[:count]

    async def one(host: Host) -> str:
        async with asyncssh.connect(
            host.address,
            port=host.port,
            username="root",
            client_keys=[key],
            known_hosts=([asyncssh.import_public_key(host.host_public_key)], [], []),
            kex_algs=[KEX],
            config=None,
            agent_path=None,
        ) as connection:
            result = await connection.run(line, check=False)
            return str(result.stdout)

    async def gather() -> list[Any]:
        return await asyncio.gather(*(one(host) for host in hosts), return_exceptions=True)

    cpu0, server0 = own_cpu(), sshd_cpu(pids)
    started = time.perf_counter()
    outputs = asyncio.run(gather())
    seconds = time.perf_counter() - started
    client_cpu, server_cpu = own_cpu() - cpu0, sshd_cpu(pids) - server0
    good = sum(1 for out in outputs if isinstance(out, str) and "@meminfo" in out)
    problem = "" if good == count else f"bare asyncssh: {good}/{count} ok, e.g. {outputs[:1]}"
    return Run(seconds, client_cpu, server_cpu, problem)


def bare_reused_runs(inventory: Inventory, pids: list[int], runs: int) -> dict[str, list[Run]]:
    """Diagnostic: the command on 1 and on 50 hosts over SSH connections opened beforehand
    (not timed) and kept: what a tick costs without the key exchange and authentication."""
    import asyncssh

    from devflow.monitoring import collector

    line = shlex.join(collector.command().argv)
    key = asyncssh.read_private_key(str(inventory.client_key))
    found: dict[str, list[Run]] = {"one": [], "fifty": []}

    async def measure() -> None:
        connections = await asyncio.gather(
            *(
                asyncssh.connect(
                    host.address,
                    port=host.port,
                    username="root",
                    client_keys=[key],
                    known_hosts=([asyncssh.import_public_key(host.host_public_key)], [], []),
                    kex_algs=[KEX],
                    config=None,
                    agent_path=None,
                )
                for host in inventory.hosts
            )
        )
        try:
            for _ in range(runs):
                for name, chosen in (("one", connections[:1]), ("fifty", connections)):
                    cpu0, server0 = own_cpu(), sshd_cpu(pids)
                    started = time.perf_counter()
                    results = await asyncio.gather(*(c.run(line, check=False) for c in chosen))
                    seconds = time.perf_counter() - started
                    good = sum(1 for r in results if "@meminfo" in str(r.stdout))
                    problem = "" if good == len(chosen) else f"{good}/{len(chosen)} ok"
                    cpu = own_cpu() - cpu0
                    found[name].append(Run(seconds, cpu, sshd_cpu(pids) - server0, problem))
        finally:
            for connection in connections:
                connection.close()
            await asyncio.gather(*(c.wait_closed() for c in connections))

    asyncio.run(measure())
    return found


def local_script_cpu(times: int = 20) -> float:
    """CPU seconds of one local run of the collection command itself (sh, head, cat, ls, df)."""
    from devflow.monitoring import collector

    argv = list(collector.command().argv)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(times):
        subprocess.run(argv, capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used / times


def profile_run(server_ids: list[int], pids: list[int]) -> dict[str, Any]:
    """One warm N=50 run under cProfile (job thread, pool's loop thread), plus storing time."""
    from devflow.monitoring import services
    from devflow.transport.pool import PooledFanOut

    job_profile, loop_profile = cProfile.Profile(), cProfile.Profile()
    stored = {"seconds": 0.0, "calls": 0}
    original_record, original_run_all = services.record, PooledFanOut._run_all

    def timed_record(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_record(*args, **kwargs)
        finally:
            stored["seconds"] += time.perf_counter() - started
            stored["calls"] += 1

    async def profiled_run_all(self: Any) -> Any:
        loop_profile.enable()  # this thread only: the pool's event loop
        try:
            return await original_run_all(self)
        finally:
            loop_profile.disable()

    services.record = timed_record  # type: ignore[assignment]
    PooledFanOut._run_all = profiled_run_all  # type: ignore[method-assign]
    try:
        job_profile.enable()
        run = warm_run(server_ids, pids)
        job_profile.disable()
    finally:
        services.record = original_record  # type: ignore[assignment]
        PooledFanOut._run_all = original_run_all  # type: ignore[method-assign]

    def top(profile: cProfile.Profile, sort: str, limit: int) -> str:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats(sort).print_stats(limit)
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        return "\n".join(lines[start:])

    return {
        "run": run,
        "record_s": stored["seconds"],
        "record_calls": stored["calls"],
        "job_thread": top(job_profile, "cumulative", 18),
        "loop_thread_cum": top(loop_profile, "cumulative", 22),
        "loop_thread_tot": top(loop_profile, "tottime", 18),
    }


# Main -----------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def main() -> None:
    began = time.monotonic()
    notes: list[str] = []
    keys = (
        "one",
        "fifty",
        "cold_one",
        "cold_fifty",
        "bare_one",
        "bare_fifty",
        "reused_one",
        "reused_fifty",
    )
    runs: dict[str, list[Run]] = {key: [] for key in keys}
    work = Path(tempfile.mkdtemp(prefix="devflow-bench-collect-"))
    work.chmod(0o755)  # sshd reads authorized_keys below it
    inventory: Inventory | None = None
    profile: dict[str, Any] = {}
    script_cpu: float | None = None
    try:
        say(f"scratch folder {work}")
        inventory = start_sshds(work, HOSTS)
        pids = sshd_pids(inventory)
        say(f"{len(pids)} sshd processes, {HOSTS} hosts on 127.0.0.2-{1 + HOSTS}")
        data_dir = work / "data"
        prepare_data_dir(data_dir, work)
        setup_django(data_dir)
        no_broker()
        server_ids = create_servers(inventory)
        say(f"DevFlow data dir {data_dir}: {len(server_ids)} servers, host keys pinned")

        say("warm-up (not measured): collect N=50 (fills the pool), bare asyncssh N=50")
        warm = collect_run(server_ids, pids)
        if warm.problem:
            raise RuntimeError(f"warm-up collection failed: {warm.problem}")
        say(f"  warm-up collect N=50: {warm.seconds:.3f} s, {warm.opened} connections opened")
        bare_asyncssh_run(inventory, HOSTS, pids)

        def record(key: str, run: Run) -> None:
            if run.problem:
                notes.append(f"{key} not counted: {run.problem}")
                say(f"  {key:<12} FAILED: {run.problem}")
                return
            runs[key].append(run)
            say(
                f"  {key:<12} {run.seconds:7.3f} s   client CPU {run.client_cpu:6.3f} s"
                f"   sshd CPU {run.server_cpu:6.3f} s   connections opened {run.opened}"
            )

        for number in range(1, RUNS + 1):
            say(f"run {number}/{RUNS}")
            # The first server rotates, so N=1 is not always the same (cached) host.
            one_id = server_ids[(number - 1) % len(server_ids)]
            record("cold_one", cold_run([one_id], pids))
            record("cold_fifty", cold_run(server_ids, pids))  # leaves all 50 kept: warm again
            record("one", warm_run([one_id], pids))
            record("fifty", warm_run(server_ids, pids))
            record("bare_one", bare_asyncssh_run(inventory, 1, pids))
            record("bare_fifty", bare_asyncssh_run(inventory, HOSTS, pids))

        reused = bare_reused_runs(inventory, pids, RUNS)
        for name, measured in reused.items():
            good = [run for run in measured if not run.problem]
            if len(good) != len(measured):
                notes.append(f"reused connections, {name}: {len(measured) - len(good)} failed")
            runs[f"reused_{name}"] = good
        say(
            f"bare asyncssh over kept connections (diagnostic): N=1 "
            f"{median([r.seconds for r in runs['reused_one']])} s, N={HOSTS} "
            f"{median([r.seconds for r in runs['reused_fifty']])} s (medians)"
        )
        script_cpu = local_script_cpu()
        say(f"the collection command run locally: {1000 * script_cpu:.1f} ms CPU per run")
        say("profile (not measured): warm collect N=50 under cProfile")
        profile = profile_run(server_ids, pids)
    finally:
        with contextlib.suppress(Exception):
            kept_pool().close_all()
        stop_sshds(inventory)
        with contextlib.suppress(OSError):
            shutil.rmtree(work, ignore_errors=True)

    def med(key: str, field: str = "seconds") -> float | None:
        return median([getattr(run, field) for run in runs[key]])

    one_s, fifty_s = med("one"), med("fifty")
    cold_one_s, cold_fifty_s = med("cold_one"), med("cold_fifty")
    bare_one_s, bare_fifty_s = med("bare_one"), med("bare_fifty")
    ratio_vs_one = ratio(fifty_s, one_s)
    failed = sum(1 for note in notes if "not counted" in note and "reused" not in note)
    meets = ratio_vs_one is not None and ratio_vs_one <= TARGET_RATIO and failed == 0
    fifty_client, fifty_server = med("fifty", "client_cpu"), med("fifty", "server_cpu")
    cpu_share = (
        round((fifty_client + fifty_server) / (2 * fifty_s), 2)
        if fifty_s and fifty_client is not None and fifty_server is not None
        else None
    )
    cpu_floor = (
        round((fifty_client + fifty_server) / 2, 3)
        if fifty_client is not None and fifty_server is not None
        else None
    )

    def per_host_ms(value: float | None) -> float | None:
        return round(1000 * value / HOSTS, 1) if value is not None else None

    def seconds_of(key: str) -> list[float]:
        return [round(run.seconds, 4) for run in runs[key]]

    prof_run: Run | None = profile.get("run")
    result: dict[str, Any] = {
        "one_s": one_s,
        "fifty_s": fifty_s,
        "ratio_vs_one": ratio_vs_one,
        "measured": "warm: SSH connections kept from the previous tick (steady state)",
        "target": f"ratio_vs_one <= {TARGET_RATIO:g}",
        "meets_target": meets,
        "cold_one_s": cold_one_s,
        "cold_fifty_s": cold_fifty_s,
        "cold_ratio": ratio(cold_fifty_s, cold_one_s),
        "cold_fifty_vs_one_s": ratio(cold_fifty_s, one_s),
        "warm_vs_cold_fifty": ratio(fifty_s, cold_fifty_s),
        "warm_connections_opened": sum(run.opened for run in runs["one"] + runs["fifty"]),
        "one_s_runs": seconds_of("one"),
        "fifty_s_runs": seconds_of("fifty"),
        "cold_one_s_runs": seconds_of("cold_one"),
        "cold_fifty_s_runs": seconds_of("cold_fifty"),
        "bare_asyncssh_one_s": bare_one_s,
        "bare_asyncssh_fifty_s": bare_fifty_s,
        "bare_asyncssh_ratio": ratio(bare_fifty_s, bare_one_s),
        "cold_fifty_vs_bare_asyncssh": ratio(cold_fifty_s, bare_fifty_s),
        "bare_asyncssh_one_s_runs": seconds_of("bare_one"),
        "bare_asyncssh_fifty_s_runs": seconds_of("bare_fifty"),
        "reused_connections_one_s": med("reused_one"),
        "reused_connections_fifty_s": med("reused_fifty"),
        "reused_connections_ratio": ratio(med("reused_fifty"), med("reused_one")),
        "fifty_vs_reused_connections": ratio(fifty_s, med("reused_fifty")),
        "cpu_s": {
            key: {"client": med(key, "client_cpu"), "sshd": med(key, "server_cpu")} for key in keys
        },
        "fifty_cpu_share_of_2_cores": cpu_share,
        "cpu_floor_fifty_s": cpu_floor,
        "cpu_floor_ratio_vs_one": ratio(cpu_floor, one_s),
        "client_cpu_ms_per_host": per_host_ms(fifty_client),
        "cold_client_cpu_ms_per_host": per_host_ms(med("cold_fifty", "client_cpu")),
        "bare_client_cpu_ms_per_host": per_host_ms(med("bare_fifty", "client_cpu")),
        "sshd_cpu_ms_per_host": per_host_ms(fifty_server),
        "cold_sshd_cpu_ms_per_host": per_host_ms(med("cold_fifty", "server_cpu")),
        "script_cpu_ms_local": round(1000 * script_cpu, 1) if script_cpu is not None else None,
        "profile_fifty_s": round(prof_run.seconds, 3) if prof_run else None,
        "profile_record_s": round(profile.get("record_s", 0.0), 3) if profile else None,
        "runs": len(runs["fifty"]),
        "hosts": HOSTS,
        "kex": KEX,
        "runtime_s": round(time.monotonic() - began, 1),
        "notes": notes,
    }
    if profile:
        say()
        say(f"profile run: {prof_run.seconds if prof_run else 0:.3f} s (slowed by cProfile)")
        say(
            f"  services.record: {profile['record_calls']} calls, {profile['record_s']:.3f} s "
            "in the job thread (storing samples)"
        )
        say("  job thread, by cumulative time:")
        say(profile["job_thread"])
        say("  pool event-loop thread, by cumulative time:")
        say(profile["loop_thread_cum"])
        say("  pool event-loop thread, by own time:")
        say(profile["loop_thread_tot"])
    say()
    say(f"medians of {result['runs']} run(s), `monitoring.collect`, {KEX}:")
    say(f"  DevFlow collect, warm (kept connections), N=1   {one_s} s")
    say(f"  DevFlow collect, warm (kept connections), N={HOSTS}  {fifty_s} s")
    say(f"  DevFlow collect, cold (new connections),  N=1   {cold_one_s} s")
    say(
        f"  DevFlow collect, cold (new connections),  N={HOSTS}  {cold_fifty_s} s "
        f"(ratio {result['cold_ratio']})"
    )
    say(f"  bare asyncssh, new connections, N=1 {bare_one_s} s, N={HOSTS} {bare_fifty_s} s")
    say(
        f"  bare asyncssh, connections kept open (diagnostic): N=1 "
        f"{result['reused_connections_one_s']} s, N={HOSTS} {result['reused_connections_fifty_s']}"
        f" s (ratio {result['reused_connections_ratio']})"
    )
    say(
        f"  warm N={HOSTS} CPU: client {fifty_client} s + sshd {fifty_server} s "
        f"= {cpu_share} of 2 cores over the wall time"
    )
    say(
        f"  per host, warm: client {result['client_cpu_ms_per_host']} ms, sshd "
        f"{result['sshd_cpu_ms_per_host']} ms; cold: client "
        f"{result['cold_client_cpu_ms_per_host']} ms, sshd {result['cold_sshd_cpu_ms_per_host']}"
        f" ms (the command alone, run locally: {result['script_cpu_ms_local']} ms)"
    )
    say(f"  connections opened by the warm runs: {result['warm_connections_opened']}")
    say(
        f"  target ratio_vs_one <= {TARGET_RATIO:g} (warm): {ratio_vs_one} -> "
        f"{'met' if meets else 'MISSED'} (cold: {result['cold_ratio']}, bare asyncssh: "
        f"{result['bare_asyncssh_ratio']})"
    )
    say(json.dumps(result))


if __name__ == "__main__":
    main()
