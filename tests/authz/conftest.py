"""The matrix's people: Acme's viewer and maintainer, besides alice (owner), bob (deployer)
and charlie (owner of Globex) from tests/conftest.py; and no queue, no throttling."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from devflow.accounts import services
from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, Team, User
from tests.conftest import PASSWORD


def _member(team: Team, role: str, username: str) -> User:
    user = services.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD
    )
    Membership.objects.create(user=user, team=team, role=role)
    user.last_team = team
    user.save(update_fields=["last_team"])
    return user


@pytest.fixture
def vera(acme) -> User:  # type: ignore[no-untyped-def]
    """Viewer in Acme."""
    return _member(acme, Role.VIEWER, "vera")


@pytest.fixture
def max_(acme) -> User:  # type: ignore[no-untyped-def]
    """Maintainer in Acme."""
    return _member(acme, Role.MAINTAINER, "max")


@pytest.fixture(autouse=True)
def _no_queue_no_throttle(monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    """Jobs are rows only (nothing runs, nothing connects); the API never throttles here."""
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)
    settings.DEVFLOW_API_RATE_PER_TOKEN = "1000000/min"
    settings.DEVFLOW_API_RATE_PER_ADDRESS = "1000000/min"
    cache.clear()
