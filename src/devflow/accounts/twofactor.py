"""TOTP two-factor authentication with single-use recovery codes."""

from __future__ import annotations

import hmac
import secrets

import pyotp
import qrcode
import qrcode.image.svg
from django.db import transaction
from django.utils import timezone

from devflow.accounts.models import RecoveryCode, User, hash_token

RECOVERY_CODE_COUNT = 10


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="DevFlow Pro")


def qr_svg(uri: str) -> str:
    """Return an inline SVG QR code for an authenticator app."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


def verify_code(secret: str, code: str) -> bool:
    code = "".join(ch for ch in code if ch.isdigit())
    if not secret or len(code) != 6:
        return False
    return pyotp.TOTP(secret).verify(code, valid_window=1)


@transaction.atomic
def enable(user: User, secret: str, code: str) -> list[str]:
    """Turn on two-factor if `code` matches `secret`; return fresh recovery codes."""
    if not verify_code(secret, code):
        raise ValueError("That code does not match. Check the time on your phone and try again.")
    user.totp_secret = secret
    user.totp_enabled = True
    user.save(update_fields=["totp_secret", "totp_enabled"])
    return regenerate_recovery_codes(user)


@transaction.atomic
def disable(user: User) -> None:
    user.totp_secret = ""
    user.totp_enabled = False
    user.save(update_fields=["totp_secret", "totp_enabled"])
    RecoveryCode.objects.filter(user=user).delete()


def regenerate_recovery_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=hash_token(code)) for code in codes
    )
    return codes


def use_recovery_code(user: User, code: str) -> bool:
    """Spend one recovery code; each works once."""
    wanted = hash_token(code.strip().lower())
    for candidate in RecoveryCode.objects.filter(user=user, used_at__isnull=True):
        if hmac.compare_digest(candidate.code_hash, wanted):
            spent = RecoveryCode.objects.filter(pk=candidate.pk, used_at__isnull=True).update(
                used_at=timezone.now()
            )
            return spent == 1
    return False


def verify_second_factor(user: User, code: str) -> bool:
    """Accept a TOTP code or an unused recovery code."""
    code = code.strip()
    if verify_code(user.totp_secret, code):
        return True
    return "-" in code and use_recovery_code(user, code)
