"""Deploy: a ~200-file git repository to a loopback sshd, through DevFlow Pro and by hand.

Run from the project root with the project's interpreter:

    .venv/bin/python bench/deploy.py

What it does:
  * makes a bare git repository (the "origin", fetched by absolute path: the "server" is this
    machine) with FILES small files in a few directories, index.html among them, and a work
    tree that pushes a NEW commit before every deploy, so each deploy really fetches and
    checks out something new;
  * starts one private sshd on 127.0.0.1 (random port, fresh host key, key-only login,
    `SetEnv SHLVL=1`) and stops it at the end, on error too;
  * runs `python -m devflow prepare` on a fresh temporary data directory (embedded defaults:
    SQLite, filesystem broker), sets Django up in this process on the same directory, creates
    a user (and their team), imports the client key, one Server with its host key pinned, and
    a project from the "static" template (smoke check `test -f index.html`) with one no-op
    post-deploy command (`true`), as the floor below has one;
  * starts a real `python -m devflow worker` process (default concurrency) on that data
    directory, and stops it at the end (SIGTERM, then its own process group);
  * DevFlow: `request_deployment(user, environment)` (one transaction; the job is sent to the
    broker when it commits) -> poll the Job row every POLL_S until it reaches a finished
    status. Checked: the job succeeded, the deployment resolved the new commit, and `current`
    points at a release whose REVISION is that commit. Per-step seconds come from
    Deployment.steps; queue wait is Job created_at -> started_at;
  * the floor, in the same run, on the same commit: ONE plain OpenSSH `ssh` session running a
    script that does `git clone --depth 1` (file:// URL, so the depth holds) into a new
    release directory, `ln -s` + `mv -T` of `current`, and a no-op post-deploy command, with
    `-o KexAlgorithms=curve25519-sha256` (what asyncssh, hence DevFlow, negotiates with this
    sshd; see /work/shared/BENCHMARKS.md) and with OpenSSH's default exchange; plus the same
    script run locally with no ssh at all.

Figures are medians of RUNS deploys after WARMUP unmeasured ones (the first clones the
mirror), DevFlow and floors interleaved. The target is devflow_s <= 1.5 x floor_s + 1 with
floor_s on curve25519-sha256. The LAST line is one JSON object (see BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _env import SCALE_OUT_VARS, clean_env, free_port, say

RUNS = 9
WARMUP = 1
FILES = 201  # index.html, VERSION and 199 others in four directories
DIRECTORIES = ("assets/css", "assets/js", "content/posts", "images/icons")
KEX = "curve25519-sha256"
POLL_S = 0.01
DEPLOY_TIMEOUT_S = 120.0
FIRST_DEPLOY_TIMEOUT_S = 180.0  # includes the worker's start
SSHD = "/usr/sbin/sshd"
STEP_KEYS = (
    "connect",
    "fetch",
    "prepare",
    "build",
    "deploy_hooks",
    "smoke",
    "swap",
    "post_deploy",
    "health",
    "purge",
)
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench Developer",
    "GIT_AUTHOR_EMAIL": "bench@example.test",
    "GIT_COMMITTER_NAME": "Bench Developer",
    "GIT_COMMITTER_EMAIL": "bench@example.test",
}

# The floor: what one would type into a deploy script. $1 base, $2 repository URL, $3 release.
FLOOR_SCRIPT = (
    'set -e; base=$1; url=$2; name=$3; rel="$base/releases/$name"; mkdir -p "$base/releases"; '
    'git clone --quiet --depth 1 --branch main -- "$url" "$rel"; '
    'cd "$base"; ln -s "releases/$name" "current.new-$name"; mv -T "current.new-$name" current; '
    'cd current && sh -c "true"'
)
SSH_OPTIONS = [
    "StrictHostKeyChecking=no",
    "UserKnownHostsFile=/dev/null",
    "IdentitiesOnly=yes",
    "BatchMode=yes",
    "LogLevel=ERROR",
]


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


# The repository -----------------------------------------------------------------------------


@dataclass
class Repo:
    bare: Path
    work: Path
    version: int = 0

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_IDENTITY}
        done = subprocess.run(
            ["git", *args], cwd=self.work, env=env, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    def commit(self) -> str:
        """A new commit that changes index.html and VERSION, pushed to the bare repository."""
        self.version += 1
        (self.work / "VERSION").write_text(f"{self.version}\n")
        (self.work / "index.html").write_text(
            f"<!doctype html>\n<title>Bench site</title>\n<h1>Version {self.version}</h1>\n"
        )
        self.git("add", "-A")
        self.git("commit", "-q", "-m", f"Version {self.version}")
        self.git("push", "-q", "origin", "main")
        return self.git("rev-parse", "HEAD")


def make_repo(folder: Path) -> Repo:
    bare, work = folder / "site.git", folder / "site-work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    repo = Repo(bare, work)
    repo.git("remote", "add", "origin", str(bare))
    others = FILES - 2  # index.html and VERSION are written by commit()
    for number in range(others):
        directory = DIRECTORIES[number % len(DIRECTORIES)]
        path = work / directory / f"file-{number:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        # Small, distinct, not compressible to nothing: ~0.5-1.5 KB each.
        body = os.urandom(200 + (number * 37) % 400).hex()
        path.write_text(f"file {number} in {directory}\n{body}\n")
    repo.commit()
    count = len(repo.git("ls-files").splitlines())
    if count != FILES:
        raise RuntimeError(f"the repository has {count} files, expected {FILES}")
    return repo


# sshd ---------------------------------------------------------------------------------------


@dataclass
class Sshd:
    port: int
    username: str
    client_key: Path
    host_public_key: str
    pid_file: Path


def start_sshd(folder: Path) -> Sshd:
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    client_key, host_key = folder / "client_key", folder / "host_key"
    for key in (client_key, host_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    authorized = folder / "authorized_keys"
    shutil.copy(folder / "client_key.pub", authorized)
    authorized.chmod(0o644)
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1:{port}\n"
        f"HostKey {host_key}\n"
        f"PidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n"
        "MaxStartups 200:30:300\nMaxSessions 200\nSetEnv SHLVL=1\n"
    )
    subprocess.run([SSHD, "-t", "-f", str(config)], check=True)
    subprocess.run([SSHD, "-f", str(config), "-E", str(folder / "sshd.log")], check=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port}") from None
            time.sleep(0.05)
    return Sshd(
        port=port,
        username=pwd.getpwuid(os.getuid()).pw_name,
        client_key=client_key,
        host_public_key=(folder / "host_key.pub").read_text().strip(),
        pid_file=folder / "sshd.pid",
    )


def stop_sshd(sshd: Sshd | None) -> None:
    if sshd is None:
        return
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(sshd.pid_file.read_text()), signal.SIGTERM)


# DevFlow --------------------------------------------------------------------------------------


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
class DevFlowState:
    user_id: int
    environment_id: int
    deploy_path: Path


def create_objects(sshd: Sshd, repo: Repo, deploy_path: Path) -> DevFlowState:
    from devflow.accounts.services import create_user
    from devflow.projects import services as project_services
    from devflow.projects.frameworks import hook
    from devflow.projects.models import Project
    from devflow.servers import keys
    from devflow.servers.models import Server

    user = create_user(username="bench", email="bench@example.com", password="bench-" + "x" * 20)
    team = user.last_team
    assert team is not None
    ssh_key = keys.import_key(user, team, "bench key", sshd.client_key.read_text())
    server = Server.objects.create(
        team=team,
        name="loopback",
        host="127.0.0.1",
        port=sshd.port,
        username=sshd.username,
        ssh_key=ssh_key,
        host_key=sshd.host_public_key,
        created_by=user,
    )
    project = project_services.create_project(
        user,
        team,
        project_services.ProjectData(name="Site", repository_url=str(repo.bare), template="static"),
        project_services.EnvironmentData(
            branch="main", servers=[server], deploy_path=str(deploy_path)
        ),
    )
    # The floor runs one no-op post-deploy command: so does DevFlow.
    Project.objects.filter(pk=project.pk).update(post_deploy_commands=[hook("true")])
    environment = project.environments.get()
    return DevFlowState(user.pk, environment.pk, deploy_path)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def start_worker(data_dir: Path, work: Path) -> Worker:
    log_path = work / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devflow", "worker"],
            env=clean_env(data_dir),
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Worker(process, log_path)


def stop_worker(worker: Worker | None) -> None:
    if worker is None or worker.process.poll() is not None:
        return
    worker.process.send_signal(signal.SIGTERM)
    try:
        worker.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        # The session we created for it, by its id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait()


@dataclass
class DeployResult:
    seconds: float
    problem: str
    fatal: bool  # the worker died or the job never finished: no point going on
    steps: dict[str, float]
    queue_wait_s: float | None
    job_run_s: float | None
    job_span_s: float | None
    remote_commands: int
    release: str


def devflow_deploy(
    state: DevFlowState, sha: str, worker: Worker, timeout: float = DEPLOY_TIMEOUT_S
) -> DeployResult:
    """request_deployment -> the Job row finished; then check what landed on the server."""
    from devflow.accounts.models import User
    from devflow.core.models import Job, JobStatus
    from devflow.deployments.models import Deployment
    from devflow.deployments.services import request_deployment
    from devflow.projects.models import Environment

    user = User.objects.get(pk=state.user_id)
    environment = Environment.objects.select_related("project").get(pk=state.environment_id)
    finished = set(JobStatus.finished())
    started = time.perf_counter()
    deployment = request_deployment(user, environment)  # one transaction; queued on commit
    assert deployment.job_id is not None
    job_id = deployment.job_id
    deadline = started + timeout
    status = ""
    while True:
        status = Job.objects.filter(pk=job_id).values_list("status", flat=True).first() or ""
        if status in finished:
            break
        if time.perf_counter() > deadline:
            break
        if worker.process.poll() is not None:
            break
        time.sleep(POLL_S)
    seconds = time.perf_counter() - started

    job = Job.objects.get(pk=job_id)
    deployment = Deployment.objects.get(pk=deployment.pk)
    steps: dict[str, float] = {}
    for step in deployment.steps:
        steps[step["key"]] = steps.get(step["key"], 0.0) + float(step.get("seconds") or 0.0)
    queue_wait = job_run = job_span = None
    if job.started_at:
        queue_wait = (job.started_at - job.created_at).total_seconds()
    if job.started_at and job.finished_at:
        job_run = (job.finished_at - job.started_at).total_seconds()
    if job.finished_at:
        job_span = (job.finished_at - job.created_at).total_seconds()
    lines = list(job.log_lines.values_list("text", flat=True))
    commands = sum(1 for line in lines if line.startswith("$ "))

    problem, fatal = "", False
    if status not in finished:
        alive = worker.process.poll() is None
        fatal = True
        problem = f"job {job_id} still {status!r} after {seconds:.1f} s" + (
            "" if alive else f"; the worker exited: {worker.log_tail()}"
        )
    elif status != JobStatus.SUCCEEDED:
        failed_steps = [
            f"{step['key']}: {step.get('error', '')[:300]}"
            for step in deployment.steps
            if step.get("status") == "failed"
        ]
        problem = (
            f"job {status} ({job.error[:500]}); failed step(s): {failed_steps}; "
            f"outcome: {deployment.outcome[:300]}; last log lines: {lines[-8:]}"
        )
    elif deployment.commit_sha != sha:
        problem = f"deployed {deployment.commit_sha[:12]}, expected the new commit {sha[:12]}"
    else:
        current = state.deploy_path / "current"
        revision = (current / "REVISION").read_text().strip() if current.exists() else ""
        if revision != sha or not (current / "index.html").is_file():
            problem = f"current -> {current.resolve().name} holds {revision[:12]!r}, not {sha[:12]}"
    return DeployResult(
        seconds,
        problem,
        fatal,
        steps,
        queue_wait,
        job_run,
        job_span,
        commands,
        deployment.release_name,
    )


# The floor ----------------------------------------------------------------------------------


def floor_run(
    sshd: Sshd, repo: Repo, base: Path, name: str, sha: str, kex: str | None
) -> tuple[float, str]:
    """One `ssh` session (kex None: OpenSSH's default; "local": no ssh) doing the deploy."""
    url = f"file://{repo.bare}"
    if kex == "local":
        argv = ["sh", "-c", FLOOR_SCRIPT, "floor", str(base), url, name]
    else:
        argv = ["ssh", "-F", "/dev/null", "-i", str(sshd.client_key), "-p", str(sshd.port)]
        for option in SSH_OPTIONS + ([f"KexAlgorithms={kex}"] if kex else []):
            argv += ["-o", option]
        remote = shlex.join(["sh", "-c", FLOOR_SCRIPT, "floor", str(base), url, name])
        argv += [f"{sshd.username}@127.0.0.1", remote]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return seconds, f"floor ({kex or 'default kex'}) exited {done.returncode}: {done.stderr}"
    current = base / "current"
    head = subprocess.run(
        ["git", "-C", str(current), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    if current.resolve().name != name or head != sha:
        return seconds, f"floor ({kex}): current -> {current.resolve().name} at {head[:12]}"
    return seconds, ""


# Main -----------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def main() -> int:
    began = time.monotonic()
    notes: list[str] = []
    samples: dict[str, list[float]] = {
        key: []
        for key in (
            "devflow_s",
            "floor_s",
            "floor_default_kex_s",
            "floor_local_s",
            "queue_wait_s",
            "job_run_s",
            "job_span_s",
        )
    }
    step_samples: dict[str, list[float]] = {}
    commands: list[int] = []
    warmups: list[DeployResult] = []
    failures: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="devflow-bench-deploy-"))
    work.chmod(0o755)  # sshd reads authorized_keys below it
    sshd: Sshd | None = None
    worker: Worker | None = None
    say(
        f"deploy benchmark: {FILES}-file repository, loopback sshd, {WARMUP} warm-up + {RUNS} "
        f"measured deploys, python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    try:
        say(f"scratch folder {work}")
        repo = make_repo(work)
        say(f"repository {repo.bare}: {FILES} files in {', '.join(DIRECTORIES)} and the root")
        sshd = start_sshd(work)
        say(f"sshd on 127.0.0.1:{sshd.port}, user {sshd.username}")
        data_dir = work / "data"
        prepare_data_dir(data_dir, work)
        setup_django(data_dir)
        state = create_objects(sshd, repo, work / "www" / "site")
        say(f"DevFlow data dir {data_dir}: project 'Site' (static template + `true` post-deploy)")
        worker = start_worker(data_dir, work)
        say(f"`devflow worker` started (pid {worker.process.pid})")

        total = WARMUP + RUNS
        for number in range(1, total + 1):
            warm = number <= WARMUP
            title = "warm-up" if warm else f"run {number - WARMUP}/{RUNS}"
            sha = repo.commit()
            say(f"{title}: commit {sha[:12]} (version {repo.version})")
            timeout = FIRST_DEPLOY_TIMEOUT_S if number == 1 else DEPLOY_TIMEOUT_S
            deployed = devflow_deploy(state, sha, worker, timeout)
            if deployed.problem:
                if deployed.fatal:
                    raise RuntimeError(f"DevFlow deploy failed ({title}): {deployed.problem}")
                # A failed deploy is not a sample; say why, count it, and go on.
                failures.append(f"{title}: {deployed.problem}")
                say(f"  DevFlow deploy FAILED after {deployed.seconds:.3f} s: {deployed.problem}")
                continue
            detail = "  ".join(f"{k} {v:.3f}" for k, v in deployed.steps.items())
            wait = deployed.queue_wait_s
            say(
                f"  DevFlow       {deployed.seconds:7.3f} s  (queue wait "
                f"{'?' if wait is None else f'{wait:.3f}'} s, release {deployed.release}, "
                f"{deployed.remote_commands} remote commands)"
            )
            say(f"    steps: {detail}")
            floors: dict[str, tuple[float, str]] = {}
            for key, kex in (
                ("floor_s", KEX),
                ("floor_default_kex_s", None),
                ("floor_local_s", "local"),
            ):
                base = work / key.replace("_s", "")
                floors[key] = floor_run(sshd, repo, base, f"v{repo.version}", sha, kex)
                seconds, problem = floors[key]
                if problem:
                    raise RuntimeError(f"floor failed ({title}): {problem}")
            say(
                f"  floor ssh {KEX} {floors['floor_s'][0]:.3f} s,"
                f" default kex {floors['floor_default_kex_s'][0]:.3f} s,"
                f" local {floors['floor_local_s'][0]:.3f} s"
            )
            if warm:
                warmups.append(deployed)
                continue
            samples["devflow_s"].append(deployed.seconds)
            for key, (seconds, _) in floors.items():
                samples[key].append(seconds)
            for key, value in (
                ("queue_wait_s", deployed.queue_wait_s),
                ("job_run_s", deployed.job_run_s),
                ("job_span_s", deployed.job_span_s),
            ):
                if value is not None:
                    samples[key].append(value)
            for key, seconds in deployed.steps.items():
                step_samples.setdefault(key, []).append(seconds)
            commands.append(deployed.remote_commands)
    finally:
        stop_worker(worker)
        stop_sshd(sshd)
        shutil.rmtree(work, ignore_errors=True)

    figures = {key: median(values) for key, values in samples.items()}
    steps_s = {
        key: median(step_samples[key])
        for key in [*STEP_KEYS, *sorted(set(step_samples) - set(STEP_KEYS))]
        if key in step_samples
    }
    devflow_s, floor_s = figures["devflow_s"], figures["floor_s"]
    if devflow_s is None or floor_s is None:
        raise RuntimeError(f"no successful deploy to measure: {failures}")
    target_s = round(1.5 * floor_s + 1, 3)
    steps_sum = round(sum(v for v in steps_s.values() if v is not None), 3)
    job_run = figures["job_run_s"]
    default_floor = figures["floor_default_kex_s"]
    result: dict[str, Any] = {
        "devflow_s": devflow_s,
        "floor_s": floor_s,
        "ratio": ratio(devflow_s, floor_s),
        "target_s": target_s,
        # Timing alone, and every deploy succeeded.
        "meets_target": devflow_s <= target_s and not failures,
        "meets_time_target": devflow_s <= target_s,
        "failed_deploys": len(failures),
        "steps_s": steps_s,
        "queue_wait_s": figures["queue_wait_s"],
        "job_run_s": job_run,
        "job_span_s": figures["job_span_s"],
        "steps_sum_s": steps_sum,
        "outside_steps_s": round(job_run - steps_sum, 3) if job_run is not None else None,
        "remote_commands": int(statistics.median(commands)) if commands else None,
        "floor_default_kex_s": default_floor,
        "floor_local_s": figures["floor_local_s"],
        "ratio_vs_default_kex_floor": ratio(devflow_s, default_floor),
        "target_default_kex_s": round(1.5 * default_floor + 1, 3) if default_floor else None,
        "first_deploy_s": round(warmups[0].seconds, 3) if warmups else None,
        "first_deploy_queue_wait_s": (
            round(warmups[0].queue_wait_s, 3)
            if warmups and warmups[0].queue_wait_s is not None
            else None
        ),
        "first_deploy_steps_s": {k: round(v, 3) for k, v in warmups[0].steps.items()}
        if warmups
        else None,
        "kex": KEX,
        "files": FILES,
        "runs": len(samples["devflow_s"]),
        "warmup": WARMUP,
        "poll_s": POLL_S,
        "samples": {key: [round(v, 3) for v in values] for key, values in samples.items()},
        "step_samples": {
            key: [round(v, 3) for v in values] for key, values in step_samples.items()
        },
        "runtime_s": round(time.monotonic() - began, 1),
        "failures": failures,
        "notes": notes,
    }
    say()
    counted = len(samples["devflow_s"])
    say(f"medians of {counted} deploys (each a new commit), {FILES} files:")
    if failures:
        say(f"  {len(failures)} DevFlow deploy(s) FAILED and are not counted:")
        for failure in failures:
            say(f"    {failure[:400]}")
    say(f"  DevFlow, queued -> job finished    {devflow_s} s")
    say(f"    queue wait (created -> started)  {result['queue_wait_s']} s")
    say(f"    job run (started -> finished)    {job_run} s, of which steps {steps_sum} s")
    for key, value in steps_s.items():
        say(f"      {key:<14} {value} s")
    if warmups:
        say(
            f"  (warm-up, not counted: {warmups[0].seconds:.3f} s, of which "
            f"{warmups[0].queue_wait_s or 0:.3f} s waiting for the worker that had just started;"
            " it also cloned the server's mirror)"
        )
    say(f"  floor: one ssh ({KEX})  {floor_s} s")
    say(f"  floor: one ssh (default kex)       {default_floor} s")
    say(f"  floor: same script, locally        {figures['floor_local_s']} s")
    say(f"  ratio devflow/floor                {result['ratio']}")
    say(
        f"  target devflow_s <= 1.5 x floor_s + 1 = {target_s} s -> "
        f"{'met' if result['meets_time_target'] else 'MISSED'}"
        + (f" on time, but {len(failures)} deploy(s) failed" if failures else "")
    )
    say(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
