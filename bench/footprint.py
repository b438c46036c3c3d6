"""Footprint of `devflow up`: time to the first /readyz 200 and summed RSS at idle.

Run from the project root with the project's interpreter:

    .venv/bin/python bench/footprint.py

Each run starts `devflow up` on a fresh temporary data directory and a free loopback
port (embedded defaults: DATABASE_URL and REDIS_URL are removed from the environment),
times spawn -> first 200 from /readyz, waits ~5 s idle, sums the RSS of the supervisor
and every descendant, then sends SIGTERM to the supervisor and checks the whole tree is
gone within 20 s. The start is repeated RUNS times; the median is reported.

Baselines measured in the same run (the machine is noisy; ratios hold, absolute times
do not):
  * bare Python: `python -c "print('ready')"`-style interpreter, time to its first line
    and its idle RSS;
  * Django setup: a process doing `django.setup()` with devflow's settings, same figures.

The LAST line is one JSON object (see BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from _env import clean_env, free_port, say

RUNS = 3
POLL_SECONDS = 0.05
READY_TIMEOUT_SECONDS = 60.0
IDLE_SECONDS = 5.0
STOP_TIMEOUT_SECONDS = 20.0
TARGET_READY_S = 10
TARGET_RSS_MB = 350
MB = 1024 * 1024
EXPECTED_CHILDREN = {"devflow web", "devflow worker"}
RESTART_RE = re.compile(r"\[devflow\] \w+ exited with status")
ERROR_RE = re.compile(r"^[A-Z][A-Za-z.]*(Error|Exception|Option|Exit)[A-Za-z]*: ")

# Environment variables that would switch away from the embedded defaults.


def devflow_command() -> list[str]:
    script = Path(sys.executable).with_name("devflow")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "devflow"]


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def describe(proc: psutil.Process) -> str:
    """A readable name: `devflow web`, `devflow up`, ... from the command line."""
    try:
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return f"pid {proc.pid}"
    for i, arg in enumerate(cmdline):
        if arg == "devflow" and cmdline[i - 1] == "-m" and i + 1 < len(cmdline):
            return f"devflow {cmdline[i + 1]}"
        if Path(arg).name == "devflow" and i + 1 < len(cmdline):
            return f"devflow {cmdline[i + 1]}"
    return " ".join(cmdline)[:60] or proc.name()


def tree_memory(root: psutil.Process) -> list[tuple[str, int, int, float, float]]:
    """(name, pid, threads, rss MB, pss MB) for the root and every descendant."""
    rows = []
    for proc in [root, *root.children(recursive=True)]:
        try:
            with proc.oneshot():
                rss = proc.memory_info().rss
                threads = proc.num_threads()
                try:
                    pss = getattr(proc.memory_full_info(), "pss", 0)
                except (psutil.AccessDenied, psutil.ZombieProcess):
                    pss = 0
            rows.append((describe(proc), proc.pid, threads, rss / MB, pss / MB))
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return rows


def run_once(number: int) -> dict[str, Any]:
    """Start `devflow up`, measure it, stop it; return the figures of this run."""
    workdir = Path(tempfile.mkdtemp(prefix="devflow-footprint-"))
    data_dir = workdir / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}/readyz"
    log_path = workdir / "up.log"
    command = [*devflow_command(), "up", "--host", "127.0.0.1", "--port", str(port)]
    say(f"run {number}: {' '.join(command)}  (data dir {data_dir})")
    result: dict[str, Any] = {"run": number}
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command,
            env=clean_env(data_dir),
            # A scratch working directory: nothing the processes write relative to
            # their cwd ends up in the checkout.
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        tree: list[psutil.Process] = []
        try:
            ready_s = None
            last_status = None
            deadline = started + READY_TIMEOUT_SECONDS
            while time.perf_counter() < deadline:
                if proc.poll() is not None:
                    break
                last_status = http_status(url)
                if last_status == 200:
                    ready_s = time.perf_counter() - started
                    break
                time.sleep(POLL_SECONDS)
            if ready_s is None:
                say(f"  NOT READY (last /readyz status {last_status}, exit {proc.poll()})")
                say("  --- output of devflow up ---")
                say(log_path.read_text(errors="replace")[-4000:])
                result.update(ready_s=None, rss_mb=None, clean_exit=False)
                return result
            say(f"  ready after {ready_s:.2f} s (first 200 from /readyz)")
            result["ready_s"] = ready_s

            time.sleep(IDLE_SECONDS)
            root = psutil.Process(proc.pid)
            rows = tree_memory(root)
            total_rss = sum(r[3] for r in rows)
            total_pss = sum(r[4] for r in rows)
            say(f"  processes after {IDLE_SECONDS:.0f} s idle:")
            for name, pid, threads, rss, pss in rows:
                say(
                    f"    {name:<20} pid {pid:<7} threads {threads:<3} RSS {rss:7.1f} MB"
                    f"  PSS {pss:7.1f} MB"
                )
            say(
                f"    {'total':<20} {len(rows)} processes"
                f"{'':<10}RSS {total_rss:7.1f} MB  PSS {total_pss:7.1f} MB"
            )
            result.update(
                rss_mb=total_rss,
                pss_mb=total_pss,
                processes={name: round(rss, 1) for name, _, _, rss, _ in rows},
            )
            # A child that crashed at start is missing from the sum: say so loudly.
            missing = sorted(EXPECTED_CHILDREN - {r[0] for r in rows})
            output = log_path.read_text(errors="replace")
            restarts = len(RESTART_RE.findall(output))
            result.update(missing=missing, child_restarts=restarts)
            if missing or restarts:
                say(
                    f"  WARNING: missing {missing or 'none'}, {restarts} child restart(s);"
                    " the RSS above does not cover a complete `devflow up`. Errors seen:"
                )
                seen = []
                for line in output.splitlines():
                    if (ERROR_RE.match(line) or RESTART_RE.search(line)) and line not in seen:
                        seen.append(line)
                for line in seen[:10]:
                    say(f"    | {line}")
            tree = [root, *root.children(recursive=True)]
        finally:
            stop_started = time.perf_counter()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            code: int | None
            try:
                code = proc.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                code = None
            stop_s = time.perf_counter() - stop_started
            leftovers = []
            for child in tree[1:]:
                try:
                    if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                        leftovers.append(f"{describe(child)} (pid {child.pid})")
                except psutil.NoSuchProcess:
                    pass
            if code is None or leftovers:
                # Clean up what we started: the session we created for it, by its id.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            clean = code == 0 and not leftovers
            result.update(stop_s=stop_s, exit_code=code, clean_exit=clean)
            if "ready_s" in result:
                detail = f"exit status {code}" if code is not None else "did NOT exit"
                if leftovers:
                    detail += f"; still running: {', '.join(leftovers)}"
                say(
                    f"  SIGTERM -> stopped in {stop_s:.2f} s, {detail}: "
                    f"{'clean' if clean else 'NOT CLEAN'}"
                )
                if not clean:
                    say("  --- output of devflow up ---")
                    say(log_path.read_text(errors="replace")[-4000:])
            shutil.rmtree(workdir, ignore_errors=True)
    return result


BARE_PYTHON = "import sys; print('ready', flush=True); sys.stdin.read()"
DJANGO_SETUP = (
    "import os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'devflow.settings'); "
    "import django; django.setup(); print('ready', flush=True); sys.stdin.read()"
)


def baseline(code: str, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Spawn `python -c code`; time to its 'ready' line and its RSS after a short idle."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - started
        if line.strip() != b"ready":
            raise RuntimeError(f"baseline process said {line!r}")
        time.sleep(1.0)
        rss = psutil.Process(proc.pid).memory_info().rss / MB
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
    return elapsed, rss


def measure_baselines() -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="devflow-footprint-base-"))
    env = clean_env(workdir / "data")
    bare, django = [], []
    try:
        for _ in range(RUNS):
            bare.append(baseline(BARE_PYTHON, env, workdir))
            django.append(baseline(DJANGO_SETUP, env, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures = {
        "bare_python_start_s": statistics.median(t for t, _ in bare),
        "bare_python_rss_mb": statistics.median(r for _, r in bare),
        "django_setup_start_s": statistics.median(t for t, _ in django),
        "django_setup_rss_mb": statistics.median(r for _, r in django),
    }
    say(
        f"baseline bare python:  start {figures['bare_python_start_s']:.3f} s, "
        f"RSS {figures['bare_python_rss_mb']:.1f} MB  (median of {RUNS})"
    )
    say(
        f"baseline django.setup(): start {figures['django_setup_start_s']:.3f} s, "
        f"RSS {figures['django_setup_rss_mb']:.1f} MB  (median of {RUNS})"
    )
    return figures


def main() -> int:
    say(
        f"footprint of `devflow up`, {RUNS} runs, python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs"
    )
    base = measure_baselines()
    say()
    runs = [run_once(n) for n in range(1, RUNS + 1)]
    say()
    ready = [float(r["ready_s"]) for r in runs if r.get("ready_s") is not None]
    rss = [float(r["rss_mb"]) for r in runs if r.get("rss_mb") is not None]
    pss = [float(r["pss_mb"]) for r in runs if r.get("pss_mb") is not None]
    all_started = len(ready) == RUNS
    clean_exits = sum(1 for r in runs if r.get("clean_exit"))
    ready_s = statistics.median(ready) if ready else None
    rss_mb = statistics.median(rss) if rss else None
    pss_mb = statistics.median(pss) if pss else None
    procs = len(runs[0].get("processes", {})) if runs else 0

    def ratio(a: float | None, b: float) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    complete = all_started and all(
        not r.get("missing") and not r.get("child_restarts") for r in runs
    )
    targets_met = (
        ready_s is not None
        and rss_mb is not None
        and ready_s <= TARGET_READY_S
        and rss_mb <= TARGET_RSS_MB
    )
    # `ok` only when the targets are met by a complete `devflow up` (every child running,
    # none restarted, every run ready): a crashed worker would flatter the RSS figure.
    ok = complete and targets_met
    if ready_s is not None and rss_mb is not None:
        say(
            f"median ready_s {ready_s:.2f} s (runs: {', '.join(f'{x:.2f}' for x in ready)}),"
            f" target <= {TARGET_READY_S} s"
        )
        say(
            f"median rss_mb {rss_mb:.1f} MB (runs: {', '.join(f'{x:.1f}' for x in rss)}),"
            f" target <= {TARGET_RSS_MB} MB; PSS {pss_mb:.1f} MB"
        )
    say(f"clean SIGTERM stops: {clean_exits}/{RUNS}")
    say(
        f"ratios: ready vs bare python {ratio(ready_s, base['bare_python_start_s'])}x, "
        f"RSS vs bare python {ratio(rss_mb, base['bare_python_rss_mb'])}x, "
        f"RSS vs {procs} x django.setup() "
        f"{ratio(rss_mb, procs * base['django_setup_rss_mb'])}x"
    )
    if not complete:
        say("INCOMPLETE: a child was missing or restarting (see WARNING lines above)")
    say(f"targets met: {targets_met}; ok (targets met by a complete devflow up): {ok}")
    summary = {
        "ready_s": round(ready_s, 3) if ready_s is not None else None,
        "rss_mb": round(rss_mb, 1) if rss_mb is not None else None,
        "pss_mb": round(pss_mb, 1) if pss_mb is not None else None,
        "target_ready_s": TARGET_READY_S,
        "target_rss_mb": TARGET_RSS_MB,
        "ok": ok,
        "targets_met": targets_met,
        "all_children_running": complete,
        "missing_children": sorted({m for r in runs for m in r.get("missing", [])}),
        "child_restarts": sum(int(r.get("child_restarts", 0)) for r in runs),
        "runs": RUNS,
        "ready_s_runs": [round(x, 3) for x in ready],
        "rss_mb_runs": [round(x, 1) for x in rss],
        "processes": procs,
        "clean_exits": clean_exits,
        "clean_exit": clean_exits == RUNS,
        "bare_python_start_s": round(base["bare_python_start_s"], 4),
        "bare_python_rss_mb": round(base["bare_python_rss_mb"], 1),
        "django_setup_start_s": round(base["django_setup_start_s"], 3),
        "django_setup_rss_mb": round(base["django_setup_rss_mb"], 1),
        "ready_ratio_vs_bare_python": ratio(ready_s, base["bare_python_start_s"]),
        "rss_ratio_vs_bare_python": ratio(rss_mb, base["bare_python_rss_mb"]),
        "ready_ratio_vs_django_setup": ratio(ready_s, base["django_setup_start_s"]),
        "rss_ratio_vs_django_setup_per_process": ratio(rss_mb, procs * base["django_setup_rss_mb"]),
    }
    print(json.dumps(summary), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
