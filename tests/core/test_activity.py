"""The activity log: append-only, per team, filtered, free of secrets."""

from __future__ import annotations

import pytest

from devflow.core import audit
from devflow.core.models import ActivityLog
from devflow.core.models.activity import AppendOnlyError

pytestmark = pytest.mark.django_db


def test_rows_cannot_be_edited_or_deleted(alice, acme):
    row = audit.record("server.created", actor=alice, team=acme, target_label="web-1")
    row.action = "forged"
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        ActivityLog.objects.filter(pk=row.pk).update(action="forged")
    with pytest.raises(AppendOnlyError):
        ActivityLog.objects.all().delete()
    assert ActivityLog.objects.get(pk=row.pk).action == "server.created"


def test_rows_survive_the_deletion_of_their_team(alice, acme):
    audit.record("team.created", actor=alice, team=acme, target=acme)
    acme.delete()
    row = ActivityLog.objects.get(action="team.created")
    assert row.team is None and row.team_name == "Acme"


def test_the_page_shows_only_the_current_teams_rows_with_filters(
    alice_client, alice, acme, globex, charlie
):
    audit.record("invitation.sent", actor=alice, team=acme, target_label="dave@example.com")
    audit.record("login.locked_out", team=acme, result="denied", target_label="mallory")
    audit.record("team.created", actor=charlie, team=globex, target_label="Globex secret plan")
    page = alice_client.get("/activity/").content.decode()
    assert "invitation.sent" in page and "login.locked_out" in page
    assert "Globex secret plan" not in page
    filtered = alice_client.get("/activity/?result=denied").content.decode()
    assert "login.locked_out" in filtered and "invitation.sent" not in filtered
    by_actor = alice_client.get("/activity/?actor=ali").content.decode()
    assert "invitation.sent" in by_actor and "login.locked_out" not in by_actor


def test_the_empty_state_says_what_the_page_is_for(alice_client):
    page = alice_client.get("/activity/?action=nothing-like-this").content.decode()
    assert "No activity matches" in page


def test_two_factor_changes_are_logged_without_the_secret(alice_client, alice):
    import pyotp

    alice_client.get("/profile/2fa/")
    secret = alice_client.session["totp_pending_secret"]
    alice_client.post("/profile/2fa/", {"code": pyotp.TOTP(secret).now()})
    row = ActivityLog.objects.get(action="user.two_factor_enabled")
    assert secret not in str(row.details) and secret not in row.target_label
