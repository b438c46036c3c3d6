"""Account pages: setup, sign-in with two-factor, sign-up, invitations, profile, teams."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from devflow.accounts import ratelimit, services, twofactor
from devflow.accounts.choices import Role, role_at_least
from devflow.accounts.forms import (
    EnableTwoFactorForm,
    InviteForm,
    LoginForm,
    NewAccountForm,
    RoleForm,
    SecondFactorForm,
    SetupForm,
    SignupForm,
    TeamForm,
)
from devflow.accounts.models import Invitation, Membership, Team, User
from devflow.core import audit
from devflow.core.models import ActivityResult

PENDING_2FA_KEY = "pending_2fa_user"


def _me(request: HttpRequest) -> User:
    """Return the signed-in user (views using this are behind login_required)."""
    user = request.user
    if not isinstance(user, User):
        raise Http404
    return user


def setup(request: HttpRequest) -> HttpResponse:
    """Create the first admin with the one-time token; a 404 once an admin exists."""
    if not services.setup_needed():
        raise Http404
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.create_first_admin(
                token=data["token"],
                username=data["username"],
                email=data["email"],
                password=data["password"],
                request=request,
            )
        except services.AccountError as error:
            form.add_error(None, str(error))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Your admin account and personal team are ready.")
            return redirect("dashboard")
    return render(request, "accounts/setup.html", {"form": form})


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse(settings.LOGIN_REDIRECT_URL)


def login_view(request: HttpRequest) -> HttpResponse:
    if services.setup_needed():
        return redirect("accounts:setup")
    form = LoginForm(request.POST or None)
    ip = audit.client_ip(request)
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["username"]
        lockout = ratelimit.lockout_for(name, ip)
        if lockout is not None:
            form.add_error(None, lockout.message)
            audit.record(
                "login.locked_out",
                request=request,
                result=ActivityResult.DENIED,
                target_label=name[:100],
            )
            response = render(request, "accounts/login.html", {"form": form}, status=429)
            response["Retry-After"] = str(lockout.retry_after_seconds)
            return response
        username = name
        if "@" in name:
            found = User.objects.filter(email__iexact=name).first()
            username = found.username if found else name
        user = authenticate(request, username=username, password=form.cleaned_data["password"])
        if user is None:
            ratelimit.note_attempt(name, ip, succeeded=False)
            form.add_error(None, "Wrong username or password.")
        else:
            ratelimit.note_attempt(name, ip, succeeded=True)
            if isinstance(user, User) and user.totp_enabled:
                request.session[PENDING_2FA_KEY] = user.pk
                request.session["pending_next"] = _safe_next(request)
                return redirect("accounts:login_2fa")
            login(request, user)
            audit.record("login.succeeded", actor=user, request=request)
            return redirect(_safe_next(request))
    return render(
        request, "accounts/login.html", {"form": form, "next": request.GET.get("next", "")}
    )


def login_2fa(request: HttpRequest) -> HttpResponse:
    user_id = request.session.get(PENDING_2FA_KEY)
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is None:
        return redirect("accounts:login")
    form = SecondFactorForm(request.POST or None)
    ip = audit.client_ip(request)
    if request.method == "POST" and form.is_valid():
        lockout = ratelimit.lockout_for(user.username, ip)
        if lockout is not None:
            form.add_error(None, lockout.message)
        elif twofactor.verify_second_factor(user, form.cleaned_data["code"]):
            next_url = request.session.get("pending_next") or reverse("dashboard")
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            audit.record(
                "login.succeeded", actor=user, request=request, details={"two_factor": True}
            )
            return redirect(next_url)
        else:
            ratelimit.note_attempt(user.username, ip, succeeded=False)
            form.add_error("code", "That code is not valid.")
    return render(request, "accounts/login_2fa.html", {"form": form})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("accounts:login")


def signup(request: HttpRequest) -> HttpResponse:
    if not settings.DEVFLOW_OPEN_SIGNUP:
        raise Http404
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.create_user(
                username=data["username"], email=data["email"], password=data["password"]
            )
        except services.AccountError as error:
            form.add_error(None, str(error))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            audit.record(
                "user.signed_up", actor=user, team=user.last_team, target=user, request=request
            )
            return redirect("dashboard")
    return render(request, "accounts/signup.html", {"form": form})


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Accept an invitation: signed in as the invited address, or by creating an account."""
    try:
        invite = services.find_invitation(token)
    except services.AccountError as error:
        return render(
            request, "accounts/invitation_invalid.html", {"error": str(error)}, status=410
        )
    existing = User.objects.filter(email__iexact=invite.email).exists()
    form = NewAccountForm(request.POST or None) if not request.user.is_authenticated else None
    if request.method == "POST":
        try:
            if request.user.is_authenticated:
                services.accept_invitation(token, request.user, request)
            elif form is not None and form.is_valid():
                user = services.sign_up_with_invitation(
                    token,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password"],
                    request=request,
                )
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            else:
                return render(
                    request,
                    "accounts/invitation.html",
                    {"invitation": invite, "form": form, "existing": existing},
                )
        except services.AccountError as error:
            messages.error(request, str(error))
            return render(
                request,
                "accounts/invitation.html",
                {"invitation": invite, "form": form, "existing": existing},
            )
        services.switch_team(_me(request), invite.team, request.session)
        messages.success(request, f"You joined {invite.team}.")
        return redirect("dashboard")
    return render(
        request,
        "accounts/invitation.html",
        {"invitation": invite, "form": form, "existing": existing},
    )


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = _me(request)
    password_form = PasswordChangeForm(user, request.POST or None, prefix="pw")
    if request.method == "POST" and "pw-old_password" in request.POST and password_form.is_valid():
        password_form.save()
        # Keeps this session; every other session of the user ends (session hash changes).
        update_session_auth_hash(request, password_form.user)
        audit.record("user.password_changed", actor=user, request=request)
        messages.success(request, "Password changed. Your other sessions were signed out.")
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"password_form": password_form})


@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    user = _me(request)
    if user.totp_enabled:
        return redirect("accounts:profile")
    secret = request.session.get("totp_pending_secret") or twofactor.new_secret()
    request.session["totp_pending_secret"] = secret
    form = EnableTwoFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = twofactor.enable(user, secret, form.cleaned_data["code"])
        except ValueError as error:
            form.add_error("code", str(error))
        else:
            del request.session["totp_pending_secret"]
            audit.record("user.two_factor_enabled", actor=user, request=request)
            return render(request, "accounts/recovery_codes.html", {"codes": codes})
    uri = twofactor.provisioning_uri(user, secret)
    return render(
        request,
        "accounts/two_factor_setup.html",
        {
            "form": form,
            "qr_svg": twofactor.qr_svg(uri),
            "secret": secret,
        },
    )


@login_required
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    user = _me(request)
    if not user.check_password(request.POST.get("password", "")):
        messages.error(request, "Wrong password: two-factor stays on.")
        return redirect("accounts:profile")
    twofactor.disable(user)
    audit.record("user.two_factor_disabled", actor=user, request=request)
    messages.success(request, "Two-factor sign-in is off.")
    return redirect("accounts:profile")


@login_required
@require_POST
def recovery_codes_regenerate(request: HttpRequest) -> HttpResponse:
    user = _me(request)
    if not user.totp_enabled:
        return redirect("accounts:profile")
    codes = twofactor.regenerate_recovery_codes(user)
    audit.record("user.recovery_codes_regenerated", actor=user, request=request)
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


# Teams -----------------------------------------------------------------------


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = services.create_team(_me(request), form.cleaned_data["name"], request)
        services.switch_team(_me(request), team, request.session)
        messages.success(request, f"Team {team} created; you are its owner.")
        return redirect("accounts:team_detail", team_id=team.pk)
    memberships = Membership.objects.filter(user=_me(request)).select_related("team")
    return render(request, "accounts/team_list.html", {"form": form, "memberships": memberships})


def _team_for(request: HttpRequest, team_id: int, action: str = "view") -> Team:
    return get_object_or_404(Team.objects.for_user(request.user, action), pk=team_id)


@login_required
def team_detail(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _team_for(request, team_id)
    mine = services.membership_of(request.user, team)
    assert mine is not None
    invite_form = InviteForm(request.POST or None)
    if request.method == "POST" and invite_form.is_valid():
        try:
            services.invite(
                _me(request),
                team,
                invite_form.cleaned_data["email"],
                invite_form.cleaned_data["role"],
                request,
            )
        except services.AccountError as error:
            invite_form.add_error(None, str(error))
        else:
            messages.success(request, f"Invitation sent to {invite_form.cleaned_data['email']}.")
            return redirect("accounts:team_detail", team_id=team.pk)
    members = team.memberships.select_related("user").order_by("user__username")
    invitations = [i for i in team.invitations.all() if i.is_pending]
    roles = Role.choices
    if not role_at_least(mine.role, Role.OWNER):
        roles = [(value, label) for value, label in Role.choices if role_at_least(mine.role, value)]
    invite_form.fields["role"].choices = roles  # type: ignore[attr-defined]
    context: dict[str, Any] = {
        "team": team,
        "mine": mine,
        "members": members,
        "invitations": invitations,
        "invite_form": invite_form,
        "role_choices": Role.choices,
        "can_invite": role_at_least(mine.role, Role.MAINTAINER),
        "is_owner": mine.role == Role.OWNER,
    }
    return render(request, "accounts/team_detail.html", context)


@login_required
@require_POST
def team_switch(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _team_for(request, team_id)
    services.switch_team(_me(request), team, request.session)
    messages.info(request, f"Now working in {team}.")
    return redirect(_safe_next(request))


@login_required
@require_POST
def member_role(request: HttpRequest, team_id: int, membership_id: int) -> HttpResponse:
    team = _team_for(request, team_id)
    membership = get_object_or_404(Membership, pk=membership_id, team=team)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.change_role(_me(request), membership, form.cleaned_data["role"], request)
        except services.AccountError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"{membership.user} is now {membership.get_role_display()}.")
    return redirect("accounts:team_detail", team_id=team.pk)


@login_required
@require_POST
def member_remove(request: HttpRequest, team_id: int, membership_id: int) -> HttpResponse:
    team = _team_for(request, team_id)
    membership = get_object_or_404(Membership, pk=membership_id, team=team)
    leaving = membership.user_id == request.user.pk
    try:
        services.remove_member(_me(request), membership, request)
    except services.AccountError as error:
        messages.error(request, str(error))
        return redirect("accounts:team_detail", team_id=team.pk)
    if leaving:
        request.session.pop("team_id", None)
        messages.success(request, f"You left {team}.")
        return redirect("accounts:teams")
    messages.success(request, f"{membership.user} was removed from {team}.")
    return redirect("accounts:team_detail", team_id=team.pk)


@login_required
@require_POST
def team_private_egress(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _team_for(request, team_id)
    allowed = request.POST.get("allowed") == "1"
    try:
        services.set_private_egress(_me(request), team, allowed, request)
    except services.AccountError as error:
        messages.error(request, str(error))
    else:
        state = "may now reach" if allowed else "may no longer reach"
        messages.success(
            request, f"Health checks and notifiers of {team} {state} private addresses."
        )
    return redirect("accounts:team_detail", team_id=team.pk)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, team_id: int, invitation_id: int) -> HttpResponse:
    team = _team_for(request, team_id)
    invitation = get_object_or_404(Invitation, pk=invitation_id, team=team)
    try:
        services.revoke_invitation(_me(request), invitation, request)
    except services.AccountError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Invitation of {invitation.email} withdrawn.")
    return redirect("accounts:team_detail", team_id=team.pk)
