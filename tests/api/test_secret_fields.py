"""No secret leaves through the API: every GET of every list and detail endpoint, with and
without `read:secrets`, searched for known secret values; and a snapshot of every serializer's
fields, so a new field is looked at before it ships.

`build_world()` fills two teams with one of everything (the schemathesis test uses it too).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentRegistry
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.test import APIClient

from devflow.accounts import api_tokens
from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, Team, TokenScope, User
from devflow.accounts.services import create_user
from devflow.api.urls import router
from devflow.deployments import scheduling
from devflow.deployments import services as deployment_services
from devflow.deployments.models import Deployment, Release, ReleaseStatus
from devflow.monitoring import alerts, health, tokens
from devflow.monitoring.models import Alert, HealthResult, ServerSample
from devflow.notifications import services as notification_services
from devflow.projects import services as project_services
from devflow.projects.models import Environment, Project
from devflow.servers import keys, labels
from devflow.servers import services as server_services
from devflow.servers.bulk import start_bulk_run
from devflow.servers.models import Server, SshKey
from devflow.taskqueue import ensure_broker_dirs
from devflow.webhooks import services as webhook_services
from tests.conftest import PASSWORD
from tests.webhooks.conftest import signed_headers

SNAPSHOT = Path(__file__).with_name("serializer_fields.json")
SHA = "3f2c9ab8e1d4c5b6a7f8091a2b3c4d5e6f708192"
GiB = 1024**3


# The world: two teams with one of everything ---------------------------------------------------


@dataclass
class TeamWorld:
    team: Team
    owner: User
    server: Server
    ssh_key: SshKey
    project: Project
    environment: Environment
    deployment: Deployment
    release: Release
    webhook_secret: str
    metrics_token: str
    # Secret values planted in this team, by what they are.
    secrets: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    acme: TeamWorld
    globex: TeamWorld
    teams: list[TeamWorld]


def _team_world(team: Team, owner: User, tag: str) -> TeamWorld:
    """One of everything in `team`, made through the services as the pages make them."""
    ssh_key = keys.generate_key(owner, team, f"{tag}-deploy")
    group = labels.create_group(owner, team, f"{tag}-web", "The web servers")
    label = labels.create_tag(owner, team, f"{tag}-prod", "#2457d6")
    sudo = f"Sudo-{tag}-Pw-7f3a9c"
    server, _ = server_services.create_server(
        owner, team,
        server_services.ServerData(
            name=f"{tag}-web-1", host="10.0.0.5", username="deploy", ssh_key=ssh_key,
            sudo_password=sudo, group=group, tags=[label],
        ),
    )  # fmt: skip
    spare, _ = server_services.create_server(
        owner,
        team,
        server_services.ServerData(name=f"{tag}-web-2", host="10.0.0.6", ssh_key=ssh_key),
    )
    project = project_services.create_project(
        owner, team,
        project_services.ProjectData(
            name=f"{tag}-shop", repository_url=f"git@git.example.com:{tag}/shop.git",
            deploy_key=ssh_key, template="laravel",
        ),
        project_services.EnvironmentData(
            servers=[server, spare], deploy_path=f"/var/www/{tag}-shop",
            health_check_url=f"https://{tag}.example.com/health",
        ),
    )  # fmt: skip
    environment = project.environments.get()
    variable = f"Var-{tag}-Secret-41c8e2"
    project_services.set_variable(owner, environment, "DB_PASSWORD", variable)
    project_services.set_variable(owner, environment, "APP_ENV", "production")

    deployment = deployment_services.request_deployment(owner, environment)
    Deployment.objects.filter(pk=deployment.pk).update(commit_sha=SHA, commit_message="Fix cart")
    release = Release.objects.create(
        environment=environment, deployment=deployment, commit_sha=SHA,
        name=f"20270101000000-{deployment.pk}", status=ReleaseStatus.ACTIVE,
        activated_at=timezone.now(),
    )  # fmt: skip
    scheduling.schedule_deployment(
        owner, environment, datetime(2099, 3, 28, 21, 30), "Europe/Paris", note="Night release"
    )

    config = webhook_services.config_of(project)
    body = json.dumps({"ref": "main", "sha": SHA, "message": "Fix the cart"}).encode()
    webhook_services.receive(
        "custom", config.public_id, signed_headers("custom", config.secret, body), body
    )
    webhook_services.receive(
        "custom", config.public_id, signed_headers("custom", "forged", body), body
    )

    now = timezone.now()
    ServerSample.objects.bulk_create(
        ServerSample(
            server=server, at=now - timedelta(minutes=minute), cpu_percent=25.0 + minute,
            mem_used=2 * GiB, mem_total=8 * GiB, swap_used=0, swap_total=GiB, load1=0.5,
            load5=0.25, load15=0.125, net_rx_bps=1536.0, net_tx_bps=512.0,
            disk_read_bps=4096.0, disk_write_bps=8192.0, disk_used=30 * GiB,
            disk_total=100 * GiB, mounts=[{"mount": "/", "used": 30 * GiB, "total": 100 * GiB}],
        )
        for minute in range(5)
    )  # fmt: skip
    check = health.create(
        owner, team,
        health.CheckData(name=f"{tag} shop", project=project, url=f"https://{tag}.example.com/"),
    )  # fmt: skip
    health.create(
        owner, team, health.CheckData(name=f"{tag} db", kind="tcp", host="db.internal", port=5432)
    )
    HealthResult.objects.bulk_create(
        HealthResult(health_check=check, at=now - timedelta(minutes=n), outcome="up",
                     response_ms=120 + n, status_code=200)
        for n in range(3)
    )  # fmt: skip

    channel_password = f"Chan-{tag}-Pw-93be1d"
    channel = notification_services.create_channel(
        team, owner, name=f"{tag} ops", url=f"json://ops:{channel_password}@127.0.0.1:9/in",
        events_wanted=["alert.triggered", "health.down", "deployment.failed"],
    )  # fmt: skip
    notification_services.send_test(channel, owner)
    rule = alerts.create_rule(
        team, owner,
        alerts.RuleData(name=f"{tag} CPU high", metric="cpu", operator=">", threshold=90.0,
                        channels=[channel]),
    )  # fmt: skip
    Alert.objects.create(
        team=team, rule=rule, server=server, value=95.0, last_value=96.0,
        message=f"{server.name}: CPU is 95.0 %", triggered_at=now,
    )  # fmt: skip
    Alert.objects.create(
        team=team, rule=rule, server=server, value=97.0, last_value=80.0, state="resolved",
        message=f"{server.name}: CPU was 97.0 %", triggered_at=now - timedelta(hours=2),
        resolved_at=now - timedelta(hours=1),
    )  # fmt: skip
    start_bulk_run(owner, team, [server, spare], "ping", {})

    metrics = tokens.create(owner, team, f"{tag} prometheus").token
    ssh_key.refresh_from_db()
    return TeamWorld(
        team=team, owner=owner, server=server, ssh_key=ssh_key, project=project,
        environment=environment, deployment=deployment, release=release,
        webhook_secret=config.secret, metrics_token=metrics,
        secrets={
            "sudo password": sudo,
            "SSH private key": ssh_key.private_key,
            "variable value": variable,
            "webhook secret": config.secret,
            "channel URL password": channel_password,
            "metrics token": metrics,
        },
    )  # fmt: skip


def build_world() -> World:
    """Acme (alice owns it, bob deploys, dave looks) and Globex (charlie's), full of things."""
    ensure_broker_dirs()  # jobs queue to the embedded broker; no worker runs them
    alice = create_user(username="alice", email="alice@example.com", password=PASSWORD)
    charlie = create_user(username="charlie", email="charlie@example.com", password=PASSWORD)
    acme = Team.objects.create(name="Acme")
    globex = Team.objects.create(name="Globex")
    Membership.objects.create(user=alice, team=acme, role=Role.OWNER)
    Membership.objects.create(user=charlie, team=globex, role=Role.OWNER)
    for name, role in (("bob", Role.DEPLOYER), ("dave", Role.VIEWER), ("mia", Role.MAINTAINER)):
        user = create_user(username=name, email=f"{name}@example.com", password=PASSWORD)
        Membership.objects.create(user=user, team=acme, role=role)
    for user, team in ((alice, acme), (charlie, globex)):
        user.last_team = team
        user.save()
    first = _team_world(acme, alice, "acme")
    second = _team_world(globex, charlie, "globex")
    return World(acme=first, globex=second, teams=[first, second])


# Every GET endpoint of the router ------------------------------------------------------------


def _ids(client: APIClient, url: str) -> list[Any]:
    body = client.get(url).json()
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    return [row["id"] for row in rows if isinstance(row, dict) and "id" in row]


def get_urls(client: APIClient) -> Iterator[str]:
    """Every list, detail and extra GET route in router.registry, for each object listed."""
    server_ids = _ids(client, reverse("api:server-list"))
    for prefix, viewset, basename in router.registry:
        detail_ids: list[Any] = []
        if hasattr(viewset, "list"):
            url = reverse(f"api:{basename}-list")
            yield url
            detail_ids = _ids(client, url)
        if basename == "metrics":
            detail_ids = server_ids
        if hasattr(viewset, "retrieve"):
            for pk in detail_ids:
                yield reverse(f"api:{basename}-detail", args=[pk])
        for extra in viewset.get_extra_actions():
            if "get" not in extra.mapping:
                continue
            name = f"api:{basename}-{extra.url_name}"
            if extra.detail:
                for pk in detail_ids:
                    try:
                        yield reverse(name, args=[pk])
                    except NoReverseMatch:
                        pytest.fail(f"{prefix}: cannot build {name} for a GET; teach this test")
            else:
                yield reverse(name)


def bodies(client: APIClient) -> Iterator[tuple[str, str]]:
    for url in get_urls(client):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        yield url, response.content.decode()


@pytest.fixture
def world(db) -> World:  # type: ignore[no-untyped-def]
    cache.clear()
    return build_world()


ALL_SCOPES = list(TokenScope.values)
NEVER_SHOWN = ("sudo password", "SSH private key", "webhook secret", "metrics token")


def _client(user: User, scopes: list[str]) -> tuple[APIClient, str]:
    token = api_tokens.create(user, "secrets", scopes).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client, token


def _leaks(body: str, secrets: dict[str, str]) -> list[str]:
    found = []
    for what, value in secrets.items():
        # A private key also counts if one line of it (a 70-character base64 run) shows.
        pieces = [value] + [line for line in value.splitlines() if len(line) >= 40]
        if any(piece in body for piece in pieces):
            found.append(what)
    return found


def test_without_read_secrets_no_secret_is_in_any_answer(world) -> None:  # type: ignore[no-untyped-def]
    alice = world.acme.owner
    _, other_token = _client(alice, ["read"])  # another of alice's tokens
    client, token = _client(alice, [s for s in ALL_SCOPES if s != TokenScope.READ_SECRETS])
    secrets = {f"{t.team.name} {what}": v for t in world.teams for what, v in t.secrets.items()}
    secrets |= {"the request's own token": token, "another API token": other_token}
    seen = 0
    for url, body in bodies(client):
        seen += 1
        assert not _leaks(body, secrets), f"{url} shows {_leaks(body, secrets)}"
    assert seen > 60  # every list, every object of the first page, every extra GET


def test_with_read_secrets_only_the_documented_secrets_show(world) -> None:  # type: ignore[no-untyped-def]
    alice, acme = world.acme.owner, world.acme
    client, token = _client(alice, ALL_SCOPES)
    _, other_token = _client(alice, ["read"])
    never = {f"{t.team.name} {what}": t.secrets[what] for t in world.teams for what in NEVER_SHOWN}
    never |= {"the request's own token": token, "another API token": other_token}
    never |= {f"Globex {what}": v for what, v in world.globex.secrets.items()}
    shown: dict[str, set[str]] = {}
    for url, body in bodies(client):
        assert not _leaks(body, never), f"{url} shows {_leaks(body, never)}"
        for what in ("variable value", "channel URL password"):
            if acme.secrets[what] in body:
                shown.setdefault(what, set()).add(url)
    # What read:secrets is for does show, and only where documented.
    env = acme.environment.pk
    assert shown["variable value"] == {f"/api/v1/environments/{env}/variables/"}
    assert shown["channel URL password"] and all(
        url.startswith("/api/v1/channels/") for url in shown["channel URL password"]
    ), shown


def test_a_viewer_with_read_secrets_sees_no_variable_values(world) -> None:  # type: ignore[no-untyped-def]
    dave = User.objects.get(username="dave")
    client, _ = _client(dave, ALL_SCOPES)
    secrets = dict(world.acme.secrets)
    del secrets["channel URL password"]  # documented: read:secrets reads channel URLs back
    for url, body in bodies(client):
        assert not _leaks(body, secrets), f"{url} shows {_leaks(body, secrets)} to a viewer"


# The serializers' fields, snapshotted ------------------------------------------------------


def _serializers_of(value: Any) -> Iterator[serializers.BaseSerializer]:
    """The serializers in an extend_schema request/response value (dicts, OpenApiResponse...)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _serializers_of(item)
    elif isinstance(value, OpenApiResponse):
        yield from _serializers_of(value.response)
    elif isinstance(value, type) and issubclass(value, serializers.BaseSerializer):
        yield value()
    elif isinstance(value, serializers.BaseSerializer):
        yield value


def _name(serializer: serializers.BaseSerializer) -> str:
    cls = type(serializer)
    if cls.__module__ in ("drf_spectacular.utils", "rest_framework.serializers"):
        return f"inline:{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _walk(serializer: Any, found: dict[str, list[str]]) -> None:
    if isinstance(serializer, serializers.ListSerializer):
        _walk(serializer.child, found)
        return
    if not isinstance(serializer, serializers.Serializer):
        return
    name = _name(serializer)
    if name in found:
        return
    found[name] = []
    for field_name, field_ in serializer.fields.items():
        flag = " (write-only)" if field_.write_only else ""
        found[name].append(field_name + flag)
        target = field_.child if isinstance(field_, serializers.ListField) else field_
        if isinstance(field_, serializers.SerializerMethodField):  # @extend_schema_field(...)
            method = getattr(serializer, field_.method_name, None)
            target = getattr(method, "_spectacular_annotation", {}).get("field")
        for nested in _serializers_of(target):
            _walk(nested, found)
    found[name].sort()


def serializer_fields() -> dict[str, list[str]]:
    """Every serializer the router's views read or write, as the schema generator sees them."""
    found: dict[str, list[str]] = {}
    registered = tuple(viewset for _, viewset, _ in router.registry)
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    for path, path_regex, method, view in generator._get_paths_and_endpoints():
        if not isinstance(view, registered):
            continue
        schema = view.schema
        assert isinstance(schema, AutoSchema)
        schema.registry = ComponentRegistry()
        schema.path, schema.path_regex, schema.method = path, path_regex, method.upper()
        values = [schema.get_response_serializers()]
        if method.upper() in ("POST", "PUT", "PATCH"):
            values.append(schema.get_request_serializer())
        for value in values:
            for serializer in _serializers_of(value):
                _walk(serializer, found)
        if hasattr(view, "get_serializer_class"):
            _walk(view.get_serializer_class()(), found)
    return dict(sorted(found.items()))


def test_every_serializer_field_was_reviewed_for_secrets(request) -> None:  # type: ignore[no-untyped-def]
    current = serializer_fields()
    assert len(current) > 40
    if (
        request.config.getoption("--update-serializer-snapshot", default=False)
        or os.environ.get("DEVFLOW_UPDATE_SNAPSHOT") == "1"
    ):
        SNAPSHOT.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n")
        return
    snapshot = json.loads(SNAPSHOT.read_text())
    changed = {
        name: {"added": sorted(set(fields) - set(snapshot.get(name, []))),
               "removed": sorted(set(snapshot.get(name, [])) - set(fields))}
        for name, fields in current.items() if fields != snapshot.get(name)
    }  # fmt: skip
    changed |= {name: {"serializer removed": True} for name in snapshot if name not in current}
    assert not changed, (
        "API serializers changed:\n"
        + json.dumps(changed, indent=2, ensure_ascii=False)
        + "\nReview each new or changed field for secrets (sudo passwords, private keys, "
        "tokens, webhook secrets, variable values: write-only, or behind read:secrets and "
        "covered above), then update the snapshot with "
        "`pytest tests/api/test_secret_fields.py --update-serializer-snapshot`."
    )
