"""Forms for projects, environments, variables and templates.

The validators here are the ones the services use, so a bad value is shown
next to its field; the services check everything again and raise
`ProjectError` for what only they can decide (a duplicate name, a server of
another team).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from devflow.projects import validation
from devflow.servers.models import Server, SshKey

REPOSITORY_HELP = (
    "An https:// URL (public repositories), an ssh:// or git@host:owner/repo.git URL "
    "(private repositories, with a deploy key), or an absolute path to a repository on the server."
)
COMMANDS_HELP = (
    "One command per line, run in the release directory with the environment's variables set. "
    "Start a line with once: to run it on one server only (database migrations); "
    "lines starting with # are ignored."
)


class SecretTextarea(forms.Textarea):
    """A textarea that never writes its value back into the page (secrets, even on errors)."""

    def format_value(self, value: Any) -> str | None:
        return None


def check(validator: Callable[[str], Any]) -> Callable[[Any], None]:
    """Use a validator that returns the cleaned value as a Django field validator."""

    def run(value: Any) -> None:
        validator(value)

    return run


def _commands(text: str) -> None:
    validation.parse_commands(text)


def _shared_paths(text: str) -> None:
    for line in text.replace(",", "\n").splitlines():
        if line.strip():
            validation.validate_shared_path(line)


def _team_servers(field: forms.Field, team: Any) -> None:
    field.queryset = Server.objects.filter(team=team).order_by("name")  # type: ignore[attr-defined]


def _team_keys(field: forms.Field, team: Any) -> None:
    field.queryset = SshKey.objects.filter(team=team).order_by("name")  # type: ignore[attr-defined]


class RepositoryFields(forms.Form):
    name = forms.CharField(max_length=100)
    repository_url = forms.CharField(
        max_length=500,
        label="Repository",
        help_text=REPOSITORY_HELP,
        validators=[check(validation.validate_repository_url)],
        widget=forms.TextInput(
            attrs={"placeholder": "git@github.com:acme/shop.git", "spellcheck": "false"}
        ),
    )
    deploy_key = forms.ModelChoiceField(
        queryset=SshKey.objects.none(),
        required=False,
        empty_label="None (public https repository or local path)",
        help_text="The SSH key the servers fetch an ssh:// or git@ repository with; "
        "add its public key to the repository as a read-only deploy key.",
    )


class EnvironmentFields(forms.Form):
    environment = forms.CharField(
        max_length=40,
        initial="production",
        label="Environment name",
        help_text="Letters, digits, - and _, e.g. production or staging.",
    )
    branch = forms.CharField(
        max_length=200,
        initial="main",
        validators=[check(validation.validate_branch)],
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    servers = forms.ModelMultipleChoiceField(
        queryset=Server.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Pick at least one server to deploy to."},
    )
    deploy_path = forms.CharField(
        max_length=300,
        validators=[check(validation.validate_deploy_path)],
        help_text="Releases go to <path>/releases/, the live one is <path>/current.",
        widget=forms.TextInput(attrs={"placeholder": "/var/www/shop", "spellcheck": "false"}),
    )
    health_check_url = forms.CharField(
        max_length=500,
        required=False,
        label="Health check URL",
        validators=[check(validation.validate_health_url)],
        help_text="Optional. Fetched on each server after the switch; a failure rolls back.",
    )

    def set_team(self, team: Any) -> None:
        _team_servers(self.fields["servers"], team)


class NewProjectForm(RepositoryFields, EnvironmentFields):
    template = forms.ChoiceField(widget=forms.RadioSelect, initial="custom")

    def __init__(self, *args: Any, team: Any, templates: list[tuple[str, str, str]], **kw: Any):
        super().__init__(*args, **kw)
        self.fields["template"].choices = [(key, name) for key, name, _ in templates]  # type: ignore[attr-defined]
        _team_keys(self.fields["deploy_key"], team)
        self.set_team(team)


class EnvironmentForm(EnvironmentFields):
    def __init__(self, *args: Any, team: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["environment"].label = "Name"
        self.set_team(team)


class ProjectSettingsForm(RepositoryFields):
    build_commands = forms.CharField(
        required=False,
        validators=[_commands],
        help_text="Before the switch, in the new release: install dependencies, compile assets.",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
    )
    deploy_commands = forms.CharField(
        required=False,
        validators=[_commands],
        help_text="Still before the switch: migrations (once:), caches.",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
    )
    post_deploy_commands = forms.CharField(
        required=False,
        validators=[_commands],
        label="Post-deploy commands",
        help_text="After the switch: restart workers, reload services. A failure switches back.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    smoke_command = forms.CharField(
        max_length=500,
        required=False,
        help_text="Run in the new release before the switch; a non-zero exit stops the deploy.",
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    shared_paths = forms.CharField(
        required=False,
        validators=[_shared_paths],
        help_text="One relative path per line, kept in <path>/shared/ and linked into each "
        "release (uploads, storage, caches).",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    health_check_path = forms.CharField(
        max_length=200,
        required=False,
        help_text="Suggested path for new environments' health check URL, e.g. /up.",
    )
    keep_releases = forms.IntegerField(
        min_value=1, max_value=50, help_text="The live release plus older ones to roll back to."
    )
    deploy_timeout_seconds = forms.IntegerField(
        min_value=30,
        max_value=6 * 3600,
        label="Deployment time limit",
        help_text="Seconds for the whole deployment.",
    )
    command_timeout_seconds = forms.IntegerField(
        min_value=5,
        max_value=6 * 3600,
        label="Command time limit",
        help_text="Seconds for any one command.",
    )
    health_check_retries = forms.IntegerField(
        min_value=1, max_value=60, help_text="Attempts, a second apart, before the check fails."
    )

    def __init__(self, *args: Any, team: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        _team_keys(self.fields["deploy_key"], team)


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=100, label="Template name")
    description = forms.CharField(max_length=200, required=False)


class VariableForm(forms.Form):
    key = forms.CharField(
        max_length=100,
        label="Name",
        validators=[check(validation.validate_env_key)],
        widget=forms.TextInput(attrs={"placeholder": "APP_KEY", "spellcheck": "false"}),
    )
    value = forms.CharField(
        required=False,
        strip=False,
        help_text="Stored encrypted. It is never shown again: to change it, type a new value.",
        widget=SecretTextarea(attrs={"rows": 2, "spellcheck": "false", "autocomplete": "off"}),
    )

    def clean_value(self) -> str:
        value: str = self.cleaned_data["value"]
        if "\x00" in value:
            raise ValidationError("A value cannot contain a NUL byte.")
        return value


class DotenvForm(forms.Form):
    text = forms.CharField(
        label=".env contents",
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 8,
                "spellcheck": "false",
                "autocomplete": "off",
                "placeholder": "APP_ENV=production\nDB_PASSWORD=...",
            }
        ),
    )
    replace = forms.BooleanField(
        required=False,
        label="Replace all existing variables (delete the ones not in the pasted text)",
    )
