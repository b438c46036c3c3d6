"""Bulk action pages: start from the server list, follow per-server progress, history."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from devflow.accounts.choices import Action
from devflow.servers import labels, services
from devflow.servers.bulk import BULK_ACTIONS, start_bulk_run, summary
from devflow.servers.models import BulkRun, Server, Tag
from devflow.servers.views.common import current_team, me


@login_required
@require_POST
def bulk_start(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    ids = [int(value) for value in request.POST.getlist("server") if value.isdigit()]
    servers = list(Server.objects.for_user(me(request)).filter(team=team, pk__in=ids))
    action = request.POST.get("action", "")
    try:
        if action in ("tag", "untag"):
            current_team(request, Action.EDIT)
            tag = get_object_or_404(
                Tag.objects.filter(team=team), pk=int(request.POST.get("tag") or 0)
            )
            if not servers:
                raise services.ServerError("Select at least one server.")
            count = labels.tag_servers(
                me(request), servers, tag, remove=action == "untag", request=request
            )
            verb = "Removed" if action == "untag" else "Added"
            messages.success(request, f"{verb} the tag {tag} on {count} server(s).")
            return redirect("servers:list")
        run = start_bulk_run(
            me(request),
            team,
            servers,
            action,
            {
                "command": request.POST.get("command", ""),
                "sudo": request.POST.get("sudo") == "on",
                "service": request.POST.get("service", ""),
                "key_id": request.POST.get("key_id", ""),
            },
            request=request,
            confirmed=request.POST.get("confirm") == "yes",
        )
    except services.ServerError as error:
        messages.error(request, str(error))
        return redirect("servers:list")
    messages.success(
        request, f"{BULK_ACTIONS[run.action].label} started on {len(servers)} server(s)."
    )
    return redirect("servers:bulk_detail", run_id=run.pk)


def _run(request: HttpRequest, run_id: int) -> BulkRun:
    return get_object_or_404(
        BulkRun.objects.for_user(request.user).select_related("job", "created_by"), pk=run_id
    )


@login_required
def bulk_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run(request, run_id)
    context = {
        "run": run,
        "action": BULK_ACTIONS.get(run.action),
        "results": run.results.all(),
        "counts": summary(run),
        "finished": run.job is not None and run.job.is_finished,
    }
    template = (
        "servers/_bulk_results.html"
        if request.headers.get("HX-Request")
        else ("servers/bulk_detail.html")
    )
    return render(request, template, context)


@login_required
def bulk_list(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    runs = (
        BulkRun.objects.for_user(me(request))
        .filter(team=team)
        .select_related("job", "created_by")[:100]
    )
    return render(request, "servers/bulk_list.html", {"runs": runs, "actions": BULK_ACTIONS})
