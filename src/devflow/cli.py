"""The `devflow` command: run the platform (up, web, worker, scheduler) and administer it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from devflow.client.commands import register as register_client_commands

app = typer.Typer(
    help="DevFlow Pro: deploy and run web applications on servers you own.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

HostOption = Annotated[str, typer.Option(help="Address to listen on.", envvar="DEVFLOW_HOST")]
PortOption = Annotated[int, typer.Option(help="Port to listen on.", envvar="DEVFLOW_PORT")]


def _django() -> None:
    # The data directory holds the database and keys: nothing we create is for others to read.
    os.umask(0o077)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "devflow.settings")
    import django

    from devflow.core.env import ConfigError

    try:
        django.setup()
    except ConfigError as exc:
        _fail(str(exc))


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _check_keys(create: bool = False) -> None:
    """Load the encryption keys; only `prepare` may create the key file of a fresh install."""
    from devflow.core import crypto

    try:
        if create:
            crypto.ensure_keys()
        else:
            crypto.load_keys()
    except crypto.SecretKeyError as exc:
        _fail(str(exc))


def _check_broker() -> None:
    from kombu.utils.url import maybe_sanitize_url

    from devflow.core.health import check_broker
    from devflow.taskqueue import app as celery_app
    from devflow.taskqueue import ensure_broker_dirs

    ensure_broker_dirs()
    ok, detail = check_broker(timeout=3)
    if not ok:
        url = maybe_sanitize_url(celery_app.conf.broker_url)
        _fail(
            f"Cannot reach the job broker at {url}: {detail}. Start it (Redis: "
            "`redis-server`), or unset REDIS_URL to use the embedded broker."
        )


@app.command()
def prepare(
    url: Annotated[str, typer.Option(help="The address shown with the setup token.")] = "",
) -> None:
    """Apply migrations, create the key file, and print the setup token if no admin exists."""
    _django()
    from django.conf import settings
    from django.core.management import call_command

    from devflow.taskqueue import ensure_broker_dirs

    if Path(settings.DEVFLOW_SECRET_KEY_FILE).exists() or settings.DEVFLOW_SECRET_KEYS:
        _check_keys()  # a corrupt key fails before anything is written
    call_command("migrate", interactive=False, verbosity=0)
    _check_keys(create=True)
    ensure_broker_dirs()
    _print_setup_token(url.rstrip("/"))


def _print_setup_token(url: str = "") -> None:
    from devflow.accounts.services import issue_setup_token

    token = issue_setup_token()
    if token:
        typer.secho("\nNo admin yet. Create the first one at:", bold=True)
        typer.secho(f"  {url or ''}/setup/", fg=typer.colors.CYAN)
        typer.secho(f"with the one-time setup token:  {token}\n", bold=True)


@app.command()
def up(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
) -> None:
    """Run everything in one process group on the embedded defaults (Ctrl-C stops it all)."""
    from devflow.supervisor import Supervisor

    raise typer.Exit(Supervisor(host=host, port=port).run())


@app.command()
def web(host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """Serve the pages, the API and WebSockets (ASGI)."""
    _django()
    _check_keys()
    from devflow.taskqueue import ensure_broker_dirs

    ensure_broker_dirs()
    import gc

    import uvicorn
    from django.urls import get_resolver

    from devflow.asgi import application

    # Import every view now, then move what is loaded out of the garbage collector's sight:
    # full collections walk the whole heap and were the slow tail of API list pages.
    get_resolver().url_patterns  # noqa: B018
    gc.collect()
    gc.freeze()
    uvicorn.run(
        application,
        host=host,
        port=port,
        lifespan="off",
        ws="websockets-sansio",
        log_level="warning",
        access_log=False,
    )


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(help="Jobs run at once.", envvar="DEVFLOW_WORKER_CONCURRENCY")
    ] = 4,
    name: Annotated[str, typer.Option(help="Worker node name.")] = "",
    with_scheduler: Annotated[
        bool,
        typer.Option(
            "--with-scheduler", help="Also tick the scheduler in this process (one-machine setups)."
        ),
    ] = False,
) -> None:
    """Run jobs from the queue."""
    _django()
    _check_keys()
    _check_broker()
    import warnings

    from devflow.taskqueue import app as celery_app

    if with_scheduler:
        _start_scheduler_thread()

    warnings.filterwarnings("ignore", message=".*superuser privileges.*")
    argv = [
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
        "--loglevel=WARNING",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]
    if name:
        argv.append(f"--hostname={name}")
    celery_app.worker_main(argv)


def _start_scheduler_thread() -> None:
    """The scheduler's loop on a thread of the worker: one process less on one machine."""
    import threading

    from celery.signals import worker_shutdown

    from devflow.core.scheduler import run_forever

    stop = threading.Event()
    worker_shutdown.connect(lambda **_: stop.set(), weak=False)
    threading.Thread(target=run_forever, args=(stop,), name="scheduler", daemon=True).start()


@app.command()
def scheduler() -> None:
    """Tick every ~5 s: start due schedules and fail jobs whose worker died."""
    _django()
    _check_keys()
    import signal
    import threading

    from devflow.core.scheduler import run_forever

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_forever(stop)


@app.command()
def createadmin(
    username: Annotated[str, typer.Option(help="Create this admin now (asks a password).")] = "",
    email: Annotated[str, typer.Option(help="The admin's e-mail.")] = "",
) -> None:
    """Print the one-time setup token, or create the first admin directly."""
    _django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    _check_keys(create=True)
    from devflow.accounts import services

    if not services.setup_needed():
        _fail("An admin exists already; the setup page is closed. Sign in and invite people.")
    if not username:
        _print_setup_token()
        return
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    try:
        validate_password(password)
        token = services.issue_setup_token() or ""
        services.create_first_admin(token=token, username=username, email=email, password=password)
    except (ValidationError, services.AccountError) as exc:
        message = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        _fail(message)
    typer.secho(f"Admin {username} created.", fg=typer.colors.GREEN)


@app.command("rotate-keys")
def rotate_keys(
    drop_old: Annotated[
        bool, typer.Option(help="Remove the old keys from the key file afterwards.")
    ] = False,
) -> None:
    """Add a new encryption key (to the key file) and re-encrypt every stored secret with it.

    With DEVFLOW_SECRET_KEYS, put the new key first in that variable yourself; this then
    re-encrypts every secret with it, and the old keys can be removed from the variable.
    """
    _django()
    from devflow.core import crypto, keyrotation

    try:
        count = keyrotation.rotate(drop_old=drop_old)
    except crypto.SecretKeyError as exc:
        _fail(str(exc))
    typer.secho(f"Re-encrypted {count} secret value(s) with the new key.", fg=typer.colors.GREEN)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def manage(ctx: typer.Context) -> None:
    """Run a Django management command (e.g. `devflow manage migrate`)."""
    _django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["devflow manage", *ctx.args])


register_client_commands(app)


def main() -> None:
    app(prog_name="devflow")


if __name__ == "__main__":
    main()
