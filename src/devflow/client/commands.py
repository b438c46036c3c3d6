"""`devflow login / status / servers ls / projects ls / deployments ls / deploy / rollback /
logs`: the API from a terminal. Listings take --json; failures exit non-zero."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from devflow.client import config
from devflow.client.http import ApiError, Client

FINISHED = {"succeeded", "failed", "cancelled", "timed_out"}
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _client() -> Client:
    try:
        return Client(config.load())
    except config.NotLoggedIn as error:
        _fail(str(error), 2)
        raise  # unreachable: _fail exits


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*[title for _, title in columns], box=None, header_style="bold")
    for row in rows:
        table.add_row(*["" if row.get(key) is None else str(row.get(key)) for key, _ in columns])
    Console().print(table)


def _print(rows: list[dict[str, Any]], columns: list[tuple[str, str]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
    elif rows:
        _table(rows, columns)
    else:
        typer.echo("(none)")


def _project(client: Client, name_or_id: str) -> dict[str, Any]:
    if name_or_id.isdigit():
        return dict(client.get(f"projects/{name_or_id}/"))
    matches = [p for p in client.each("projects/", search=name_or_id) if p["name"] == name_or_id]
    if not matches:
        _fail(f"No project called {name_or_id!r} in your teams (`devflow projects ls`).")
    if len(matches) > 1:
        _fail(f"Several projects are called {name_or_id!r}; use its id.")
    return matches[0]


def _environment(client: Client, project: dict[str, Any], name: str | None) -> dict[str, Any]:
    environments = list(client.each("environments/", project=project["id"]))
    if name:
        chosen = [e for e in environments if e["name"] == name]
        if not chosen:
            names = ", ".join(e["name"] for e in environments)
            _fail(f"{project['name']} has no environment {name!r} (it has: {names}).")
        return chosen[0]
    if len(environments) != 1:
        names = ", ".join(e["name"] for e in environments)
        _fail(f"{project['name']} has several environments ({names}); pick one with --env.")
    return environments[0]


def _job_of(deployment: dict[str, Any]) -> int | None:
    job = deployment.get("job") or deployment.get("job_id")
    return int(job) if job else None


class _Progress:
    """How `--wait` shows the job's progress: a live bar under the log on a terminal, and
    otherwise (a pipe, CI) one `[ 40%] Build` line on stderr each time the step changes."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown: tuple[int, str] | None = None
        self.bar: Any = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                console=Console(stderr=True), transient=True,
            )  # fmt: skip
            self.task = self.bar.add_task("Queued", total=100)
            self.bar.start()

    def update(self, percent: int, message: str) -> None:
        if not self.enabled or self.shown == (percent, message):
            return
        self.shown = (percent, message)
        if self.bar is not None:
            self.bar.update(self.task, completed=percent, description=message)
        else:
            typer.secho(f"[{percent:3d}%] {message}", fg=typer.colors.CYAN, err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _follow(client: Client, deployment_id: int, *, quiet_progress: bool = False) -> str:
    """Print the deployment's log as it grows, with its progress; return its final status."""
    deployment = client.get(f"deployments/{deployment_id}/")
    job = _job_of(deployment)
    if job is None:
        return str(deployment.get("status", "failed"))
    progress = _Progress(enabled=not quiet_progress)
    after = -1
    try:
        while True:
            update = client.get(f"jobs/{job}/log/", after=after)
            for line in update["lines"]:
                stream = sys.stderr if line["stream"] == "stderr" else sys.stdout
                print(line["text"], file=stream, flush=True)
                after = line["seq"]
            state = update["job"]
            status = state["status"]
            message = state.get("progress_message") or state["status_label"]
            if status in FINISHED:
                message = state["status_label"]
            progress.update(int(state.get("progress") or 0), message)
            if status in FINISHED and not update["lines"]:
                return str(status)
            if not update["lines"]:
                time.sleep(0.5)
    finally:
        progress.close()


def register(app: typer.Typer) -> None:
    servers = typer.Typer(help="Servers of your teams.", no_args_is_help=True)
    projects = typer.Typer(help="Projects of your teams.", no_args_is_help=True)
    deployments = typer.Typer(help="Deployments.", no_args_is_help=True)
    app.add_typer(servers, name="servers")
    app.add_typer(projects, name="projects")
    app.add_typer(deployments, name="deployments")

    @app.command()
    def login(
        url: Annotated[
            str, typer.Argument(help="Where DevFlow Pro runs, e.g. https://devflow.example")
        ],
        token: Annotated[
            str,
            typer.Option(help="A token from Profile → API tokens.", prompt=True, hide_input=True),
        ],
    ) -> None:
        """Check the token against URL and remember both (file mode 0600)."""
        login_ = config.Login(url=url.rstrip("/"), token=token.strip())
        try:
            with Client(login_) as client:
                me = client.get("me/")
        except ApiError as error:
            _fail(error.message)
        where = config.save(login_)
        scopes = ", ".join((me.get("token") or {}).get("scopes", []))
        typer.echo(f"Logged in to {login_.url} as {me['username']} (scopes: {scopes}).")
        typer.echo(f"Saved in {where}.")

    @app.command()
    def logout() -> None:
        """Forget the saved URL and token (the token itself stays valid until revoked)."""
        typer.echo("Logged out." if config.forget() else "Was not logged in.")

    @app.command()
    def status(as_json: JsonOption = False) -> None:
        """Who you are, your servers' states and the latest deployments."""
        with _client() as client:
            try:
                me = client.get("me/")
                servers_ = list(client.each("servers/"))
                recent = client.get("deployments/", page_size=5, ordering="-created_at")
            except ApiError as error:
                _fail(error.message)
        summary = {
            "user": me["username"],
            "teams": [t["name"] for t in me["teams"]],
            "servers": {
                s: sum(1 for x in servers_ if x["status"] == s) for s in ("up", "down", "unknown")
            },
            "deployments": recent["results"],
        }
        if as_json:
            typer.echo(json.dumps(summary, indent=2, default=str))
            return
        typer.echo(f"{summary['user']} in {', '.join(summary['teams'])}")
        counts = summary["servers"]
        typer.echo(
            f"Servers: {counts['up']} up, {counts['down']} down, {counts['unknown']} unknown"
        )
        _print(recent["results"], [("id", "#"), ("project_name", "Project"),
                                   ("environment_name", "Env"), ("status", "Status"),
                                   ("created_at", "Started")], False)  # fmt: skip
        if counts["down"]:
            raise typer.Exit(3)

    @servers.command("ls")
    def servers_ls(as_json: JsonOption = False) -> None:
        with _client() as client:
            try:
                rows = list(client.each("servers/"))
            except ApiError as error:
                _fail(error.message)
        _print(rows, [("id", "ID"), ("name", "Name"), ("host", "Host"), ("status", "Status"),
                      ("last_seen_at", "Last seen")], as_json)  # fmt: skip

    @projects.command("ls")
    def projects_ls(as_json: JsonOption = False) -> None:
        with _client() as client:
            try:
                rows = list(client.each("projects/"))
            except ApiError as error:
                _fail(error.message)
        _print(rows, [("id", "ID"), ("name", "Name"), ("repository_url", "Repository"),
                      ("framework", "Framework")], as_json)  # fmt: skip

    @deployments.command("ls")
    def deployments_ls(
        project: Annotated[str | None, typer.Option(help="Project name or id.")] = None,
        limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
        as_json: JsonOption = False,
    ) -> None:
        with _client() as client:
            try:
                params: dict[str, Any] = {"page_size": min(limit, 200), "ordering": "-created_at"}
                if project:
                    params["project"] = _project(client, project)["id"]
                rows = client.get("deployments/", **params)["results"][:limit]
            except ApiError as error:
                _fail(error.message)
        _print(rows, [("id", "#"), ("project_name", "Project"), ("environment_name", "Env"),
                      ("status", "Status"), ("commit_sha", "Commit"), ("trigger", "Trigger"),
                      ("created_at", "Started")], as_json)  # fmt: skip

    @app.command()
    def deploy(
        project: Annotated[str, typer.Argument(help="Project name or id.")],
        env: Annotated[str | None, typer.Option("--env", help="Environment name.")] = None,
        commit: Annotated[str | None, typer.Option(help="Deploy this commit.")] = None,
        wait: Annotated[bool, typer.Option(help="Stream the log until it ends.")] = False,
    ) -> None:
        """Deploy a project's environment; with --wait, exit 0 only if it succeeded."""
        with _client() as client:
            try:
                chosen = _project(client, project)
                environment = _environment(client, chosen, env)
                body = {"commit_sha": commit} if commit else {}
                deployment = client.post(
                    f"environments/{environment['id']}/deploy/", body, idempotent=True
                )
                typer.echo(f"Deployment #{deployment['id']} of {chosen['name']} "
                           f"({environment['name']}) queued.")  # fmt: skip
                if not wait:
                    return
                final = _follow(client, deployment["id"])
            except ApiError as error:
                _fail(error.message)
        if final != "succeeded":
            _fail(f"Deployment #{deployment['id']} {final}.")
        typer.secho(f"Deployment #{deployment['id']} succeeded.", fg=typer.colors.GREEN)

    @app.command()
    def rollback(
        project: Annotated[str, typer.Argument(help="Project name or id.")],
        env: Annotated[str | None, typer.Option("--env", help="Environment name.")] = None,
        to: Annotated[
            str | None, typer.Option(help="Release name (default: the one before).")
        ] = None,
        wait: Annotated[bool, typer.Option(help="Stream the log until it ends.")] = True,
    ) -> None:
        """Point the environment back at an earlier release (no rebuild)."""
        with _client() as client:
            try:
                chosen = _project(client, project)
                environment = _environment(client, chosen, env)
                releases = list(client.each("releases/", environment=environment["id"]))
                target = _release(releases, to)
                deployment = client.post(f"releases/{target['id']}/rollback/", idempotent=True)
                typer.echo(f"Rolling {chosen['name']} ({environment['name']}) back to "
                           f"{target['name']}: deployment #{deployment['id']}.")  # fmt: skip
                final = _follow(client, deployment["id"]) if wait else "queued"
            except ApiError as error:
                _fail(error.message)
        if wait and final != "succeeded":
            _fail(f"Rollback #{deployment['id']} {final}.")

    @app.command()
    def logs(
        deployment: Annotated[int, typer.Argument(help="Deployment number.")],
        follow: Annotated[
            bool, typer.Option("--follow", "-f", help="Keep printing until it ends.")
        ] = False,
    ) -> None:
        """Print a deployment's log."""
        with _client() as client:
            try:
                if follow:
                    final = _follow(client, deployment, quiet_progress=True)
                    if final != "succeeded":
                        raise typer.Exit(1)
                    return
                job = _job_of(client.get(f"deployments/{deployment}/"))
                if job is None:
                    return
                after = -1
                while True:
                    update = client.get(f"jobs/{job}/log/", after=after)
                    if not update["lines"]:
                        break
                    for line in update["lines"]:
                        print(line["text"])
                        after = line["seq"]
            except ApiError as error:
                _fail(error.message)


def _release(releases: list[dict[str, Any]], name: str | None) -> dict[str, Any]:
    if name:
        for release in releases:
            if release["name"] == name:
                return release
        _fail(f"No release {name!r} (see the project page for the kept releases).")
    live = [r for r in releases if r.get("status") == "active"]
    older = [r for r in releases if r.get("status") == "kept"]
    if not live or not older:
        _fail("There is no earlier kept release to roll back to.")
    return sorted(older, key=lambda r: r.get("created_at", ""), reverse=True)[0]
