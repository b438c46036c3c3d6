"""The form that creates or changes a health check (the rules are in `health.validate`)."""

from __future__ import annotations

from typing import Any

from django import forms

from devflow.accounts.models import Team
from devflow.monitoring import health
from devflow.monitoring.models import CheckKind, CheckStatus
from devflow.projects.models import Project


class HealthCheckForm(forms.Form):
    kind = forms.ChoiceField(
        label="Type",
        choices=CheckKind.choices,
        initial=CheckKind.HTTP,
        widget=forms.RadioSelect(attrs={"x-model": "kind"}),
    )
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(),
        required=False,
        empty_label="— none —",
        help_text="Optional. The check is listed on the project's page and named after it.",
    )
    name = forms.CharField(
        max_length=100, required=False, help_text="Left empty: the project's name."
    )
    url = forms.CharField(
        label="URL",
        max_length=2000,
        required=False,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/health"}),
    )
    method = forms.ChoiceField(choices=[(m, m) for m in health.METHODS], initial="GET")
    expected_status = forms.IntegerField(label="Expected status", initial=200)
    keyword = forms.CharField(
        max_length=200,
        required=False,
        help_text="Optional. The response body must contain this text.",
    )
    host = forms.CharField(
        max_length=253,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "db.example.com", "autocapitalize": "off"}),
    )
    port = forms.IntegerField(
        required=False, widget=forms.NumberInput(attrs={"placeholder": "5432"})
    )
    interval_seconds = forms.IntegerField(
        label="Interval (seconds)",
        initial=60,
        help_text=f"How often to check; at least every {health.MIN_INTERVAL} s.",
    )
    timeout_seconds = forms.IntegerField(
        label="Timeout (seconds)", initial=10, help_text="No answer within this: a failure."
    )
    degraded_ms = forms.IntegerField(
        label="Degraded above (ms)",
        initial=2000,
        help_text="Slower answers count as degraded (still up for uptime).",
    )
    tls_warn_days = forms.IntegerField(
        label="Warn when the certificate expires within (days)",
        initial=14,
        help_text="HTTPS only; 0 turns the warning off.",
    )

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team = team
        project_field = self.fields["project"]
        assert isinstance(project_field, forms.ModelChoiceField)
        project_field.queryset = Project.objects.filter(team=team).order_by("name")

    def data_for_service(self) -> health.CheckData:
        data = self.cleaned_data
        return health.CheckData(
            name=data["name"],
            project=data["project"],
            kind=data["kind"],
            url=data["url"],
            method=data["method"],
            expected_status=data["expected_status"],
            keyword=data["keyword"],
            host=data["host"],
            port=data["port"],
            timeout_seconds=data["timeout_seconds"],
            interval_seconds=data["interval_seconds"],
            degraded_ms=data["degraded_ms"],
            tls_warn_days=data["tls_warn_days"],
        )

    def show_errors(self, error: health.CheckError) -> None:
        for name, message in error.errors.items():
            self.add_error(name if name in self.fields else None, message)


STATUS_FILTERS = [("", "All statuses"), *CheckStatus.choices, ("paused", "Paused")]


class HealthFilterForm(forms.Form):
    """The dashboard's filters (GET): by status, by project."""

    status = forms.ChoiceField(choices=STATUS_FILTERS, required=False)
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(), required=False, empty_label="All projects"
    )

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        project_field = self.fields["project"]
        assert isinstance(project_field, forms.ModelChoiceField)
        project_field.queryset = Project.objects.filter(team=team).order_by("name")
