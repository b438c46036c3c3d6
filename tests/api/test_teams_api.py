"""Teams through the API: create, members, invitations, roles; the owners' rules hold."""

from __future__ import annotations

import pytest

from devflow.accounts.models import Invitation, Membership
from tests.api.conftest import problem_of

pytestmark = pytest.mark.django_db


def test_a_new_team_has_its_creator_as_owner(api, alice) -> None:  # type: ignore[no-untyped-def]
    response = api(alice, "read", "write").post("/api/v1/teams/", {"name": "Ops"}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "Ops" and response.json()["role"] == "owner"


def test_members_invitations_and_roles(api, alice, bob, acme, mailoutbox) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write", "admin")
    members = client.get(f"/api/v1/teams/{acme.pk}/members/").json()
    assert {m["username"]: m["role"] for m in members} == {"alice": "owner", "bob": "deployer"}

    invitation = {"email": "dana@example.com", "role": "maintainer"}
    invited = client.post(f"/api/v1/teams/{acme.pk}/invitations/", invitation, format="json")
    assert invited.status_code == 201 and invited.json()["role"] == "maintainer"
    assert Invitation.objects.filter(email="dana@example.com").exists()
    assert "token" not in invited.content.decode()

    bob_membership = Membership.objects.get(user=bob, team=acme)
    changed = client.patch(f"/api/v1/teams/{acme.pk}/members/{bob_membership.pk}/",
                           {"role": "maintainer"}, format="json")  # fmt: skip
    assert changed.status_code == 200 and changed.json()["role"] == "maintainer"
    assert client.delete(f"/api/v1/teams/{acme.pk}/members/{bob_membership.pk}/").status_code == 204
    assert not Membership.objects.filter(user=bob, team=acme).exists()


def test_the_last_owner_cannot_step_down(api, alice, acme) -> None:  # type: ignore[no-untyped-def]
    mine = Membership.objects.get(user=alice, team=acme)
    response = api(alice, "admin").patch(
        f"/api/v1/teams/{acme.pk}/members/{mine.pk}/", {"role": "viewer"}, format="json"
    )
    assert response.status_code == 400
    assert "at least one owner" in str(problem_of(response)["errors"])


def test_a_deployer_cannot_invite_or_change_roles(api, bob, acme, alice) -> None:  # type: ignore[no-untyped-def]
    client = api(bob, "read", "write", "admin")
    response = client.post(f"/api/v1/teams/{acme.pk}/invitations/",
                           {"email": "x@example.com"}, format="json")  # fmt: skip
    assert response.status_code == 403
    owner = Membership.objects.get(user=alice, team=acme)
    assert client.delete(f"/api/v1/teams/{acme.pk}/members/{owner.pk}/").status_code == 403
    assert not Invitation.objects.exists()


def test_another_teams_members_are_404(api, charlie, acme, alice) -> None:  # type: ignore[no-untyped-def]
    client = api(charlie, "read", "write", "admin")
    assert client.get(f"/api/v1/teams/{acme.pk}/members/").status_code == 404
    owner = Membership.objects.get(user=alice, team=acme)
    assert client.delete(f"/api/v1/teams/{acme.pk}/members/{owner.pk}/").status_code == 404
