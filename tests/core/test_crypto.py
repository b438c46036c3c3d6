from __future__ import annotations

import io
import os
import sqlite3
import stat

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from devflow.accounts.models import User
from devflow.core import crypto, keyrotation

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def stored_value(user: User) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT totp_secret FROM accounts_user WHERE id = %s", [user.pk])
        return cursor.fetchone()[0]


def test_secret_is_stored_encrypted_and_read_back_in_clear(alice):
    alice.totp_secret = SECRET
    alice.save()
    raw = stored_value(alice)
    assert SECRET not in raw
    assert raw.startswith("fernet:")
    assert User.objects.get(pk=alice.pk).totp_secret == SECRET


def test_dumpdata_masks_secrets(alice):
    alice.totp_secret = SECRET
    alice.save()
    out = io.StringIO()
    call_command("dumpdata", "accounts.user", stdout=out)
    assert SECRET not in out.getvalue()
    assert crypto.MASK in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_database_dump_holds_no_secret_in_clear(alice):
    alice.totp_secret = SECRET
    alice.save()
    if connection.vendor == "sqlite":
        dump = "\n".join(sqlite3.connect(connection.settings_dict["NAME"]).iterdump())
    else:
        import subprocess

        settings_dict = connection.settings_dict
        dump = subprocess.run(
            [
                "pg_dump",
                "-h",
                settings_dict["HOST"],
                "-p",
                str(settings_dict["PORT"]),
                "-U",
                settings_dict["USER"],
                settings_dict["NAME"],
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    assert "accounts_user" in dump
    assert SECRET not in dump


def test_key_file_is_created_owner_only(db, tmp_path, settings):
    path = tmp_path / "keys"
    settings.DEVFLOW_SECRET_KEY_FILE = path
    crypto.ensure_keys()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    Fernet(path.read_text().strip().encode())  # a valid key


def test_missing_key_file_with_stored_secrets_is_a_clear_error(alice, tmp_path, settings):
    alice.totp_secret = SECRET
    alice.save()
    settings.DEVFLOW_SECRET_KEY_FILE = tmp_path / "gone.keys"
    crypto.fernet.cache_clear()
    with pytest.raises(crypto.SecretKeyError, match="missing but 1 encrypted secret"):
        crypto.ensure_keys()
    assert not (tmp_path / "gone.keys").exists()


def test_corrupt_key_file_is_a_clear_error(db, tmp_path, settings):
    path = tmp_path / "bad.keys"
    path.write_text("not-a-key\n")
    settings.DEVFLOW_SECRET_KEY_FILE = path
    crypto.fernet.cache_clear()
    with pytest.raises(crypto.SecretKeyError, match="not a valid Fernet key"):
        crypto.ensure_keys()


def test_a_replaced_key_cannot_read_old_secrets_and_says_so(alice, tmp_path, settings):
    alice.totp_secret = SECRET
    alice.save()
    other = tmp_path / "other.keys"
    crypto.create_key_file(other)
    settings.DEVFLOW_SECRET_KEY_FILE = other
    crypto.fernet.cache_clear()
    with pytest.raises(crypto.SecretKeyError, match="cannot be decrypted"):
        User.objects.get(pk=alice.pk)


def test_keys_from_the_environment_take_precedence(alice, settings):
    key = Fernet.generate_key().decode()
    settings.DEVFLOW_SECRET_KEYS = key
    crypto.fernet.cache_clear()
    alice.totp_secret = SECRET
    alice.save()
    token = stored_value(alice).removeprefix("fernet:")
    assert Fernet(key.encode()).decrypt(token.encode()).decode() == SECRET


def test_rotate_keys_reencrypts_with_the_new_key_and_drops_the_old(alice, tmp_path, settings):
    path = tmp_path / "rot.keys"
    crypto.create_key_file(path)
    settings.DEVFLOW_SECRET_KEY_FILE = path
    crypto.fernet.cache_clear()
    old_key = path.read_text().strip()
    alice.totp_secret = SECRET
    alice.save()
    before = stored_value(alice)

    assert keyrotation.rotate(add_key=True, drop_old=True) == 1

    lines = path.read_text().split()
    assert len(lines) == 1 and lines[0] != old_key
    assert stored_value(alice) != before
    crypto.fernet.cache_clear()
    assert User.objects.get(pk=alice.pk).totp_secret == SECRET
    with pytest.raises(Exception):
        Fernet(old_key.encode()).decrypt(stored_value(alice).removeprefix("fernet:").encode())


def test_rotation_with_keys_from_the_environment_uses_the_new_first_key(alice, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.DEVFLOW_SECRET_KEYS = old
    crypto.fernet.cache_clear()
    alice.totp_secret = SECRET
    alice.save()
    settings.DEVFLOW_SECRET_KEYS = f"{new},{old}"  # the operator puts the new key first
    crypto.fernet.cache_clear()
    assert keyrotation.rotate() == 1
    token = stored_value(alice).removeprefix("fernet:")
    assert Fernet(new.encode()).decrypt(token.encode()).decode() == SECRET


def test_a_process_with_old_keys_reloads_them_after_another_rotated(alice, tmp_path, settings):
    path = tmp_path / "shared.keys"
    crypto.create_key_file(path)
    settings.DEVFLOW_SECRET_KEY_FILE = path
    crypto.fernet.cache_clear()
    alice.totp_secret = SECRET
    alice.save()
    crypto.fernet()  # this process has loaded the old key
    new_key = Fernet.generate_key()
    crypto.write_key_file(path, new_key.decode() + "\n" + path.read_text())
    token = Fernet(new_key).encrypt(SECRET.encode()).decode()
    with connection.cursor() as cursor:  # what the other process's rotation wrote
        cursor.execute(
            "UPDATE accounts_user SET totp_secret = %s WHERE id = %s", ["fernet:" + token, alice.pk]
        )
    assert User.objects.get(pk=alice.pk).totp_secret == SECRET


def test_web_and_worker_never_create_a_key_file_of_their_own(db, tmp_path, settings):
    settings.DEVFLOW_SECRET_KEY_FILE = tmp_path / "absent.keys"
    with pytest.raises(crypto.SecretKeyError, match="copy it from the first one"):
        crypto.load_keys()
    assert not (tmp_path / "absent.keys").exists()


def test_the_admin_never_shows_a_secret(client, alice):
    alice.is_superuser = alice.is_staff = True
    alice.totp_secret = SECRET
    alice.save()
    client.force_login(alice)
    page = client.get(f"/admin/accounts/user/{alice.pk}/change/")
    assert page.status_code == 200
    assert SECRET not in page.content.decode()
