"""Small helpers the project and deployment pages share (durations, links)."""

from __future__ import annotations

from django.urls import reverse

from devflow.projects.models import Environment


def duration_label(seconds: float | None) -> str:
    """ "40 ms", "2.3 s", "42 s", "3 min 5 s", "1 h 2 min"; an em dash when it never started."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def detail_url(environment: Environment) -> str:
    """The project page, open at this environment's tab."""
    url = reverse("projects:detail", kwargs={"project_id": environment.project_id})
    return f"{url}?env={environment.name}"
