"""Fan-out: one bulk action (`uptime`) on 1, 10, 50 and 100 servers through DevFlow Pro.

Run from the project root with the project's interpreter:

    .venv/bin/python bench/fanout.py

What it does:
  * starts 7 private sshd processes on loopback addresses 127.0.0.2 .. 127.0.0.101 (100
    "hosts", at most 16 ListenAddress lines per sshd), key-only, one host key per sshd, one
    ed25519 client key, `SetEnv SHLVL=1` (no rc file on the remote shell); they are stopped at
    the end, on error too;
  * sets Django up on a fresh temporary data directory (SQLite, embedded defaults), creates a
    user (and their team), imports the client key and one Server row per host with its host key
    pinned (no first-contact path);
  * times DevFlow from `start_bulk_run(..., "run_command", {"command": "uptime"})` to the end of
    `execute_job(run.job_id)` in this process (the broker is replaced by a no-op: the job runs
    here, as a worker would run it), i.e. enqueue -> every BulkResult recorded, and checks every
    result succeeded with "load average" in its output; N = 1, 10, 50, 100;
  * measures the worker's peak memory: the N = 100 run again in a child process that is set up
    as a worker (Django, the Celery app and every job kind imported) and runs the job there;
    the child reports its own peak RSS (getrusage ru_maxrss), cross-checked by psutil polling;
  * measures the baselines in the same run, on the same 100 hosts, every client on
    curve25519-sha256: a bare asyncssh gather script (whole process), `parallel-ssh -p 100`,
    Ansible ad-hoc `-m raw -f 100` (ansible-core in a throw-away venv under /tmp), and one
    plain `ssh` to one host (the floor). Each baseline is checked on every host.

Figures are medians of RUNS runs (interleaved, after one unmeasured warm-up pass). The LAST
line is one JSON object (see /work/shared/BENCHMARKS.md); a baseline that could not run is
null, with the reason in `notes`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from _sshd import Inventory, start_sshds, stop_sshds

RUNS = 3
SIZES = (1, 10, 50, 100)
HOSTS = 100
KEX = "curve25519-sha256"
COMMAND = "uptime"
EXPECT = "load average"
TIME_BUDGET_S = 480.0  # stop adding runs beyond this (the whole script must stay < 10 min)
TARGETS = {
    "ratio_vs_asyncssh_n100": ("<=", 1.25),
    "ratio_vs_pssh_n100": ("<", 1.0),
    "ratio_vs_ansible_n100": ("<", 0.5),
    "worker_peak_mb": ("<", 150.0),
}
ANSIBLE_VENV = Path(tempfile.gettempdir()) / "devflow-bench-ansible"
MB = 1024 * 1024
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

ASYNCSSH_SCRIPT = '''\
"""Bare asyncssh baseline: connect to every host at once, run one command, gather."""
import asyncio
import json
import sys

import asyncssh


async def one(host, port, key, command):
    async with asyncssh.connect(
        host, port=port, username="root", client_keys=[key], known_hosts=None,
        kex_algs=["curve25519-sha256"], config=None, agent_path=None,
    ) as connection:
        result = await connection.run(command, check=False)
        return result.stdout


async def main():
    hosts = json.loads(open(sys.argv[1]).read())
    key = asyncssh.read_private_key(sys.argv[2])
    outputs = await asyncio.gather(
        *(one(host, port, key, sys.argv[3]) for host, port in hosts), return_exceptions=True
    )
    ok = sum(1 for out in outputs if isinstance(out, str) and "load average" in out)
    errors = [repr(out) for out in outputs if isinstance(out, BaseException)]
    print(json.dumps({"ok": ok, "errors": errors[:3]}))


asyncio.run(main())
'''


def say(message: str = "") -> None:
    print(message, flush=True)


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


# DevFlow --------------------------------------------------------------------------------------


def setup_django(data_dir: Path) -> None:
    for name in SCALE_OUT_VARS:
        os.environ.pop(name, None)
    os.environ["DEVFLOW_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "devflow.settings"
    import django

    django.setup()


def prepare_devflow(inventory: Inventory) -> dict[str, Any]:
    """Migrate, create the key file, a user (and team), the key and one Server per host."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from devflow.accounts.services import create_user
    from devflow.core.crypto import ensure_keys

    ensure_keys()
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
    return {"user_id": user.pk, "server_ids": [server.pk for server in servers]}


def no_broker() -> None:
    """The job runs in this process: sending it to Celery would be a second run."""
    import devflow.core.jobs

    def send_to_queue(job: Any) -> None:
        return None

    devflow.core.jobs.send_to_queue = send_to_queue


def devflow_run(state: dict[str, Any], count: int) -> tuple[float, str]:
    """Enqueue the bulk action on `count` servers and run its job; return (seconds, problem)."""
    from devflow.accounts.models import User
    from devflow.core.jobs import execute_job
    from devflow.servers.bulk import start_bulk_run
    from devflow.servers.models import BulkResult, BulkResultStatus, Server

    user = User.objects.get(pk=state["user_id"])
    team = user.last_team
    by_id = Server.objects.in_bulk(state["server_ids"][:count])
    servers = [by_id[pk] for pk in state["server_ids"][:count]]
    started = time.perf_counter()
    run = start_bulk_run(user, team, servers, "run_command", {"command": COMMAND})
    assert run.job_id is not None
    status = execute_job(run.job_id)
    seconds = time.perf_counter() - started
    rows = list(BulkResult.objects.filter(run=run).values("status", "output", "error"))
    good = sum(
        1 for row in rows if row["status"] == BulkResultStatus.SUCCEEDED and EXPECT in row["output"]
    )
    if status != "succeeded" or good != count or len(rows) != count:
        bad = [row for row in rows if row["status"] != BulkResultStatus.SUCCEEDED][:1]
        return seconds, f"job {status}, {good}/{count} results ok; e.g. {bad}"
    return seconds, ""


def devflow_only(count: int, state_file: Path) -> None:
    """Child mode: a worker-like process (Django, Celery app, job kinds) runs one bulk job."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "devflow.settings"
    import django

    django.setup()
    # Every job kind and the Celery app/task, as `devflow worker` loads them.
    import devflow.core.jobs_registry
    import devflow.core.tasks  # noqa: F401

    no_broker()
    state = json.loads(state_file.read_text())
    seconds, problem = devflow_run(state, count)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "problem": problem, "peak_mb": peak}), flush=True)


def worker_subprocess(count: int, state_file: Path) -> tuple[float | None, float, float, str]:
    """Run the child; return (its seconds, its own peak RSS MB, polled peak RSS MB, problem)."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--devflow-only", str(count), "--state", str(state_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    polled = {"peak": 0.0}
    done = threading.Event()

    def poll() -> None:
        with contextlib.suppress(psutil.Error):
            watched = psutil.Process(process.pid)
            while not done.is_set():
                polled["peak"] = max(polled["peak"], watched.memory_info().rss / MB)
                time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        out, err = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    done.set()
    poller.join()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        return None, 0.0, polled["peak"], f"worker exited {process.returncode}: {err[-800:]}"
    report = json.loads(lines[-1])
    return report["seconds"], report["peak_mb"], polled["peak"], report["problem"]


# Baselines ------------------------------------------------------------------------------------


def timed(argv: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    started = time.perf_counter()
    completed = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    return time.perf_counter() - started, completed


def asyncssh_baseline(work: Path, inventory: Inventory) -> tuple[float, str]:
    script, hosts = work / "asyncssh_gather.py", work / "hosts.json"
    if not script.exists():
        script.write_text(ASYNCSSH_SCRIPT)
        hosts.write_text(json.dumps([[h.address, h.port] for h in inventory.hosts]))
    seconds, done = timed(
        [sys.executable, str(script), str(hosts), str(inventory.client_key), COMMAND]
    )
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return seconds, f"asyncssh script failed: {done.stderr[-500:]}"
    if report["ok"] != HOSTS:
        return seconds, f"asyncssh: {report['ok']}/{HOSTS} ok, e.g. {report['errors']}"
    return seconds, ""


def ensure_pssh() -> str:
    """The path of parallel-ssh, installing Debian's pssh if missing; '' if impossible."""
    found = shutil.which("parallel-ssh")
    if found:
        return found
    say("parallel-ssh missing: apt-get install -y pssh")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            ["apt-get", "-o", "DPkg::Lock::Timeout=120", "install", "-y", "pssh"],
            capture_output=True,
            timeout=240,
            check=False,
        )
    return shutil.which("parallel-ssh") or ""


SSH_OPTIONS = [
    f"KexAlgorithms={KEX}",
    "StrictHostKeyChecking=no",
    "UserKnownHostsFile=/dev/null",
    "IdentitiesOnly=yes",
    "BatchMode=yes",
    "LogLevel=ERROR",
]


def pssh_baseline(work: Path, inventory: Inventory, binary: str, run: int) -> tuple[float, str]:
    hosts = work / "pssh_hosts"
    hosts.write_text("".join(f"root@{h.address}:{h.port}\n" for h in inventory.hosts))
    out = work / f"pssh-out-{run}"
    argv = [binary, "-h", str(hosts), "-p", str(HOSTS), "-t", "60", "-o", str(out)]
    for option in SSH_OPTIONS:
        argv += ["-O", option]
    argv += ["-x", f"-F /dev/null -i {inventory.client_key}", COMMAND]
    seconds, done = timed(argv)
    ok = sum(1 for f in out.glob("*") if EXPECT in f.read_text(errors="replace"))
    successes = done.stdout.count("[SUCCESS]")
    if ok != HOSTS or successes != HOSTS:
        return seconds, f"pssh: {ok}/{HOSTS} outputs, {successes} SUCCESS; {done.stdout[-300:]}"
    return seconds, ""


def ensure_ansible() -> tuple[str, str]:
    """ansible in a throw-away venv under /tmp (never the project's venv); (path, problem)."""
    binary = ANSIBLE_VENV / "bin" / "ansible"
    if binary.exists():
        return str(binary), ""
    say(f"installing ansible-core into {ANSIBLE_VENV} ...")
    try:
        subprocess.run(
            ["python3", "-m", "venv", str(ANSIBLE_VENV)], capture_output=True, check=True
        )
        subprocess.run(
            [str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"],
            capture_output=True,
            check=True,
            timeout=300,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return "", f"could not install ansible-core into {ANSIBLE_VENV}: {exc}"
    return (str(binary), "") if binary.exists() else ("", "ansible-core installed no binary")


def kill_ssh_masters(marker: str) -> None:
    """Ansible's ControlPersist masters outlive the run: stop ours (matched by our temp path)."""
    for process in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(marker in part for part in process.info["cmdline"] or []):
                process.kill()


def ansible_baseline(work: Path, inventory: Inventory, binary: str, run: int) -> tuple[float, str]:
    inventory_file = work / "ansible_inventory.ini"
    common = " ".join(f"-o {o}" for o in SSH_OPTIONS)
    lines = ["[bench]"] + [
        f"h{n} ansible_host={h.address} ansible_port={h.port} ansible_user=root"
        for n, h in enumerate(inventory.hosts)
    ]
    lines += [
        "[bench:vars]",
        f"ansible_ssh_common_args='{common}'",
        f"ansible_ssh_private_key_file={inventory.client_key}",
    ]
    inventory_file.write_text("\n".join(lines) + "\n")
    home = work / f"ansible-home-{run}"  # fresh ControlPath folder: no reused master
    home.mkdir()
    env = {
        **os.environ,
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(home / "cp"),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_CONFIG": str(work / "no-ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
    }
    argv = [binary, "bench", "-i", str(inventory_file), "-m", "raw", "-a", COMMAND]
    argv += ["-f", str(HOSTS)]
    try:
        seconds, done = timed(argv, env=env, timeout=180)
    finally:
        kill_ssh_masters(str(home))
    ok = done.stdout.count("rc=0 >>")
    loads = done.stdout.count(EXPECT)
    if ok != HOSTS or loads != HOSTS:
        return seconds, f"ansible: {ok}/{HOSTS} rc=0, {loads} outputs; {done.stdout[-300:]}"
    return seconds, ""


def floor_run(inventory: Inventory) -> tuple[float, str]:
    host = inventory.hosts[0]
    argv = ["ssh", "-F", "/dev/null", "-i", str(inventory.client_key), "-p", str(host.port)]
    for option in SSH_OPTIONS:
        argv += ["-o", option]
    seconds, done = timed([*argv, f"root@{host.address}", COMMAND])
    if done.returncode != 0 or EXPECT not in done.stdout:
        return seconds, f"ssh floor failed: {done.stderr[-300:]}"
    return seconds, ""


# Main -----------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def main() -> None:
    began = time.monotonic()
    notes: list[str] = []
    samples: dict[str, list[float]] = {
        key: []
        for key in [
            *(f"devflow_s_n{n}" for n in SIZES),
            "asyncssh_s_n100",
            "pssh_s_n100",
            "ansible_s_n100",
            "floor_s",
            "worker_devflow_s_n100",
        ]
    }
    worker_peaks: list[float] = []
    polled_peaks: list[float] = []
    work = Path(tempfile.mkdtemp(prefix="devflow-bench-fanout-"))
    work.chmod(0o755)  # sshd reads authorized_keys below it
    inventory: Inventory | None = None
    runs_done = 0
    try:
        say(f"scratch folder {work}")
        inventory = start_sshds(work, HOSTS)
        ports = sorted({h.port for h in inventory.hosts})
        say(f"{len(inventory.pid_files)} sshd processes, {HOSTS} hosts, ports {ports}")
        data_dir = work / "data"
        setup_django(data_dir)
        state = prepare_devflow(inventory)
        state_file = work / "state.json"
        state_file.write_text(json.dumps(state))
        no_broker()
        say(f"DevFlow data dir {data_dir}: {HOSTS} servers, host keys pinned")

        pssh, pssh_problem = ensure_pssh(), ""
        if not pssh:
            pssh_problem = "parallel-ssh is not installed and `apt-get install pssh` failed"
            notes.append(pssh_problem)
        ansible, ansible_problem = ensure_ansible()
        if ansible_problem:
            notes.append(ansible_problem)

        say("warm-up (not measured): DevFlow N=100, one ssh")
        seconds, problem = devflow_run(state, HOSTS)
        if problem:
            raise RuntimeError(f"DevFlow warm-up failed: {problem}")
        say(f"  warm-up DevFlow N=100: {seconds:.3f} s")
        floor_run(inventory)

        def record(key: str, outcome: tuple[float | None, str]) -> None:
            seconds, problem = outcome
            if problem or seconds is None:
                notes.append(f"run {run}, {key} not counted: {problem}")
                say(f"  {key:<24} FAILED: {problem}")
                return
            samples[key].append(seconds)
            say(f"  {key:<24} {seconds:7.3f} s")

        for run in range(1, RUNS + 1):
            if run > 1 and time.monotonic() - began > TIME_BUDGET_S:
                notes.append(f"time budget reached: medians of {runs_done} run(s), not {RUNS}")
                break
            say(f"run {run}/{RUNS}")
            for count in SIZES:
                record(f"devflow_s_n{count}", devflow_run(state, count))
            record("asyncssh_s_n100", asyncssh_baseline(work, inventory))
            if pssh:
                record("pssh_s_n100", pssh_baseline(work, inventory, pssh, run))
            if ansible:
                record("ansible_s_n100", ansible_baseline(work, inventory, ansible, run))
            record("floor_s", floor_run(inventory))
            child_s, peak, polled, problem = worker_subprocess(HOSTS, state_file)
            record("worker_devflow_s_n100", (child_s, problem))
            worker_peaks.append(peak)
            polled_peaks.append(polled)
            say(f"  {'worker peak RSS':<24} {peak:7.1f} MB (ru_maxrss; psutil poll {polled:.1f})")
            runs_done = run
    finally:
        stop_sshds(inventory)
        with contextlib.suppress(OSError):
            shutil.rmtree(work, ignore_errors=True)

    figures: dict[str, Any] = {key: median(values) for key, values in samples.items()}
    n100 = figures["devflow_s_n100"]
    result: dict[str, Any] = {
        **{f"devflow_s_n{n}": figures[f"devflow_s_n{n}"] for n in SIZES},
        "asyncssh_s_n100": figures["asyncssh_s_n100"],
        "pssh_s_n100": figures["pssh_s_n100"],
        "ansible_s_n100": figures["ansible_s_n100"],
        "floor_s": figures["floor_s"],
        "ratio_vs_asyncssh_n100": ratio(n100, figures["asyncssh_s_n100"]),
        "ratio_vs_pssh_n100": ratio(n100, figures["pssh_s_n100"]),
        "ratio_vs_ansible_n100": ratio(n100, figures["ansible_s_n100"]),
        "worker_peak_mb": round(max(worker_peaks), 1) if worker_peaks else None,
    }
    met: dict[str, bool] = {}
    for key, (op, limit) in TARGETS.items():
        value = result[key]
        met[key] = value is not None and (value <= limit if op == "<=" else value < limit)
    result.update(
        {
            "targets": {key: f"{op} {limit:g}" for key, (op, limit) in TARGETS.items()},
            "targets_detail": met,
            "targets_met": all(met.values()),
            "worker_devflow_s_n100": figures["worker_devflow_s_n100"],
            "worker_peak_mb_polled": round(max(polled_peaks), 1) if polled_peaks else None,
            "runs": runs_done,
            "samples": {key: [round(v, 3) for v in values] for key, values in samples.items()},
            "worker_peak_mb_runs": [round(v, 1) for v in worker_peaks],
            "runtime_s": round(time.monotonic() - began, 1),
            "kex": KEX,
            "notes": notes,
        }
    )
    say()
    say(f"medians of {runs_done} run(s), N = {HOSTS} hosts unless noted, `{COMMAND}`, {KEX}:")
    for n in SIZES:
        say(f"  DevFlow bulk action N={n:<3}     {result[f'devflow_s_n{n}']} s")
    say(f"  bare asyncssh gather (process) {result['asyncssh_s_n100']} s")
    say(f"  parallel-ssh -p 100            {result['pssh_s_n100']} s")
    say(f"  ansible -m raw -f 100          {result['ansible_s_n100']} s")
    say(f"  one plain ssh (floor)          {result['floor_s']} s")
    say(f"  worker peak RSS                {result['worker_peak_mb']} MB")
    for key, ok in met.items():
        say(
            f"  target {key} {result['targets'][key]}: {result[key]} -> {'met' if ok else 'MISSED'}"
        )
    say(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devflow-only", type=int, metavar="N", help="child mode (internal)")
    parser.add_argument("--state", type=Path, help="child mode: the state file")
    arguments = parser.parse_args()
    if arguments.devflow_only:
        devflow_only(arguments.devflow_only, arguments.state)
    else:
        main()
