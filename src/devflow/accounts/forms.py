from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.core.validators import RegexValidator

from devflow.accounts.choices import Role

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
