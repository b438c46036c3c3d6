"""Server pages through the Django test client (jobs are queued, not run, here)."""

from __future__ import annotations

import pytest
from django.test import TestCase

from devflow.accounts.models import Membership
from devflow.core.models import ActivityLog, Job
from devflow.servers import keys, labels
from devflow.servers.models import BulkRun, Server, SshKey, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_queue(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)


@pytest.fixture
def key(acme, alice) -> SshKey:  # type: ignore[no-untyped-def]
    return keys.generate_key(alice, acme, "main")


@pytest.fixture
def web1(acme, alice, key) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(
        team=acme, name="web-1", host="10.0.0.5", ssh_key=key, created_by=alice
    )


def post(client, path: str, data: dict | None = None):  # type: ignore[no-untyped-def]
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(path, data or {}, follow=True)


def test_the_empty_list_offers_to_add_a_server_or_this_machine(alice_client):
    page = alice_client.get("/servers/").content.decode()
    assert "No servers yet" in page and "Add this machine" in page


def test_adding_needs_a_key_first(alice_client):
    response = alice_client.get("/servers/add/", follow=True)
    assert b"First create or import the SSH key" in response.content


def test_adding_a_server_queues_its_check(alice_client, key, acme):
    response = post(
        alice_client,
        "/servers/add/",
        {
            "name": "web-2",
            "host": "web2.example.com",
            "port": 2222,
            "username": "deploy",
            "ssh_key": key.pk,
            "ping_enabled": "on",
        },
    )
    server = Server.objects.get(name="web-2")
    assert server.address == "deploy@web2.example.com:2222"
    job = Job.objects.get(kind="servers.check")
    assert job.params == {"server_id": server.pk}
    assert f"Checking the connection (job #{job.pk})".encode() in response.content
    assert ActivityLog.objects.filter(action="server.created").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("host", "-oProxyCommand=evil", "is not a host name or IP address"),
        ("host", "a b", "is not a host name or IP address"),
        ("username", "Root;id", "is not a valid user name"),
        ("name", "WEB-1", "There is already a server named"),
    ],
)
def test_bad_server_input_is_refused_with_a_reason(alice_client, key, web1, field, value, message):
    data = {"name": "new", "host": "1.2.3.4", "port": 22, "username": "root", "ssh_key": key.pk}
    data[field] = value
    response = post(alice_client, "/servers/add/", data)
    assert message in response.content.decode()
    assert not Server.objects.filter(name="new").exists()


def test_adding_this_machine_once(alice_client, acme):
    post(alice_client, "/servers/add-local/")
    assert Server.objects.get(team=acme, is_local=True).address == "this machine"
    again = post(alice_client, "/servers/add-local/")
    assert b"already one of the team" in again.content


def test_list_filters_by_text_status_tag_and_group(alice_client, alice, acme, key, web1):
    db = Server.objects.create(team=acme, name="db-1", host="10.0.0.6", ssh_key=key, status="down")
    tag = labels.create_tag(alice, acme, "prod", "#ff0000")
    group = labels.create_group(alice, acme, "eu")
    web1.tags.add(tag)
    db.group = group
    db.save()

    def names(query: str) -> set[str]:
        page = alice_client.get(f"/servers/?{query}").content.decode()
        return {n for n in ("web-1", "db-1") if f'data-testid="server-{n}"' in page}

    assert names("") == {"web-1", "db-1"}
    assert names("q=db") == {"db-1"}
    assert names("status=down") == {"db-1"}
    assert names(f"tag={tag.pk}") == {"web-1"}
    assert names(f"group={group.pk}") == {"db-1"}


def test_quick_actions_queue_jobs_and_validate_input(alice_client, web1):
    response = post(
        alice_client, f"/servers/{web1.pk}/actions/restart_service/", {"service": "nginx; reboot"}
    )
    assert b"is not a systemd unit name" in response.content
    assert not Job.objects.filter(kind="servers.restart_service").exists()
    post(alice_client, f"/servers/{web1.pk}/actions/restart_service/", {"service": "nginx"})
    assert Job.objects.get(kind="servers.restart_service").params["service"] == "nginx"
    refused = post(alice_client, f"/servers/{web1.pk}/actions/reboot/", {"confirm": "nope"})
    assert b"type the server&#x27;s name" in refused.content
    assert not Job.objects.filter(kind="servers.reboot").exists()
    post(alice_client, f"/servers/{web1.pk}/actions/reboot/", {"confirm": "web-1"})
    assert Job.objects.filter(kind="servers.reboot").exists()


def test_viewers_see_but_cannot_act(client, bob, web1):
    Membership.objects.filter(user=bob).update(role="viewer")
    client.force_login(bob)
    page = client.get(f"/servers/{web1.pk}/").content.decode()
    assert "web-1" in page and "Quick actions" not in page
    refused = client.post(f"/servers/{web1.pk}/check/")
    # The server exists for a teammate: the answer says the role is the reason, not "not found".
    assert refused.status_code == 403
    assert "You do not have permission to do this in Acme." in refused.content.decode()
    assert client.post(f"/servers/{web1.pk}/delete/").status_code == 403
    assert client.get("/servers/add/").status_code == 403


def test_another_teams_servers_keys_and_runs_are_404(client, charlie, web1, key, alice, acme):
    run = BulkRun.objects.create(team=acme, action="ping", created_by=alice)
    client.force_login(charlie)
    for path in (
        f"/servers/{web1.pk}/",
        f"/servers/{web1.pk}/edit/",
        f"/servers/keys/{key.pk}/",
        f"/servers/bulk/{run.pk}/",
    ):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/servers/keys/{key.pk}/download/").status_code == 404
    assert "web-1" not in client.get("/servers/").content.decode()


def test_generate_and_import_keys_and_show_the_public_half(alice_client, acme, shared_sshd):
    post(
        alice_client,
        "/servers/keys/",
        {"generate": "1", "gen-name": "rsa", "gen-algorithm": "ssh-rsa"},
    )
    rsa = SshKey.objects.get(name="rsa")
    assert rsa.public_key.startswith("ssh-rsa ") and rsa.fingerprint.startswith("SHA256:")
    page = alice_client.get(f"/servers/keys/{rsa.pk}/").content.decode()
    assert rsa.public_key in page and "BEGIN OPENSSH PRIVATE KEY" not in page
    bad = post(
        alice_client,
        "/servers/keys/",
        {"import": "1", "imp-name": "x", "imp-private_key": "not a key"},
    )
    assert "not a usable private key" in bad.content.decode()
    post(
        alice_client,
        "/servers/keys/",
        {
            "import": "1",
            "imp-name": "imported",
            "imp-private_key": shared_sshd.client_key.read_text(),
        },
    )
    assert SshKey.objects.filter(name="imported").exists()
    dup = post(
        alice_client,
        "/servers/keys/",
        {"generate": "1", "gen-name": "RSA", "gen-algorithm": "ssh-ed25519"},
    )
    assert "already a key named" in dup.content.decode()


def test_only_owners_download_private_keys_and_it_is_logged(alice_client, bob, key):
    from django.test import Client

    Membership.objects.filter(user=bob).update(role="maintainer")
    maintainer = Client()
    maintainer.force_login(bob)
    assert maintainer.post(f"/servers/keys/{key.pk}/download/").status_code == 403
    response = alice_client.post(f"/servers/keys/{key.pk}/download/")
    assert response.status_code == 200
    assert response.content.decode() == key.private_key
    assert response["Cache-Control"] == "no-store"
    assert ActivityLog.objects.filter(action="ssh_key.downloaded").count() == 1


def test_a_key_in_use_cannot_be_deleted(alice_client, key, web1):
    response = post(alice_client, f"/servers/keys/{key.pk}/delete/")
    assert b"Servers still log in with main: web-1" in response.content
    assert SshKey.objects.filter(pk=key.pk).exists()


def test_tags_groups_and_bulk_tagging(alice_client, acme, key, web1):
    post(
        alice_client, "/servers/labels/", {"tag": "1", "tag-name": "prod", "tag-colour": "#00aa00"}
    )
    clash = post(
        alice_client, "/servers/labels/", {"tag": "1", "tag-name": "PROD", "tag-colour": "#00aa00"}
    )
    assert "already a tag named" in clash.content.decode()
    bad = post(alice_client, "/servers/labels/", {"tag": "1", "tag-name": "x", "tag-colour": "red"})
    assert "is not a colour" in bad.content.decode()
    tag = Tag.objects.get(name="prod")
    post(
        alice_client, "/servers/bulk/start/", {"action": "tag", "tag": tag.pk, "server": [web1.pk]}
    )
    assert list(web1.tags.all()) == [tag]
    assert "prod" in alice_client.get("/servers/").content.decode()


def test_bulk_from_the_list_creates_a_run_with_a_row_per_server(alice_client, acme, key, web1):
    other = Server.objects.create(team=acme, name="web-3", host="10.0.0.7", ssh_key=key)
    response = post(
        alice_client,
        "/servers/bulk/start/",
        {"action": "run_command", "command": "uptime", "server": [web1.pk, other.pk]},
    )
    run = BulkRun.objects.get()
    assert run.params == {"command": "uptime", "sudo": False}
    assert run.results.count() == 2
    assert b"Run a command started on 2 server(s)." in response.content
    assert b'data-testid="bulk-row-web-3"' in response.content


def test_key_page_deploys_to_selected_servers_and_rotates(alice_client, acme, key, web1):
    other = keys.generate_key(None, acme, "ci")
    response = post(alice_client, f"/servers/keys/{other.pk}/deploy/", {"server": [web1.pk]})
    run = BulkRun.objects.get()
    assert run.action == "deploy_key" and run.params["public_key"] == other.public_key
    assert b"Deploy an SSH key on 1 server" in response.content
    refused = post(
        alice_client, f"/servers/keys/{key.pk}/deploy/", {"server": [web1.pk], "remove": "1"}
    )
    assert b"would lock DevFlow Pro out" in refused.content
    unused = post(alice_client, f"/servers/keys/{other.pk}/rotate/")
    assert b"No server logs in with ci" in unused.content
    post(alice_client, f"/servers/keys/{key.pk}/rotate/")
    assert Job.objects.get(kind="servers.rotate_key").params == {"key_id": key.pk}


def test_deployers_run_routine_actions_but_not_package_changes(client, bob, web1):
    client.force_login(bob)
    page = client.get(f"/servers/{web1.pk}/").content.decode()
    assert "Disk usage" in page and "Restart a service" in page
    assert "Update packages" not in page and "Install Docker" not in page
    refused = client.post(f"/servers/{web1.pk}/actions/update_packages/")
    assert refused.status_code == 403
    assert not Job.objects.exists()
    assert client.post(f"/servers/{web1.pk}/actions/disk_usage/").status_code == 302
    assert Job.objects.get().kind == "servers.disk_usage"
