"""The web terminal page; the shell itself runs in `devflow.servers.terminal`."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from devflow.accounts.choices import Action
from devflow.servers.models import Server
from devflow.servers.terminal import LOCAL_REFUSAL, TerminalConsumer
from devflow.servers.views.common import fetch


@login_required
def server_terminal(request: HttpRequest, server_id: int) -> HttpResponse:
    """Show a full-width terminal on a server the user may edit (maintainers and owners)."""
    server = fetch(request, Server.objects.select_related("ssh_key"), Action.EDIT, pk=server_id)
    unavailable = ""
    if server.is_local:
        unavailable = LOCAL_REFUSAL
    elif server.ssh_key is None:
        unavailable = f"{server} has no SSH key: pick one on its settings page."
    return render(
        request,
        "servers/terminal.html",
        {
            "server": server,
            "unavailable": unavailable,
            "ws_path": f"/ws/servers/{server.pk}/terminal",
            "idle_minutes": round(TerminalConsumer.idle_seconds / 60),
        },
    )
