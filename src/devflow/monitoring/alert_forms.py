"""Forms of the alert pages: a rule, and the filters of the alert history."""

from __future__ import annotations

from typing import Any

from django import forms

from devflow.monitoring.alerts import RuleData
from devflow.monitoring.models import (
    AlertMetric,
    AlertOperator,
    AlertRule,
    AlertScope,
    AlertState,
)
from devflow.notifications.models import Channel
from devflow.servers.models import Server, ServerGroup, Tag


class AlertRuleForm(forms.Form):
    """A rule; every picker lists only the team's own servers, groups, tags and channels."""

    name = forms.CharField(max_length=100, help_text="What people read first, e.g. “Disk full”.")
    enabled = forms.BooleanField(
        required=False, initial=True, help_text="Disabling a rule resolves its open alerts."
    )
    scope = forms.ChoiceField(
        choices=AlertScope.choices, initial=AlertScope.ALL, label="Watch",
        help_text="Each server in scope gets its own alert.",
    )  # fmt: skip
    server = forms.ModelChoiceField(queryset=Server.objects.none(), required=False,
                                    help_text="When watching one server.")  # fmt: skip
    group = forms.ModelChoiceField(queryset=ServerGroup.objects.none(), required=False,
                                   help_text="When watching a group.")  # fmt: skip
    tag = forms.ModelChoiceField(queryset=Tag.objects.none(), required=False,
                                 help_text="When watching the servers with a tag.")  # fmt: skip
    metric = forms.ChoiceField(choices=AlertMetric.choices)
    operator = forms.ChoiceField(choices=AlertOperator.choices, label="Comparison")
    threshold = forms.FloatField(
        help_text="Percent for CPU, memory and disk; Mbit/s for network; 1 (up) or 0 (down) "
        "for reachability, e.g. “Reachable = 0”."
    )
    duration_minutes = forms.IntegerField(
        min_value=0, initial=5, label="For (minutes)",
        help_text="The condition must hold for every reading over this many minutes before "
        "the alert triggers; 0 triggers on the newest reading alone. Minutes without "
        "readings neither trigger nor resolve an alert.",
    )  # fmt: skip
    hysteresis = forms.FloatField(
        required=False, min_value=0,
        help_text="How far back past the threshold the readings must be before the alert "
        "resolves, so a value hovering at the threshold does not flap. Empty: 5 points for "
        "percentages, 10% of the threshold for load and network, none for reachability.",
    )  # fmt: skip
    channels = forms.ModelMultipleChoiceField(
        queryset=Channel.objects.none(), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Told when the alert triggers and resolves. None chosen: the team's channels "
        "subscribed to alert events.",
    )  # fmt: skip
    escalate_after_minutes = forms.IntegerField(
        required=False, min_value=1, label="Escalate after (minutes)",
        help_text="If nobody acknowledges the alert in this many minutes, tell the channels "
        "below as well. Empty: never escalate.",
    )  # fmt: skip
    escalation_channels = forms.ModelMultipleChoiceField(
        queryset=Channel.objects.none(), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="They also hear when an escalated alert resolves.",
    )  # fmt: skip

    def __init__(self, *args: Any, team: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["server"].queryset = Server.objects.filter(team=team)  # type: ignore[attr-defined]
        self.fields["group"].queryset = ServerGroup.objects.filter(team=team)  # type: ignore[attr-defined]
        self.fields["tag"].queryset = Tag.objects.filter(team=team)  # type: ignore[attr-defined]
        for name in ("channels", "escalation_channels"):
            self.fields[name].queryset = Channel.objects.filter(team=team)  # type: ignore[attr-defined]

    @classmethod
    def initial_for(cls, rule: AlertRule) -> dict[str, Any]:
        return {
            "name": rule.name,
            "enabled": rule.enabled,
            "scope": rule.scope,
            "server": rule.server_id,
            "group": rule.group_id,
            "tag": rule.tag_id,
            "metric": rule.metric,
            "operator": rule.operator,
            "threshold": rule.threshold,
            "duration_minutes": rule.duration_minutes,
            "hysteresis": rule.hysteresis,
            "channels": list(rule.channels.all()),
            "escalate_after_minutes": rule.escalate_after_minutes,
            "escalation_channels": list(rule.escalation_channels.all()),
        }

    def data_for_service(self) -> RuleData:
        data = self.cleaned_data
        return RuleData(
            name=data["name"],
            enabled=data["enabled"],
            scope=data["scope"],
            server=data["server"],
            group=data["group"],
            tag=data["tag"],
            metric=data["metric"],
            operator=data["operator"],
            threshold=data["threshold"],
            duration_minutes=data["duration_minutes"],
            hysteresis=data["hysteresis"],
            channels=list(data["channels"]),
            escalate_after_minutes=data["escalate_after_minutes"],
            escalation_channels=list(data["escalation_channels"]),
        )


class AlertFilterForm(forms.Form):
    """The history's filters; every field is optional and an invalid one is ignored."""

    state = forms.ChoiceField(required=False, choices=[("", "Any"), *AlertState.choices])
    rule = forms.ModelChoiceField(queryset=AlertRule.objects.none(), required=False,
                                  empty_label="Any")  # fmt: skip
    server = forms.ModelChoiceField(queryset=Server.objects.none(), required=False,
                                    empty_label="Any")  # fmt: skip
    since = forms.DateField(required=False, label="From",
                            widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    until = forms.DateField(required=False, label="To",
                            widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip

    def __init__(self, *args: Any, team: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rule"].queryset = AlertRule.objects.filter(team=team)  # type: ignore[attr-defined]
        self.fields["server"].queryset = Server.objects.filter(team=team)  # type: ignore[attr-defined]

    def filters(self) -> dict[str, Any]:
        """The valid filters, as `alerts.history` takes them."""
        self.is_valid()
        data = {name: self.cleaned_data.get(name) for name in self.fields}
        return {
            "states": [data["state"]] if data["state"] else [],
            "rule": data["rule"],
            "server": data["server"],
            "since": data["since"],
            "until": data["until"],
        }
