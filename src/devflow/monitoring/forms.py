"""The form that names a new metrics token."""

from __future__ import annotations

from django import forms


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Token name",
        help_text="Where it is used, e.g. “prometheus on ops-1”.",
        widget=forms.TextInput(attrs={"placeholder": "prometheus on ops-1"}),
    )
