"""Tags and groups pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from devflow.accounts.choices import Action
from devflow.core.tenancy import can
from devflow.servers import labels, services
from devflow.servers.forms import GroupForm, TagForm
from devflow.servers.models import ServerGroup, Tag
from devflow.servers.views.common import current_team, fetch, me


@login_required
def label_list(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    tag_form = TagForm(request.POST if "tag" in request.POST else None, prefix="tag")
    group_form = GroupForm(request.POST if "group" in request.POST else None, prefix="group")
    if request.method == "POST":
        team = current_team(request, Action.EDIT)
        try:
            if "tag" in request.POST and tag_form.is_valid():
                tag = labels.create_tag(
                    me(request),
                    team,
                    tag_form.cleaned_data["name"],
                    tag_form.cleaned_data["colour"],
                    request=request,
                )
                messages.success(request, f"Tag {tag} created.")
                return redirect("servers:labels")
            if "group" in request.POST and group_form.is_valid():
                group = labels.create_group(
                    me(request),
                    team,
                    group_form.cleaned_data["name"],
                    group_form.cleaned_data["description"],
                    request=request,
                )
                messages.success(request, f"Group {group} created.")
                return redirect("servers:labels")
        except services.ServerError as error:
            (tag_form if "tag" in request.POST else group_form).add_error(None, str(error))
    return render(
        request,
        "servers/labels.html",
        {
            "tags": Tag.objects.filter(team=team).annotate(n=Count("servers")),
            "groups": ServerGroup.objects.filter(team=team).annotate(n=Count("servers")),
            "tag_form": tag_form,
            "group_form": group_form,
            "can_edit": can(request.user, Action.EDIT, team),
        },
    )


@login_required
@require_POST
def tag_delete(request: HttpRequest, tag_id: int) -> HttpResponse:
    tag = fetch(request, Tag.objects.all(), Action.EDIT, pk=tag_id)
    labels.delete_tag(me(request), tag, request=request)
    messages.success(request, f"Tag {tag.name} deleted.")
    return redirect("servers:labels")


@login_required
@require_POST
def group_delete(request: HttpRequest, group_id: int) -> HttpResponse:
    group = fetch(request, ServerGroup.objects.all(), Action.EDIT, pk=group_id)
    labels.delete_group(me(request), group, request=request)
    messages.success(request, f"Group {group.name} deleted; its servers are ungrouped.")
    return redirect("servers:labels")
