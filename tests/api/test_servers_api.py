"""Servers over the API: CRUD, SSH keys, quick actions, bulk runs, tags and groups."""

from __future__ import annotations

import asyncssh
import pytest
from django.core.cache import cache

from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, User
from devflow.accounts.services import create_user
from devflow.core.models import ActivityLog, Job
from devflow.servers import keys
from devflow.servers.models import BulkResult, BulkRun, Server, ServerGroup, SshKey, Tag
from tests.api.conftest import problem_of
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

EVERY_SCOPE = ("read", "deploy", "write", "admin", "read:secrets")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def key(alice, acme) -> SshKey:  # type: ignore[no-untyped-def]
    return keys.generate_key(alice, acme, "deploy key")


@pytest.fixture
def web1(acme, alice, key) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(
        team=acme, name="web-1", host="10.0.0.5", ssh_key=key, created_by=alice
    )


@pytest.fixture
def web2(acme, alice, key) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(
        team=acme, name="web-2", host="10.0.0.6", ssh_key=key, created_by=alice
    )


@pytest.fixture
def theirs(globex, charlie) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=globex, name="their-1", host="10.9.9.9", created_by=charlie)


@pytest.fixture
def dave(acme) -> User:  # type: ignore[no-untyped-def]
    """Viewer in Acme."""
    user = create_user(username="dave", email="dave@example.com", password=PASSWORD)
    Membership.objects.create(user=user, team=acme, role=Role.VIEWER)
    return user


# Servers ---------------------------------------------------------------------------------


def test_servers_are_created_changed_and_deleted_through_the_services(  # type: ignore[no-untyped-def]
    api, alice, acme, key
) -> None:
    client = api(alice, "read", "write")
    made = client.post(
        "/api/v1/servers/",
        {
            "team": acme.pk,
            "name": "db-1",
            "host": "10.0.0.9",
            "ssh_key": key.pk,
            "sudo_password": "s3cret",
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    server = Server.objects.get(name="db-1")
    assert server.team == acme and server.sudo_password == "s3cret"
    assert "s3cret" not in made.content.decode()
    assert Job.objects.filter(kind="servers.check", target_id=str(server.pk)).exists()
    assert ActivityLog.objects.filter(action="server.created", source="api").exists()

    changed = client.patch(f"/api/v1/servers/{server.pk}/", {"name": "db-primary"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["name"] == "db-primary"
    bad = client.patch(f"/api/v1/servers/{server.pk}/", {"host": "not a host!"}, format="json")
    assert bad.status_code == 400
    assert "not a host name" in str(problem_of(bad)["errors"])

    assert client.delete(f"/api/v1/servers/{server.pk}/").status_code == 204
    assert not Server.objects.filter(pk=server.pk).exists()


def test_a_server_cannot_use_another_teams_key_or_tag(api, alice, globex, charlie) -> None:  # type: ignore[no-untyped-def]
    their_key = keys.generate_key(charlie, globex, "their key")
    their_tag = Tag.objects.create(team=globex, name="prod")
    response = api(alice, "read", "write").post(
        "/api/v1/servers/",
        {"name": "x", "host": "10.0.0.1", "ssh_key": their_key.pk, "tags": [their_tag.pk]},
        format="json",
    )
    assert response.status_code == 400
    errors = problem_of(response)["errors"]
    assert "ssh_key" in errors and "tags" in errors
    assert not Server.objects.filter(name="x").exists()


# SSH keys --------------------------------------------------------------------------------


def test_a_generated_keys_private_half_is_in_no_answer(api, alice, acme) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, *EVERY_SCOPE)
    made = client.post(
        "/api/v1/ssh-keys/",
        {"team": acme.pk, "name": "ci", "algorithm": "ssh-ed25519"},
        format="json",
    )
    assert made.status_code == 201, made.content
    row = SshKey.objects.get(name="ci")
    body = made.json()
    assert body["public_key"] == row.public_key and body["fingerprint"] == row.fingerprint
    assert "private_key" not in body
    answers = [
        made,
        client.get("/api/v1/ssh-keys/"),
        client.get(f"/api/v1/ssh-keys/{row.pk}/"),
        client.get(f"/api/v1/ssh-keys/?search={row.name}"),
    ]
    secret_line = row.private_key.strip().splitlines()[1]
    for answer in answers:
        text = answer.content.decode()
        assert answer.status_code in (200, 201)
        assert "PRIVATE KEY" not in text and secret_line not in text


def test_an_imported_key_keeps_its_fingerprint_and_never_echoes_the_private_key(  # type: ignore[no-untyped-def]
    api, alice, acme
) -> None:
    private = asyncssh.generate_private_key("ssh-ed25519")
    pem = private.export_private_key("openssh").decode()
    client = api(alice, *EVERY_SCOPE)
    made = client.post(
        "/api/v1/ssh-keys/", {"team": acme.pk, "name": "laptop", "private_key": pem}, format="json"
    )
    assert made.status_code == 201, made.content
    assert made.json()["fingerprint"] == private.get_fingerprint("sha256")
    assert pem.splitlines()[1] not in made.content.decode()
    assert "PRIVATE KEY" not in client.get("/api/v1/ssh-keys/").content.decode()
    stored = SshKey.objects.get(name="laptop")
    assert "PRIVATE KEY" in stored.private_key  # kept (encrypted) for logging in, never shown


def test_bad_key_input_is_a_400_and_saves_nothing(api, alice, acme, key) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write")
    garbage = client.post(
        "/api/v1/ssh-keys/",
        {"team": acme.pk, "name": "bad", "private_key": "not a key"},
        format="json",
    )
    assert garbage.status_code == 400
    problem_of(garbage)
    both = client.post(
        "/api/v1/ssh-keys/",
        {"name": "bad", "private_key": "x", "algorithm": "ssh-rsa"},
        format="json",
    )
    assert "algorithm" in problem_of(both)["errors"]
    same_name = client.post(
        "/api/v1/ssh-keys/", {"team": acme.pk, "name": "Deploy Key"}, format="json"
    )
    assert "already a key named" in str(problem_of(same_name)["errors"])
    assert list(SshKey.objects.values_list("name", flat=True)) == ["deploy key"]


def test_a_key_in_use_is_not_deleted_and_an_unused_one_is(api, alice, acme, key, web1) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write")
    in_use = client.delete(f"/api/v1/ssh-keys/{key.pk}/")
    assert in_use.status_code == 400
    assert "still log in with" in str(problem_of(in_use)["errors"])
    spare = keys.generate_key(alice, acme, "spare")
    assert client.delete(f"/api/v1/ssh-keys/{spare.pk}/").status_code == 204
    assert list(SshKey.objects.values_list("name", flat=True)) == ["deploy key"]


def test_keys_follow_the_pages_roles_and_scopes(
    api, alice, acme, bob, key, globex, charlie
) -> None:  # type: ignore[no-untyped-def]
    their_key = keys.generate_key(charlie, globex, "their key")
    assert api(bob, "read").get(f"/api/v1/ssh-keys/{key.pk}/").status_code == 200
    denied = api(bob, *EVERY_SCOPE).post(
        "/api/v1/ssh-keys/", {"team": acme.pk, "name": "bob's"}, format="json"
    )
    assert denied.status_code == 403
    assert api(bob, *EVERY_SCOPE).delete(f"/api/v1/ssh-keys/{key.pk}/").status_code == 403
    scoped = api(alice, "read").post(
        "/api/v1/ssh-keys/", {"team": acme.pk, "name": "x"}, format="json"
    )
    assert "lacks the “write” scope" in problem_of(scoped)["detail"]
    client = api(alice, *EVERY_SCOPE)
    assert client.get(f"/api/v1/ssh-keys/{their_key.pk}/").status_code == 404
    assert client.delete(f"/api/v1/ssh-keys/{their_key.pk}/").status_code == 404
    assert [k["name"] for k in client.get("/api/v1/ssh-keys/").json()["results"]] == ["deploy key"]
    assert SshKey.objects.count() == 2


# Quick actions ---------------------------------------------------------------------------


def test_a_quick_action_queues_a_job_and_answers_202(api, bob, web1) -> None:  # type: ignore[no-untyped-def]
    response = api(bob, "deploy").post(
        "/api/v1/server-actions/", {"server": web1.pk, "action": "disk_usage"}, format="json"
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == "servers.disk_usage" and job.params["server_id"] == web1.pk
    assert ActivityLog.objects.filter(action="servers.disk_usage.queued", source="api").exists()


def test_restart_service_needs_a_valid_unit(api, alice, web1) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "deploy")
    bad = client.post(
        "/api/v1/server-actions/",
        {"server": web1.pk, "action": "restart_service", "service": "nginx; rm -rf /"},
        format="json",
    )
    assert bad.status_code == 400
    assert "service" in problem_of(bad)["errors"]
    good = client.post(
        "/api/v1/server-actions/",
        {"server": web1.pk, "action": "restart_service", "service": "nginx.service"},
        format="json",
    )
    assert good.status_code == 202
    assert Job.objects.get().params["service"] == "nginx.service"


def test_a_destructive_action_without_confirm_is_a_400_and_queues_nothing(api, alice, web1) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "deploy")
    for confirm in (None, "", "web-2"):
        body = {"server": web1.pk, "action": "reboot"}
        if confirm is not None:
            body["confirm"] = confirm
        response = client.post("/api/v1/server-actions/", body, format="json")
        assert response.status_code == 400
        assert "web-1" in problem_of(response)["errors"]["confirm"][0]
    assert not Job.objects.exists()
    confirmed = client.post(
        "/api/v1/server-actions/",
        {"server": web1.pk, "action": "reboot", "confirm": "web-1"},
        format="json",
    )
    assert confirmed.status_code == 202
    assert Job.objects.get().kind == "servers.reboot"


def test_quick_actions_check_scope_role_and_team(api, alice, dave, web1, theirs) -> None:  # type: ignore[no-untyped-def]
    body = {"server": web1.pk, "action": "disk_usage"}
    scoped = api(alice, "read", "write").post("/api/v1/server-actions/", body, format="json")
    assert scoped.status_code == 403
    assert "lacks the “deploy” scope" in problem_of(scoped)["detail"]
    viewer = api(dave, *EVERY_SCOPE).post("/api/v1/server-actions/", body, format="json")
    assert viewer.status_code == 403
    assert problem_of(viewer)["detail"] == "Your role in this team does not allow this."
    other = api(alice, "deploy").post(
        "/api/v1/server-actions/", {"server": theirs.pk, "action": "disk_usage"}, format="json"
    )
    assert other.status_code == 404
    unknown = api(alice, "deploy").post(
        "/api/v1/server-actions/", {"server": web1.pk, "action": "format_disk"}, format="json"
    )
    assert "action" in problem_of(unknown)["errors"]
    assert not Job.objects.exists()


def test_the_quick_actions_are_listed_with_what_they_need(api, dave) -> None:  # type: ignore[no-untyped-def]
    listed = {a["name"]: a for a in api(dave, "read").get("/api/v1/server-actions/").json()}
    assert listed["reboot"]["destructive"] is True
    assert listed["restart_service"]["needs"] == ["service"]


def test_a_quick_action_with_an_idempotency_key_queues_once(api, alice, web1) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "deploy")
    body = {"server": web1.pk, "action": "disk_usage"}
    first = client.post("/api/v1/server-actions/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = client.post("/api/v1/server-actions/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert Job.objects.count() == 1


# Bulk runs -------------------------------------------------------------------------------


def test_a_bulk_run_queues_one_job_with_a_result_per_server(api, alice, web1, web2) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "deploy")
    response = client.post(
        "/api/v1/bulk-runs/",
        {"servers": [web1.pk, web2.pk], "action": "restart_service", "service": "nginx"},
        format="json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    run = BulkRun.objects.get(pk=body["id"])
    assert run.job is not None and run.job.kind == "servers.bulk"
    assert body["job"]["id"] == run.job.pk
    assert body["summary"] == {"pending": 2}
    assert [r["server_name"] for r in body["results"]] == ["web-1", "web-2"]
    assert ActivityLog.objects.filter(action="bulk.restart_service", source="api").exists()
    BulkResult.objects.filter(run=run, server=web1).update(
        status="succeeded", exit_status=0, output="ok"
    )
    detail = client.get(f"/api/v1/bulk-runs/{run.pk}/").json()
    assert detail["summary"] == {"succeeded": 1, "pending": 1}
    assert detail["results"][0]["output"] == "ok"
    listing = client.get("/api/v1/bulk-runs/").json()
    assert [r["id"] for r in listing["results"]] == [run.pk]


def test_a_destructive_bulk_run_needs_confirm(api, alice, web1) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "deploy")
    body = {"servers": [web1.pk], "action": "reboot"}
    refused = client.post("/api/v1/bulk-runs/", body, format="json")
    assert refused.status_code == 400
    assert "needs confirmation" in str(problem_of(refused)["errors"])
    assert not BulkRun.objects.exists() and not Job.objects.exists()
    assert (
        client.post("/api/v1/bulk-runs/", {**body, "confirm": True}, format="json").status_code
        == 202
    )


def test_bulk_runs_need_the_actions_scope_and_role(api, bob, dave, web1) -> None:  # type: ignore[no-untyped-def]
    command = {"servers": [web1.pk], "action": "run_command", "command": "uptime"}
    scoped = api(bob, "read", "deploy").post("/api/v1/bulk-runs/", command, format="json")
    assert "lacks the “write” scope" in problem_of(scoped)["detail"]
    role = api(bob, *EVERY_SCOPE).post("/api/v1/bulk-runs/", command, format="json")
    assert role.status_code == 403
    assert problem_of(role)["detail"] == "Your role in this team does not allow this."
    ping = {"servers": [web1.pk], "action": "ping"}
    assert api(dave, "read").post("/api/v1/bulk-runs/", ping, format="json").status_code == 202
    assert BulkRun.objects.get().action == "ping"


def test_another_teams_servers_and_runs_are_not_found(api, alice, charlie, web1, theirs) -> None:  # type: ignore[no-untyped-def]
    response = api(alice, *EVERY_SCOPE).post(
        "/api/v1/bulk-runs/", {"servers": [web1.pk, theirs.pk], "action": "ping"}, format="json"
    )
    assert response.status_code == 400
    assert f"No such server of yours: {theirs.pk}." in problem_of(response)["errors"]["servers"]
    assert not BulkRun.objects.exists()
    mine = api(charlie, "read").post(
        "/api/v1/bulk-runs/", {"servers": [theirs.pk], "action": "ping"}, format="json"
    )
    run_id = mine.json()["id"]
    assert api(alice, "read").get(f"/api/v1/bulk-runs/{run_id}/").status_code == 404
    assert api(alice, "read").get("/api/v1/bulk-runs/").json()["count"] == 0


def test_a_bulk_run_with_an_idempotency_key_starts_once(api, alice, web1) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read")
    body = {"servers": [web1.pk], "action": "ping"}
    for _ in range(2):
        response = client.post("/api/v1/bulk-runs/", body, format="json", HTTP_IDEMPOTENCY_KEY="b")
        assert response.status_code == 202
    assert BulkRun.objects.count() == 1 and Job.objects.count() == 1


# Tags and groups -------------------------------------------------------------------------


def test_tags_are_created_changed_and_deleted(api, alice, acme, web1) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write")
    made = client.post(
        "/api/v1/tags/", {"team": acme.pk, "name": "prod", "colour": "#AA0000"}, format="json"
    )
    assert made.status_code == 201, made.content
    tag = Tag.objects.get(name="prod")
    assert made.json() == {"id": tag.pk, "team": acme.pk, "name": "prod", "colour": "#aa0000"}
    web1.tags.add(tag)
    changed = client.patch(f"/api/v1/tags/{tag.pk}/", {"name": "production"}, format="json")
    assert changed.json()["name"] == "production"
    assert ActivityLog.objects.get(action="tag.updated").source == "api"
    bad = client.patch(f"/api/v1/tags/{tag.pk}/", {"colour": "red"}, format="json")
    assert "not a colour" in str(problem_of(bad)["errors"])
    client.post("/api/v1/tags/", {"team": acme.pk, "name": "staging"}, format="json")
    clash = client.patch(f"/api/v1/tags/{tag.pk}/", {"name": "Staging"}, format="json")
    assert "already a tag named" in str(problem_of(clash)["errors"])
    assert client.delete(f"/api/v1/tags/{tag.pk}/").status_code == 204
    assert not web1.tags.exists()
    assert ActivityLog.objects.filter(action="tag.deleted").exists()


def test_groups_are_created_changed_and_deleted(api, alice, acme, web1) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write")
    made = client.post("/api/v1/groups/", {"team": acme.pk, "name": "production"}, format="json")
    assert made.status_code == 201
    group = ServerGroup.objects.get(name="production")
    Server.objects.filter(pk=web1.pk).update(group=group)
    changed = client.put(
        f"/api/v1/groups/{group.pk}/",
        {"name": "prod", "description": "Customer-facing"},
        format="json",
    )
    assert changed.status_code == 200
    group.refresh_from_db()
    assert (group.name, group.description) == ("prod", "Customer-facing")
    dup = client.post("/api/v1/groups/", {"team": acme.pk, "name": "PROD"}, format="json")
    assert "already a group named" in str(problem_of(dup)["errors"])
    assert client.delete(f"/api/v1/groups/{group.pk}/").status_code == 204
    web1.refresh_from_db()
    assert web1.group is None


def test_tags_and_groups_follow_roles_scopes_and_teams(api, alice, acme, bob, globex) -> None:  # type: ignore[no-untyped-def]
    their_tag = Tag.objects.create(team=globex, name="theirs")
    their_group = ServerGroup.objects.create(team=globex, name="theirs")
    deployer = api(bob, *EVERY_SCOPE)
    mine = {"team": acme.pk, "name": "x"}
    assert deployer.post("/api/v1/tags/", mine, format="json").status_code == 403
    assert deployer.post("/api/v1/groups/", mine, format="json").status_code == 403
    scoped = api(alice, "read").post("/api/v1/tags/", mine, format="json")
    assert "lacks the “write” scope" in problem_of(scoped)["detail"]
    owner = api(alice, *EVERY_SCOPE)
    assert (
        owner.patch(f"/api/v1/tags/{their_tag.pk}/", {"name": "m"}, format="json").status_code
        == 404
    )
    assert owner.delete(f"/api/v1/groups/{their_group.pk}/").status_code == 404
    moved = owner.post("/api/v1/tags/", {"name": "y", "team": globex.pk}, format="json")
    assert moved.status_code == 400
    assert Tag.objects.filter(team=globex).count() == 1
    assert not Tag.objects.filter(name__in=["x", "y", "m"]).exists()
    assert ServerGroup.objects.count() == 1


def test_a_tag_cannot_move_to_another_team(api, alice, acme) -> None:  # type: ignore[no-untyped-def]
    from devflow.accounts.models import Team

    other = Team.objects.create(name="Initech")
    Membership.objects.create(user=alice, team=other, role=Role.OWNER)
    tag = Tag.objects.create(team=acme, name="prod")
    response = api(alice, "read", "write").patch(
        f"/api/v1/tags/{tag.pk}/", {"team": other.pk}, format="json"
    )
    assert response.status_code == 400
    tag.refresh_from_db()
    assert tag.team_id == acme.pk


def test_the_schema_never_offers_a_private_key_in_an_answer(client, alice) -> None:  # type: ignore[no-untyped-def]
    client.force_login(alice)
    schemas = client.get("/api/v1/schema/?format=json").json()["components"]["schemas"]
    assert "private_key" not in schemas["SshKey"]["properties"]
    assert "private_key" in schemas["NewSshKeyRequest"]["properties"]
    paths = client.get("/api/v1/schema/?format=json").json()["paths"]
    assert {"/api/v1/ssh-keys/", "/api/v1/server-actions/", "/api/v1/bulk-runs/{id}/"} <= set(paths)


def test_changing_what_is_installed_needs_a_maintainer_and_the_write_scope(  # type: ignore[no-untyped-def]
    api, alice, bob, web1
) -> None:
    body = {"server": web1.pk, "action": "update_packages"}
    deployer = api(bob, *EVERY_SCOPE).post("/api/v1/server-actions/", body, format="json")
    assert deployer.status_code == 403
    assert problem_of(deployer)["detail"] == "Your role in this team does not allow this."
    deploy_only = api(alice, "deploy").post("/api/v1/server-actions/", body, format="json")
    assert deploy_only.status_code == 403
    assert "lacks the “write” scope" in problem_of(deploy_only)["detail"]
    assert not Job.objects.exists()
    owner = api(alice, "deploy", "write").post("/api/v1/server-actions/", body, format="json")
    assert owner.status_code == 202, owner.content
    assert Job.objects.get().kind == "servers.update_packages"
