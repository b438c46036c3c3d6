"""The channel form: a name, an Apprise URL (write-only) and the events it receives."""

from __future__ import annotations

from typing import Any

from django import forms

from devflow.notifications import events


def event_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    return [
        (group, [(kind.name, kind.label) for kind in kinds])
        for group, kinds in events.grouped().items()
    ]


class ChannelForm(forms.Form):
    name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"placeholder": "ops Slack"})
    )
    url = forms.CharField(
        label="Apprise URL",
        max_length=4000,
        required=False,
        widget=forms.TextInput(
            attrs={
                "placeholder": "slack://T000/B000/XXXX/#ops or mailtos://user:pass@example.com",
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
        help_text=(
            "Any URL Apprise knows: mailto(s)://, slack://, discord://, tgram://, msteams://, "
            "ntfy(s)://, gotify(s)://, json(s)://… It is stored encrypted and never shown again."
        ),
    )
    events = forms.MultipleChoiceField(
        choices=event_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Alert rules may also send to a channel by name, whatever is ticked here.",
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            self.fields["url"].help_text = "Leave empty to keep the stored URL. " + str(
                self.fields["url"].help_text
            )
        else:
            self.fields["url"].required = True
            self.initial.setdefault("events", events.DEFAULT_EVENTS)
