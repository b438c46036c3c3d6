"""Server pages: list with filters, add, detail with facts and actions, edit, delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from devflow.accounts.choices import Action
from devflow.core.models import Job
from devflow.core.tenancy import can
from devflow.servers import services
from devflow.servers.actions import QUICK_ACTIONS
from devflow.servers.bulk import BULK_ACTIONS
from devflow.servers.forms import FilterForm, ServerForm
from devflow.servers.models import Server, SshKey, Tag
from devflow.servers.views.common import current_team, fetch, me


def _server(request: HttpRequest, server_id: int, action: str = Action.VIEW) -> Server:
    return fetch(request, Server.objects.select_related("ssh_key", "group"), action, pk=server_id)


@login_required
def server_list(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    servers = Server.objects.for_user(me(request)).filter(team=team).with_relations()
    filters = FilterForm(request.GET or None, team=team)
    if filters.is_valid():
        data = filters.cleaned_data
        if data["q"]:
            servers = servers.filter(Q(name__icontains=data["q"]) | Q(host__icontains=data["q"]))
        if data["status"]:
            servers = servers.filter(status=data["status"])
        if data["tag"]:
            servers = servers.filter(tags=data["tag"])
        if data["group"]:
            servers = servers.filter(group=data["group"])
    counts = dict(Server.objects.filter(team=team).values_list("status").annotate(n=Count("id")))
    return render(
        request,
        "servers/server_list.html",
        {
            "servers": servers,
            "filters": filters,
            "counts": counts,
            "total": sum(counts.values()),
            "has_local": Server.objects.filter(team=team, is_local=True).exists(),
            "can_edit": can(request.user, Action.EDIT, team),
            "can_deploy": can(request.user, Action.DEPLOY, team),
            "bulk_actions": BULK_ACTIONS.values(),
            "tags": Tag.objects.filter(team=team),
            "ssh_keys": SshKey.objects.filter(team=team),
        },
    )


@login_required
def server_add(request: HttpRequest) -> HttpResponse:
    team = current_team(request, Action.EDIT)
    if not SshKey.objects.filter(team=team).exists():
        messages.info(request, "First create or import the SSH key DevFlow Pro logs in with.")
        return redirect("servers:keys")
    form = ServerForm(request.POST or None, team=team, initial={"ping_enabled": True})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            server, job = services.create_server(
                me(request),
                team,
                services.ServerData(
                    name=data["name"],
                    host=data["host"],
                    port=data["port"],
                    username=data["username"],
                    ssh_key=data["ssh_key"],
                    sudo_password=data["sudo_password"] or None,
                    group=data["group"],
                    tags=list(data["tags"]),
                    ping_enabled=data["ping_enabled"],
                ),
                request=request,
            )
        except services.ServerError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Added {server}. Checking the connection (job #{job.pk})…")
            return redirect("servers:detail", server_id=server.pk)
    return render(
        request,
        "servers/server_form.html",
        {"form": form, "adding": True, "public_keys": SshKey.objects.filter(team=team)},
    )


@login_required
@require_POST
def server_add_local(request: HttpRequest) -> HttpResponse:
    team = current_team(request, Action.EDIT)
    try:
        server, job = services.create_server(
            me(request),
            team,
            services.ServerData(name="this machine"),
            request=request,
            local=True,
        )
    except services.ServerError as error:
        messages.error(request, str(error))
        return redirect("servers:list")
    messages.success(request, f"Added this machine. Gathering its facts (job #{job.pk})…")
    return redirect("servers:detail", server_id=server.pk)


@login_required
def server_detail(request: HttpRequest, server_id: int) -> HttpResponse:
    server = _server(request, server_id)
    jobs = Job.objects.filter(
        team=server.team, target_type="server", target_id=str(server.pk)
    ).select_related("actor")[:10]
    return render(
        request,
        "servers/server_detail.html",
        {
            "server": server,
            "pings": server.pings.all()[:30],
            "jobs": jobs,
            "quick_actions": [
                a for a in QUICK_ACTIONS.values() if can(request.user, a.needs_role, server)
            ],
            "can_deploy": can(request.user, Action.DEPLOY, server),
            "can_edit": can(request.user, Action.EDIT, server),
            "facts": server.facts,
        },
    )


@login_required
def server_edit(request: HttpRequest, server_id: int) -> HttpResponse:
    server = _server(request, server_id, Action.EDIT)
    initial = {
        "name": server.name,
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "ssh_key": server.ssh_key,
        "group": server.group,
        "tags": list(server.tags.all()),
        "ping_enabled": server.ping_enabled,
    }
    form = ServerForm(
        request.POST or None, team=server.team, initial=initial, local=server.is_local
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_server(
                me(request),
                server,
                services.ServerData(
                    name=data["name"],
                    host=data.get("host", ""),
                    port=data.get("port", 22),
                    username=data.get("username", ""),
                    ssh_key=data.get("ssh_key"),
                    sudo_password=data["sudo_password"] or None,
                    group=data["group"],
                    tags=list(data["tags"]),
                    ping_enabled=data["ping_enabled"],
                ),
                request=request,
            )
        except services.ServerError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Saved {server}.")
            return redirect("servers:detail", server_id=server.pk)
    return render(request, "servers/server_form.html", {"form": form, "server": server})


@login_required
@require_POST
def server_delete(request: HttpRequest, server_id: int) -> HttpResponse:
    server = _server(request, server_id, Action.EDIT)
    name = server.name
    services.delete_server(me(request), server, request=request)
    messages.success(request, f"Removed {name} from DevFlow Pro (nothing was changed on it).")
    return redirect("servers:list")


@login_required
@require_POST
def server_check(request: HttpRequest, server_id: int) -> HttpResponse:
    server = _server(request, server_id, Action.DEPLOY)
    job = services.queue_job(me(request), server, "servers.check", request=request)
    messages.success(request, f"Checking {server} (job #{job.pk}).")
    return redirect("job_detail", job_id=job.pk)


@login_required
@require_POST
def server_action(request: HttpRequest, server_id: int, name: str) -> HttpResponse:
    action = QUICK_ACTIONS.get(name)
    if action is None:
        server = _server(request, server_id, Action.DEPLOY)
        messages.error(request, f"Unknown action {name!r}.")
        return redirect("servers:detail", server_id=server.pk)
    server = _server(request, server_id, action.needs_role)
    if action.destructive and request.POST.get("confirm") != server.name:
        messages.error(
            request,
            f"To {action.label.lower()}, type the server's name ({server.name}) to confirm.",
        )
        return redirect("servers:detail", server_id=server.pk)
    params: dict[str, str] = {}
    try:
        if "service" in action.needs:
            params["service"] = services.validate_service_name(
                request.POST.get("service", "").strip()
            )
    except services.ServerError as error:
        messages.error(request, str(error))
        return redirect("servers:detail", server_id=server.pk)
    job = services.queue_job(
        me(request), server, f"servers.{action.name}", request=request, **params
    )
    messages.success(request, f"{action.label} on {server}: job #{job.pk}.")
    return redirect("job_detail", job_id=job.pk)


@login_required
@require_POST
def server_retrust(request: HttpRequest, server_id: int) -> HttpResponse:
    server = _server(request, server_id, Action.EDIT)
    fingerprint = request.POST.get("fingerprint", "").strip()
    if not fingerprint.startswith("SHA256:"):
        messages.error(request, "Paste the SHA256 fingerprint you checked on the server.")
        return redirect("servers:detail", server_id=server.pk)
    job = services.queue_job(
        me(request), server, "servers.retrust_host_key", request=request, fingerprint=fingerprint
    )
    messages.success(request, f"Checking the new host key (job #{job.pk}).")
    return redirect("job_detail", job_id=job.pk)
