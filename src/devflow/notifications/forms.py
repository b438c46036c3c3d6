"""The channel form: a name, a kind, its URL (write-only) and the events it receives.

The URL field's label, placeholder and help come from the kind's declaration
(`notifier.Notifier`); a channel keeps its kind, so the switch is only on the add form.
"""

from __future__ import annotations

from typing import Any

from django import forms

from devflow.notifications import events, notifier


def event_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    return [
        (group, [(kind.name, kind.label) for kind in kinds])
        for group, kinds in events.grouped().items()
    ]


class ChannelForm(forms.Form):
    name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"placeholder": "ops Slack"})
    )
    kind = forms.ChoiceField(
        label="Kind",
        choices=notifier.kind_choices,
        initial="apprise",
        required=False,
        widget=forms.RadioSelect(attrs={"x-model": "kind"}),
    )
    url = forms.CharField(
        label="URL",
        max_length=4000,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    events = forms.MultipleChoiceField(
        choices=event_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Alert rules may also send to a channel by name, whatever is ticked here.",
    )

    def __init__(
        self, *args: Any, editing: bool = False, kind: str = "apprise", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            del self.fields["kind"]
            declared = notifier.get(kind)
            url = self.fields["url"]
            url.label = declared.url_label
            url.widget.attrs["placeholder"] = declared.url_placeholder
            url.help_text = "Leave empty to keep the stored URL. " + declared.url_help
        else:
            self.fields["url"].required = True
            self.initial.setdefault("events", events.DEFAULT_EVENTS)

    def clean_kind(self) -> str:
        return self.cleaned_data.get("kind") or "apprise"

    def kinds(self) -> list[notifier.Notifier]:
        """The kinds to choose from, with what each expects in the URL field (the template)."""
        return list(notifier.NOTIFIERS.values())

    def chosen_kind(self) -> str:
        value = self["kind"].value() if "kind" in self.fields else None
        return str(value) if value in notifier.NOTIFIERS else "apprise"
