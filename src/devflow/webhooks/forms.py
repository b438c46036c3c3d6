"""Forms for a project's webhook settings and for filtering its deliveries."""

from __future__ import annotations

from typing import Any

from django import forms

from devflow.projects.models import Project
from devflow.webhooks.models import Decision
from devflow.webhooks.queries import receivers


class EnvironmentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} (branch {obj.branch})"


class WebhookSettingsForm(forms.Form):
    enabled = forms.BooleanField(
        required=False,
        label="Receive webhooks",
        help_text="Off: every request is answered 403 and deploys nothing.",
    )
    tag_environment = EnvironmentChoiceField(
        queryset=Project.objects.none(),
        required=False,
        empty_label="None: tag pushes are ignored",
        label="Deploy tag pushes to",
    )
    rate_limit_per_minute = forms.IntegerField(
        min_value=1,
        max_value=10_000,
        label="Rate limit per minute",
        help_text="Requests over it in one minute are answered 429.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tag_environment"].queryset = project.environments.all()  # type: ignore[attr-defined]


class DeliveryFilterForm(forms.Form):
    provider = forms.ChoiceField(required=False)
    decision = forms.ChoiceField(required=False, choices=[("", "Any"), *Decision.choices])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [  # type: ignore[attr-defined]
            ("", "Any"),
            *((receiver.name, receiver.label) for receiver in receivers()),
        ]
