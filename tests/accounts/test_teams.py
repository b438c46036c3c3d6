"""Teams, members, roles and invitations through the pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.utils import timezone

from devflow.accounts import services
from devflow.accounts.models import Invitation, Membership, Team, User
from devflow.core.models import ActivityLog, Job
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def invite(client: Client, team: Team, email: str, role: str = "viewer"):  # type: ignore[no-untyped-def]
    # The e-mail leaves once the transaction commits; run those callbacks here.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(f"/teams/{team.pk}/", {"email": email, "role": role}, follow=True)


def link_from_mail() -> str:
    body = mail.outbox[-1].body
    return next(word for word in body.split() if "/invitations/" in word)


def test_a_new_user_gets_a_personal_team_they_own(db):
    user = services.create_user(username="dora", email="dora@example.com", password=PASSWORD)
    membership = Membership.objects.get(user=user)
    assert membership.team.personal and membership.role == "owner"


def test_creating_a_team_makes_you_owner_and_switches_to_it(alice_client, alice):
    response = alice_client.post("/teams/", {"name": "Initech"}, follow=True)
    team = Team.objects.get(name="Initech")
    assert Membership.objects.get(user=alice, team=team).role == "owner"
    assert b"Team Initech created" in response.content
    assert alice_client.session["team_id"] == team.pk


def test_an_invitation_is_mailed_and_accepted_by_creating_an_account(alice_client, acme):
    response = invite(alice_client, acme, "dave@example.com", "deployer")
    assert b"Invitation sent to dave@example.com." in response.content
    assert mail.outbox[-1].to == ["dave@example.com"]
    link = link_from_mail()
    assert link.startswith("http://testserver/invitations/")
    stranger = Client()
    page = stranger.get(link)
    assert b"Join Acme" in page.content and b"deployer" in page.content
    joined = stranger.post(
        link,
        {
            "username": "dave",
            "password": "a long unusual passphrase",
            "password_again": "a long unusual passphrase",
        },
        follow=True,
    )
    assert b"You joined Acme." in joined.content
    dave = User.objects.get(username="dave")
    assert dave.email == "dave@example.com"
    assert Membership.objects.get(user=dave, team=acme).role == "deployer"
    actions = set(ActivityLog.objects.filter(team=acme).values_list("action", flat=True))
    assert {"invitation.sent", "invitation.accepted"} <= actions


def test_an_invitation_works_only_once(alice_client, acme):
    invite(alice_client, acme, "dave@example.com")
    link = link_from_mail()
    data = {
        "username": "dave",
        "password": "a long unusual passphrase",
        "password_again": "a long unusual passphrase",
    }
    Client().post(link, data)
    again = Client().get(link)
    assert again.status_code == 410
    assert b"This invitation was already used." in again.content


def test_an_expired_invitation_says_so(alice_client, acme):
    invite(alice_client, acme, "dave@example.com")
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    response = Client().get(link_from_mail())
    assert response.status_code == 410
    assert b"This invitation has expired; ask for a new one." in response.content


def test_an_invitation_is_bound_to_its_address(alice_client, acme, charlie):
    invite(alice_client, acme, "dave@example.com")
    client = Client()
    client.force_login(charlie)
    response = client.post(link_from_mail(), follow=True)
    assert b"This invitation is for dave@example.com" in response.content
    assert not Membership.objects.filter(user=charlie, team=acme).exists()


def test_a_signed_in_invitee_accepts_with_one_click(alice_client, acme, charlie):
    invite(alice_client, acme, "charlie@example.com", "maintainer")
    client = Client()
    client.force_login(charlie)
    client.post(link_from_mail())
    assert Membership.objects.get(user=charlie, team=acme).role == "maintainer"


def test_nobody_invites_above_their_own_role(acme, bob, alice):
    Membership.objects.filter(user=bob).update(role="maintainer")
    client = Client()
    client.force_login(bob)
    response = invite(client, acme, "eve@example.com", "owner")
    assert b"cannot invite someone as owner" in response.content
    assert not Invitation.objects.exists()
    with pytest.raises(services.AccountError, match="cannot invite someone as owner"):
        services.invite(bob, acme, "eve@example.com", "owner")


def test_deployers_and_viewers_cannot_invite(acme, bob):
    with pytest.raises(services.AccountError, match=r"Only maintainers and owners may invite\."):
        services.invite(bob, acme, "eve@example.com", "viewer")


def test_an_owner_changes_roles_but_not_away_the_last_owner(alice_client, acme, alice, bob):
    bob_membership = Membership.objects.get(user=bob, team=acme)
    alice_client.post(f"/teams/{acme.pk}/members/{bob_membership.pk}/role/", {"role": "maintainer"})
    bob_membership.refresh_from_db()
    assert bob_membership.role == "maintainer"
    own = Membership.objects.get(user=alice, team=acme)
    response = alice_client.post(
        f"/teams/{acme.pk}/members/{own.pk}/role/", {"role": "viewer"}, follow=True
    )
    assert b"A team needs at least one owner" in response.content
    own.refresh_from_db()
    assert own.role == "owner"


def test_a_non_owner_cannot_change_roles(acme, alice, bob):
    client = Client()
    client.force_login(bob)
    own = Membership.objects.get(user=bob, team=acme)
    response = client.post(
        f"/teams/{acme.pk}/members/{own.pk}/role/", {"role": "owner"}, follow=True
    )
    assert b"Only an owner of the team may do that." in response.content
    own.refresh_from_db()
    assert own.role == "deployer"


def test_an_owner_removes_a_member_and_a_member_can_leave(alice_client, acme, bob):
    membership = Membership.objects.get(user=bob, team=acme)
    response = alice_client.post(f"/teams/{acme.pk}/members/{membership.pk}/remove/", follow=True)
    assert b"bob was removed from Acme." in response.content
    assert not Membership.objects.filter(user=bob, team=acme).exists()


def test_another_teams_pages_and_objects_are_404(alice_client, globex):
    job = Job.objects.create(team=globex, kind="tests.steps")
    assert alice_client.get(f"/teams/{globex.pk}/").status_code == 404
    assert alice_client.post(f"/teams/{globex.pk}/switch/").status_code == 404
    assert alice_client.get(f"/jobs/{job.pk}/").status_code == 404
    assert alice_client.get(f"/jobs/{job.pk}/log").status_code == 404
    assert alice_client.post(f"/jobs/{job.pk}/cancel").status_code == 404
    assert alice_client.get("/teams/999999/").status_code == 404


def test_switching_team_changes_what_the_pages_show(alice_client, alice, acme):
    other = services.create_team(alice, "Second")
    Job.objects.create(team=acme, kind="tests.steps", target_label="in-acme")
    Job.objects.create(team=other, kind="tests.steps", target_label="in-second")
    alice_client.post(f"/teams/{acme.pk}/switch/")
    assert b"in-acme" in alice_client.get("/jobs/").content
    alice_client.post(f"/teams/{other.pk}/switch/")
    page = alice_client.get("/jobs/").content
    assert b"in-second" in page and b"in-acme" not in page
