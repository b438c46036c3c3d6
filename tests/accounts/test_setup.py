"""First run is safe: no default password, a one-time token, a 404 once an admin exists."""

from __future__ import annotations

import os
import stat

import pytest

from devflow.accounts import services
from devflow.accounts.models import User
from devflow.core.models import ActivityLog

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _token_file(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.DEVFLOW_SETUP_TOKEN_FILE = tmp_path / "setup-token"


def form(token: str, **overrides: str) -> dict[str, str]:
    data = {
        "token": token,
        "username": "admin",
        "email": "admin@example.com",
        "password": "a long unusual passphrase",
        "password_again": "a long unusual passphrase",
    }
    data.update(overrides)
    return data


def test_the_token_is_kept_owner_only_and_stays_the_same_until_used(settings):
    token = services.issue_setup_token()
    assert token and len(token) >= 24
    assert services.issue_setup_token() == token
    mode = stat.S_IMODE(os.stat(settings.DEVFLOW_SETUP_TOKEN_FILE).st_mode)
    assert mode == 0o600


def test_setup_with_the_token_creates_the_admin_and_their_team(client, settings):
    token = services.issue_setup_token()
    response = client.post("/setup/", form(token), follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"Welcome!" in response.content
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.memberships.get().role == "owner"
    assert not settings.DEVFLOW_SETUP_TOKEN_FILE.exists()
    assert ActivityLog.objects.filter(action="setup.admin_created", actor=admin).exists()


def test_a_wrong_token_is_refused_and_creates_nothing(client):
    services.issue_setup_token()
    response = client.post("/setup/", form("not-the-token"))
    assert response.status_code == 200
    assert b"The setup token is wrong or was already used." in response.content
    assert not User.objects.exists()


def test_a_weak_password_is_refused_with_the_reason(client):
    token = services.issue_setup_token()
    response = client.post("/setup/", form(token, password="short", password_again="short"))
    assert b"This password is too short" in response.content
    assert not User.objects.exists()


def test_setup_page_is_a_404_once_an_admin_exists(client):
    token = services.issue_setup_token()
    client.post("/setup/", form(token))
    client.logout()
    assert client.get("/setup/").status_code == 404
    assert client.post("/setup/", form(token, username="evil")).status_code == 404
    assert services.issue_setup_token() is None


def test_login_redirects_to_setup_until_an_admin_exists(client):
    assert client.get("/login/").url == "/setup/"


def test_pages_need_a_signed_in_user(client, alice):
    for path in ("/", "/jobs/", "/activity/", "/settings/", "/teams/", "/profile/"):
        response = client.get(path)
        assert response.status_code == 302 and response.url.startswith("/login/"), path
