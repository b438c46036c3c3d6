"""Forms for starting, scheduling and filtering deployments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from devflow.core.models import JobStatus
from devflow.deployments import scheduling
from devflow.deployments.scheduling import MAX_REMINDER_MINUTES
from devflow.projects import validation
from devflow.projects.forms import check
from devflow.projects.models import Project

LOCAL_TIME_FORMAT = "%Y-%m-%dT%H:%M"


class DeployForm(forms.Form):
    commit_sha = forms.CharField(
        required=False,
        max_length=40,
        label="Commit (optional)",
        validators=[check(validation.validate_commit_sha)],
        help_text="Leave empty to deploy the newest commit of the branch.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. 3f2c9ab", "spellcheck": "false"}),
    )
    if_busy = forms.ChoiceField(
        label="If a deployment is running",
        choices=[("wait", "Wait in the queue"), ("fail", "Fail now")],
        initial="wait",
        widget=forms.RadioSelect,
    )


class ScheduleForm(forms.Form):
    run_at = forms.CharField(
        label="Date and time",
        help_text="Wall-clock time in the time zone below.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    timezone = forms.ChoiceField(label="Time zone", initial="UTC")
    remind_minutes_before = forms.IntegerField(
        min_value=0,
        max_value=MAX_REMINDER_MINUTES,
        initial=15,
        label="Remind minutes before",
        help_text="A note in the activity feed; 0 for none.",
    )
    note = forms.CharField(
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. maintenance window"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [(z, z) for z in scheduling.zone_names()]  # type: ignore[attr-defined]

    def clean_run_at(self) -> datetime:
        # Kept naive on purpose: the service reads it in the chosen zone (and refuses DST gaps).
        text = self.cleaned_data["run_at"].strip()
        for pattern in (LOCAL_TIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
            try:
                return datetime.strptime(text, pattern)
            except ValueError:
                continue
        raise ValidationError("Enter a date and time, e.g. 2027-03-28 21:30.")


class DeploymentFilterForm(forms.Form):
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(), required=False, empty_label="Any"
    )
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *JobStatus.choices])

    def __init__(self, *args: Any, team: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = Project.objects.filter(team=team)  # type: ignore[attr-defined]
