from __future__ import annotations

from typing import Any

from django import forms

from devflow.servers.choices import KeyAlgorithm, ServerStatus
from devflow.servers.models import ServerGroup, SshKey, Tag


class ServerForm(forms.Form):
    name = forms.CharField(max_length=100)
    host = forms.CharField(max_length=253, help_text="Host name or IP address.")
    port = forms.IntegerField(min_value=1, max_value=65535, initial=22)
    username = forms.CharField(max_length=32, initial="root")
    ssh_key = forms.ModelChoiceField(
        queryset=SshKey.objects.none(), label="SSH key", empty_label=None
    )
    sudo_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Only for a non-root user whose sudo asks for a password. Stored encrypted; "
        "leave empty to keep the current one.",
    )
    group = forms.ModelChoiceField(queryset=ServerGroup.objects.none(), required=False)
    tags = forms.ModelMultipleChoiceField(
        queryset=Tag.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    ping_enabled = forms.BooleanField(
        required=False, initial=True, label="Check reachability every minute"
    )

    def __init__(self, *args: Any, team: Any, local: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ssh_key"].queryset = SshKey.objects.filter(team=team)  # type: ignore[attr-defined]
        self.fields["group"].queryset = ServerGroup.objects.filter(team=team)  # type: ignore[attr-defined]
        self.fields["tags"].queryset = Tag.objects.filter(team=team)  # type: ignore[attr-defined]
        if local:
            for name in ("host", "port", "username", "ssh_key"):
                del self.fields[name]


class FilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *ServerStatus.choices])
    tag = forms.ModelChoiceField(queryset=Tag.objects.none(), required=False, empty_label="Any")
    group = forms.ModelChoiceField(
        queryset=ServerGroup.objects.none(), required=False, empty_label="Any"
    )

    def __init__(self, *args: Any, team: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tag"].queryset = Tag.objects.filter(team=team)  # type: ignore[attr-defined]
        self.fields["group"].queryset = ServerGroup.objects.filter(team=team)  # type: ignore[attr-defined]


class GenerateKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    algorithm = forms.ChoiceField(
        choices=KeyAlgorithm.choices, initial=KeyAlgorithm.ED25519, label="Type"
    )
    expires_at = forms.DateField(
        required=False, label="Expires on", widget=forms.DateInput(attrs={"type": "date"})
    )


class ImportKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    private_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="OpenSSH or PEM private key.",
    )
    passphrase = forms.CharField(
        required=False, widget=forms.PasswordInput, help_text="If the key is encrypted."
    )
    expires_at = forms.DateField(
        required=False, label="Expires on", widget=forms.DateInput(attrs={"type": "date"})
    )


class TagForm(forms.Form):
    name = forms.CharField(max_length=40)
    colour = forms.CharField(
        max_length=7, initial="#2457d6", widget=forms.TextInput(attrs={"type": "color"})
    )


class GroupForm(forms.Form):
    name = forms.CharField(max_length=60)
    description = forms.CharField(max_length=200, required=False)
