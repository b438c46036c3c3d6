"""SSH key pages: list, generate, import, show public key, download (owners), delete."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from devflow.accounts.choices import Action
from devflow.core import audit
from devflow.core.tenancy import can
from devflow.servers import keys, services
from devflow.servers.bulk import start_bulk_run
from devflow.servers.forms import GenerateKeyForm, ImportKeyForm
from devflow.servers.models import KeyInstallation, Server, SshKey
from devflow.servers.rotation import start_rotation
from devflow.servers.views.common import current_team, fetch, me

EXPIRY_WARNING = timedelta(days=14)


def _expiry(day: object) -> datetime | None:
    if not day:
        return None
    return timezone.make_aware(datetime.combine(day, time(23, 59)))  # type: ignore[arg-type]


@login_required
def key_list(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    can_edit = can(request.user, Action.EDIT, team)
    generate = GenerateKeyForm(request.POST if "generate" in request.POST else None, prefix="gen")
    imported = ImportKeyForm(request.POST if "import" in request.POST else None, prefix="imp")
    if request.method == "POST":
        team = current_team(request, Action.EDIT)
        try:
            if "generate" in request.POST and generate.is_valid():
                data = generate.cleaned_data
                key = keys.generate_key(
                    me(request),
                    team,
                    data["name"],
                    data["algorithm"],
                    expires_at=_expiry(data["expires_at"]),
                    request=request,
                )
                messages.success(request, f"Generated {key}. Add its public key to your servers.")
                return redirect("servers:key_detail", key_id=key.pk)
            if "import" in request.POST and imported.is_valid():
                data = imported.cleaned_data
                key = keys.import_key(
                    me(request),
                    team,
                    data["name"],
                    data["private_key"],
                    data["passphrase"],
                    expires_at=_expiry(data["expires_at"]),
                    request=request,
                )
                messages.success(request, f"Imported {key}.")
                return redirect("servers:key_detail", key_id=key.pk)
        except services.ServerError as error:
            (generate if "generate" in request.POST else imported).add_error(None, str(error))
    ssh_keys = SshKey.objects.filter(team=team).prefetch_related("servers")
    soon = timezone.now() + EXPIRY_WARNING
    return render(
        request,
        "servers/key_list.html",
        {
            "ssh_keys": ssh_keys,
            "generate": generate,
            "imported": imported,
            "can_edit": can_edit,
            "soon": soon,
            "now": timezone.now(),
        },
    )


def _key(request: HttpRequest, key_id: int, action: str = Action.VIEW) -> SshKey:
    return fetch(request, SshKey.objects.all(), action, pk=key_id)


@login_required
def key_detail(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _key(request, key_id)
    return render(
        request,
        "servers/key_detail.html",
        {
            "key": key,
            "servers": key.servers.all(),
            "installations": KeyInstallation.objects.filter(ssh_key=key).select_related("server"),
            "team_servers": Server.objects.filter(team=key.team, is_local=False),
            "can_download": can(request.user, Action.ADMINISTER, key),
            "can_edit": can(request.user, Action.EDIT, key),
            "expiring": key.expires_at is not None
            and key.expires_at < timezone.now() + EXPIRY_WARNING,
        },
    )


@login_required
@require_POST
def key_download(request: HttpRequest, key_id: int) -> HttpResponse:
    """The private key, for owners only; every download is in the activity log."""
    key = _key(request, key_id, Action.ADMINISTER)
    audit.record(
        "ssh_key.downloaded",
        actor=me(request),
        team=key.team,
        target=key,
        request=request,
        details={"fingerprint": key.fingerprint},
    )
    response = HttpResponse(key.private_key, content_type="application/octet-stream")
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in key.name)
    response["Content-Disposition"] = f'attachment; filename="{safe_name or "key"}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def key_delete(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _key(request, key_id, Action.EDIT)
    try:
        keys.delete_key(me(request), key, request=request)
    except services.ServerError as error:
        messages.error(request, str(error))
        return redirect("servers:key_detail", key_id=key.pk)
    messages.success(request, f"Deleted the key {key.name}.")
    return redirect("servers:keys")


@login_required
@require_POST
def key_rotate(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _key(request, key_id, Action.EDIT)
    try:
        job = start_rotation(me(request), key, request=request)
    except services.ServerError as error:
        messages.error(request, str(error))
        return redirect("servers:key_detail", key_id=key.pk)
    messages.success(request, f"Rotating {key} (job #{job.pk}).")
    return redirect("job_detail", job_id=job.pk)


@login_required
@require_POST
def key_deploy(request: HttpRequest, key_id: int) -> HttpResponse:
    """Add (or remove) this key on the selected servers, as a bulk run."""
    key = _key(request, key_id, Action.EDIT)
    ids = [int(value) for value in request.POST.getlist("server") if value.isdigit()]
    servers = list(
        Server.objects.for_user(me(request), Action.EDIT).filter(team=key.team, pk__in=ids)
    )
    action = "remove_key" if request.POST.get("remove") else "deploy_key"
    try:
        run = start_bulk_run(
            me(request),
            key.team,
            servers,
            action,
            {"key_id": key.pk},
            request=request,
            confirmed=True,
        )
    except services.ServerError as error:
        messages.error(request, str(error))
        return redirect("servers:key_detail", key_id=key.pk)
    return redirect("servers:bulk_detail", run_id=run.pk)
