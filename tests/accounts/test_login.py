"""Sign-in: wrong passwords, lockouts, two-factor, sessions."""

from __future__ import annotations

import pyotp
import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from devflow.accounts import twofactor
from devflow.accounts.models import LoginAttempt
from devflow.core.models import ActivityLog
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _admin_exists(alice):  # type: ignore[no-untyped-def]
    alice.is_superuser = True
    alice.save()


def sign_in(client: Client, username: str, password: str, **extra):  # type: ignore[no-untyped-def]
    return client.post("/login/", {"username": username, "password": password}, **extra)


def test_right_password_signs_in_and_is_logged(client, alice):
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 302 and response.url == "/"
    assert client.session[SESSION_KEY] == str(alice.pk)
    assert ActivityLog.objects.filter(action="login.succeeded", actor=alice).exists()


def test_e_mail_works_as_username(client, alice):
    assert sign_in(client, "ALICE@example.com", PASSWORD).status_code == 302


def test_wrong_password_says_so_without_telling_which_part(client, alice):
    response = sign_in(client, "alice", "nope")
    assert response.status_code == 200
    assert b"Wrong username or password." in response.content
    assert SESSION_KEY not in client.session


def test_an_account_is_locked_after_repeated_failures_even_with_the_right_password(
    client, alice, settings
):
    settings.DEVFLOW_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        sign_in(client, "alice", "wrong", REMOTE_ADDR=f"10.0.0.{_}")
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many failed sign-ins for this account" in response.content
    assert SESSION_KEY not in client.session
    assert ActivityLog.objects.filter(action="login.locked_out", result="denied").exists()


def test_an_address_is_locked_after_failures_across_accounts(client, alice, bob, settings):
    settings.DEVFLOW_LOGIN_MAX_FAILURES_PER_ADDRESS = 4
    for name in ("x1", "x2", "x3", "x4"):
        sign_in(client, name, "wrong")
    response = sign_in(client, "bob", PASSWORD)
    assert response.status_code == 429
    assert b"Too many failed sign-ins from your address" in response.content
    other = Client(REMOTE_ADDR="127.0.0.9")
    assert sign_in(other, "bob", PASSWORD).status_code == 302


def test_a_success_clears_the_accounts_failures(client, alice, settings):
    settings.DEVFLOW_LOGIN_MAX_FAILURES = 3
    sign_in(client, "alice", "wrong")
    sign_in(client, "alice", "wrong")
    assert sign_in(client, "alice", PASSWORD).status_code == 302
    assert not LoginAttempt.objects.filter(username="alice", succeeded=False).exists()


def enable_2fa(user) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    secret = twofactor.new_secret()
    codes = twofactor.enable(user, secret, pyotp.TOTP(secret).now())
    return secret, codes


def test_two_factor_asks_for_a_code_after_the_password(client, alice):
    secret, _ = enable_2fa(alice)
    response = sign_in(client, "alice", PASSWORD)
    assert response.url == "/login/2fa/"
    assert SESSION_KEY not in client.session
    bad = client.post("/login/2fa/", {"code": "000000"})
    assert b"That code is not valid." in bad.content
    good = client.post("/login/2fa/", {"code": pyotp.TOTP(secret).now()})
    assert good.status_code == 302
    assert client.session[SESSION_KEY] == str(alice.pk)


def test_a_recovery_code_works_once(client, alice):
    _, codes = enable_2fa(alice)
    sign_in(client, "alice", PASSWORD)
    assert client.post("/login/2fa/", {"code": codes[0]}).status_code == 302
    client.logout()
    sign_in(client, "alice", PASSWORD)
    again = client.post("/login/2fa/", {"code": codes[0]})
    assert b"That code is not valid." in again.content


def test_the_2fa_page_without_a_password_step_goes_back_to_login(client, alice):
    assert client.get("/login/2fa/").url == "/login/"


def test_enabling_2fa_needs_a_matching_code_and_shows_recovery_codes(alice_client, alice):
    page = alice_client.get("/profile/2fa/")
    secret = alice_client.session["totp_pending_secret"]
    assert b"<svg" in page.content
    wrong = alice_client.post("/profile/2fa/", {"code": "123456"})
    assert b"That code does not match" in wrong.content
    done = alice_client.post("/profile/2fa/", {"code": pyotp.TOTP(secret).now()})
    assert done.content.count(b"<li>") >= 10
    alice.refresh_from_db()
    assert alice.totp_enabled


def test_changing_the_password_signs_out_other_sessions(alice):
    here, elsewhere = Client(), Client()
    here.force_login(alice)
    elsewhere.force_login(alice)
    response = here.post(
        "/profile/",
        {
            "pw-old_password": PASSWORD,
            "pw-new_password1": "another long passphrase 2",
            "pw-new_password2": "another long passphrase 2",
        },
    )
    assert response.status_code == 302
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302  # sent to the login page


def test_sessions_expire(settings):
    from devflow import settings as devflow_settings

    assert devflow_settings.SESSION_COOKIE_AGE == 12 * 60 * 60
    assert settings.SESSION_COOKIE_HTTPONLY


def test_logout_needs_post(alice_client):
    assert alice_client.get("/logout/").status_code == 405
    assert alice_client.post("/logout/").url == "/login/"
