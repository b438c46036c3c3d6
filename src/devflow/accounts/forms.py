from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.core.validators import RegexValidator
from django.utils import timezone

from devflow.accounts.choices import Role
from devflow.accounts.models import TokenScope

username_validator = RegexValidator(
    r"^[A-Za-z0-9_.-]{2,40}$", "Use 2 to 40 letters, digits, dots, dashes or underscores."
)


class LoginForm(forms.Form):
    username = forms.CharField(max_length=254, label="Username or e-mail")
    password = forms.CharField(widget=forms.PasswordInput, strip=False)


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        max_length=20,
        label="Code from your authenticator app (or a recovery code)",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class NewAccountForm(forms.Form):
    username = forms.CharField(max_length=40, validators=[username_validator])
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    password_again = forms.CharField(
        widget=forms.PasswordInput, strip=False, label="Password again"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        elif data.get("password"):
            try:
                password_validation.validate_password(data["password"])
            except forms.ValidationError as error:
                self.add_error("password", error)
        return data


class SetupForm(NewAccountForm):
    token = forms.CharField(max_length=100, label="Setup token (printed by `devflow up`)")
    email = forms.EmailField(label="E-mail")
    field_order = ["token", "username", "email", "password", "password_again"]


class SignupForm(NewAccountForm):
    email = forms.EmailField(label="E-mail")
    field_order = ["username", "email", "password", "password_again"]


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100)


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class EnableTwoFactorForm(forms.Form):
    code = forms.CharField(max_length=10, label="6-digit code from your app")


class TokenForm(forms.Form):
    """A new API token: a name, its scopes, and when it ends (`cleaned_data["expires_at"]`)."""

    EXPIRY_CHOICES = [
        ("30", "30 days"),
        ("90", "90 days"),
        ("365", "365 days"),
        ("date", "On a date"),
        ("never", "Never"),
    ]

    name = forms.CharField(
        max_length=100, help_text="Where it is used, e.g. “CI deploys” or “my laptop”."
    )
    scopes = forms.MultipleChoiceField(
        # The page shows each scope's name in bold next to what it allows.
        choices=[(scope.value, scope.label.split(": ", 1)[-1]) for scope in TokenScope],
        widget=forms.CheckboxSelectMultiple,
        initial=[TokenScope.READ],
        error_messages={"required": "Choose at least one scope."},
    )
    expiry = forms.ChoiceField(
        choices=EXPIRY_CHOICES, initial="90", label="Expires", widget=forms.RadioSelect
    )
    expires_on = forms.DateField(
        required=False, label="Expiry date", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        expiry = data.get("expiry")
        if expiry == "never":
            data["expires_at"] = None
        elif expiry == "date":
            day = data.get("expires_on")
            if day is None:
                self.add_error("expires_on", "Pick the day the token stops working.")
            elif day <= timezone.localdate():
                self.add_error("expires_on", "Pick a day after today.")
            else:
                data["expires_at"] = timezone.make_aware(datetime.combine(day, time(23, 59)))
        elif expiry:
            data["expires_at"] = timezone.now() + timedelta(days=int(expiry))
        return data
