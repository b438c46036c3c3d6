from __future__ import annotations

import pytest

from devflow.accounts.choices import Action, Role
from devflow.accounts.models import Membership, Team
from devflow.core.models import Job
from devflow.core.tenancy import can

EXPECTED = {
    Role.VIEWER: {Action.VIEW},
    Role.DEPLOYER: {Action.VIEW, Action.DEPLOY},
    Role.MAINTAINER: {Action.VIEW, Action.DEPLOY, Action.EDIT},
    Role.OWNER: {Action.VIEW, Action.DEPLOY, Action.EDIT, Action.ADMINISTER},
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_may_do_exactly_its_actions(role, acme, bob, charlie):
    Membership.objects.filter(user=bob, team=acme).update(role=role)
    job = Job.objects.create(team=acme, kind="tests.steps")
    for action in Action:
        assert can(bob, action, job) is (action in EXPECTED[role]), (role, action)
        assert Job.objects.for_user(bob, action).filter(pk=job.pk).exists() is (
            action in EXPECTED[role]
        )


def test_another_teams_rows_are_invisible(acme, globex, alice, charlie):
    mine = Job.objects.create(team=acme, kind="tests.steps")
    theirs = Job.objects.create(team=globex, kind="tests.steps")
    assert list(Job.objects.for_user(alice)) == [mine]
    assert not can(alice, Action.VIEW, theirs)
    assert list(Team.objects.for_user(alice).values_list("name", flat=True)) == [
        "Acme",
        "alice's team",
    ]


def test_anonymous_and_inactive_users_see_nothing(acme, alice):
    from django.contrib.auth.models import AnonymousUser

    Job.objects.create(team=acme, kind="tests.steps")
    assert not Job.objects.for_user(AnonymousUser()).exists()
    alice.is_active = False
    alice.save()
    assert not Job.objects.for_user(alice).exists()
    assert not can(alice, Action.VIEW, acme)
