"""The authorization matrix: every route of the URL conf (and every WebSocket), every role,
an object of another team, checked against tests/authz/policy.py.

For each route and method (API routes: per view set action, as the router builds them):
(a) anonymous → the login redirect (pages) or 401/403 problem+json (API);
(b) each role of Acme, on an object of Acme → not refused from the policy's role up; refused
    below it (403, or what the policy records: hidden as 404, an error message, no effect);
(c) charlie, owner of Globex, naming Acme's object → 404 (in the URL), refused (in a body).
API routes run with the session and again with a token carrying every scope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.messages import ERROR, SUCCESS, get_messages
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern, RoutePattern

from devflow.accounts import api_tokens
from devflow.accounts.models import TokenScope, User
from devflow.api.permissions import required_action
from tests.authz import factories
from tests.authz.policy import (
    ADMIN_POLICY,
    API_KINDS,
    AUTHENTICATED,
    NOBODY,
    POLICY,
    PUBLIC,
    ROLES,
    STAFF,
    Policy,
    Rule,
    api_rule,
    with_exceptions,
)

ANONYMOUS, OTHER = "anonymous", "other"
PRINCIPALS = (ANONYMOUS, *ROLES, OTHER)
RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}
USER_FIXTURE = {
    "viewer": "vera",
    "deployer": "bob",
    "maintainer": "max_",
    "owner": "alice",
    OTHER: "charlie",
}
REFUSED = (401, 403, 404)
PROBLEM = "application/problem+json"


# The URL conf, walked -------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """One route as the URL conf has it."""

    name: str  # "servers:detail", "api:server-detail", "ws:ws/jobs/<int:job_id>/log"
    route: str  # the full route string
    callback: Any
    kwargs: tuple[str, ...]  # the URL kwargs it takes

    @property
    def namespace(self) -> str:
        return self.name.split(":", 1)[0] if ":" in self.name else ""


def _kwargs_of(pattern: Any) -> list[str]:
    if isinstance(pattern, RoutePattern):
        return list(pattern.converters)
    if isinstance(pattern, RegexPattern):
        return list(pattern.regex.groupindex)
    return []


def walk(
    patterns: list[Any], prefix: str = "", namespace: str = "", kwargs: tuple[str, ...] = ()
) -> Iterator[Found]:
    """Every URL pattern below `patterns`, with its namespaced name, route and kwargs."""
    for entry in patterns:
        here = (*kwargs, *_kwargs_of(entry.pattern))
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from walk(entry.url_patterns, route, inner, here)
        elif isinstance(entry, URLPattern):
            if entry.name:
                name = f"{namespace}:{entry.name}" if namespace else entry.name
            else:
                name = f"unnamed:{route}"
            yield Found(name, route, entry.callback, tuple(k for k in here if k != "format"))


def url_conf() -> dict[str, Found]:
    """Routes by name; a DRF route and its `.json` twin share a name and a view: kept once."""
    found: dict[str, Found] = {}
    for entry in walk(get_resolver().url_patterns):
        found.setdefault(entry.name, entry)
    return found


def websockets() -> dict[str, Found]:
    from devflow.asgi import websocket_urls

    return {f"ws:{found.route}": found for found in walk(websocket_urls)}


def is_admin(found: Found) -> bool:
    return found.namespace == "admin" or found.name.startswith("unnamed:admin/")


# The API, per view set and method ---------------------------------------------------------------


@dataclass(frozen=True)
class ApiMethod:
    name: str  # "api:server-detail"
    method: str
    action: str  # the view set's action ("retrieve", "check", ...)
    required: str  # what devflow.api.permissions.required_action says it needs
    detail: bool
    kind: str | None  # what fills `pk`


class _FakeRequest:
    def __init__(self, method: str) -> None:
        self.method = method


def api_methods() -> tuple[list[ApiMethod], list[str]]:
    """Every (route, method) the router serves, and basenames without an API_KINDS entry."""
    from devflow.api.urls import router

    found: list[ApiMethod] = []
    unknown: list[str] = []
    for _prefix, viewset, basename in router.registry:
        if basename not in API_KINDS:
            unknown.append(basename)
        for route in router.get_routes(viewset):
            mapping = router.get_method_map(viewset, route.mapping)
            if not mapping:
                continue
            name = "api:" + route.name.format(basename=basename)
            for method, action in mapping.items():
                # The view as DRF builds it for this route: the @action's kwargs are initkwargs.
                view = viewset(**route.initkwargs)
                view.action = action
                view.request = _FakeRequest(method.upper())
                found.append(
                    ApiMethod(
                        name,
                        method.upper(),
                        action,
                        required_action(view),
                        route.detail,
                        API_KINDS.get(basename),
                    )
                )
    return found, unknown


def api_policies() -> dict[str, Policy]:
    """Each API route's policy: the view set's roles, then API_EXCEPTIONS."""
    by_name: dict[str, list[ApiMethod]] = {}
    for entry in api_methods()[0]:
        by_name.setdefault(entry.name, []).append(entry)
    policies: dict[str, Policy] = {}
    for name, entries in by_name.items():
        first = entries[0]
        derived = Policy(
            {entry.method: api_rule(entry.required) for entry in entries},
            obj=first.kind if first.detail else None,
            kwargs={"pk": "pk"} if first.detail else {},
            lists=first.kind if name.endswith("-list") else None,
        )
        policies[name] = with_exceptions(name, derived)
    metrics = policies.get("api:metrics-detail")
    if metrics is not None:
        policies["api:metrics-detail"] = Policy(metrics.methods, "server", {"server_id": "pk"})
    return policies


API_POLICIES = api_policies()


def policy_for(name: str) -> Policy | None:
    return API_POLICIES.get(name) or POLICY.get(name)


# The cases -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    route: Found
    method: str
    principal: str
    token: bool = False  # the API with a token of every scope, instead of the session

    @property
    def policy(self) -> Policy:
        found = policy_for(self.name)
        assert found is not None
        return found

    @property
    def rule(self) -> Rule:
        return self.policy.methods[self.method]

    @property
    def api(self) -> bool:
        return self.name.startswith("api:") or self.route.route.startswith("api/")

    @property
    def id(self) -> str:
        via = "-token" if self.token else ""
        return f"{self.name}-{self.method}-{self.principal}{via}"


def _object_in_url(policy: Policy) -> bool:
    return policy.obj is not None and any(not v.startswith("=") for v in policy.kwargs.values())


def cases() -> Iterator[Any]:
    routes = url_conf()
    for name, found in sorted(routes.items()):
        policy = policy_for(name)
        if policy is None or is_admin(found) or policy.dedicated:
            continue
        for method, rule in policy.methods.items():
            principals = list(PRINCIPALS)
            names_acme = _object_in_url(policy) or (policy.obj is not None and rule.body)
            if not names_acme or rule.role in (PUBLIC, NOBODY):
                principals.remove(OTHER)  # nothing of Acme's to name
            if rule.role == PUBLIC:
                principals = [ANONYMOUS, "owner"]  # the same for everyone, signed in or not
            for principal in principals:
                runs = (
                    [False, True] if name.startswith("api:") and principal != ANONYMOUS else [False]
                )
                for token in runs:
                    case = Case(name, found, method, principal, token)
                    bug = policy.bugs.get((method, principal))
                    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
                    yield pytest.param(case, id=case.id, marks=marks)


ALL_CASES = list(cases())


# Running one case ---------------------------------------------------------------------------------


def _attribute(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def kwargs_for(policy: Policy, obj: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for kwarg, source in policy.kwargs.items():
        values[kwarg] = source[1:] if source.startswith("=") else _attribute(obj, source)
    return values


def url_for(case: Case, obj: Any) -> str:
    policy = case.policy
    if policy.sample_path:
        return policy.sample_path
    return reverse(case.name, kwargs=kwargs_for(policy, obj) or None)


def login_redirect(response: Any, url: str) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/login/?next=")


def messages_of(response: Any) -> list[Any]:
    return list(get_messages(response.wsgi_request))


def describe(response: Any) -> str:
    location = response.get("Location", "")
    body = response.content[:300].decode(errors="replace") if not location else ""
    notes = [f"{m.level_tag}: {m.message}" for m in messages_of(response)]
    return f"{response.status_code} {location} {notes} {body}".strip()


@dataclass
class World:
    request: Any

    def user(self, principal: str) -> User | None:
        if principal == ANONYMOUS:
            return None
        user: User = self.request.getfixturevalue(USER_FIXTURE[principal])
        return user

    @property
    def acme(self) -> Any:
        return self.request.getfixturevalue("acme")

    @property
    def alice(self) -> User:
        user: User = self.request.getfixturevalue("alice")
        return user


def make_object(case: Case, world: World, user: User | None) -> Any:
    policy = case.policy
    if policy.obj is None:
        return None
    maker = world.alice
    if policy.per_user and user is not None and case.principal != OTHER:
        maker = user  # their own token; another user's (alice's) for charlie
    return factories.make(policy.obj, world.acme, maker)


_HANDLER: list[Any] = []


def new_client() -> Client:
    """A test client; they share one handler (loading the middleware, WhiteNoise's scan of
    the static files above all, once rather than for each of the ~2000 cases)."""
    client = Client()
    if _HANDLER:
        client.handler = _HANDLER[0]
    else:
        _HANDLER.append(client.handler)
    return client


def send(case: Case, world: World, user: User | None, url: str, body: dict[str, Any]) -> Any:
    client = new_client()
    headers: dict[str, str] = {}
    if user is not None:
        if case.token:
            every = list(TokenScope.values)
            token = api_tokens.create(user, "matrix", every).token
            headers["Authorization"] = f"Bearer {token}"
        else:
            client.force_login(user)
    method = case.method.lower()
    if case.api:
        data = json.dumps(body) if body else ""
        return client.generic(
            case.method, url, data, content_type="application/json", headers=headers
        )
    if method == "get":
        return client.get(url, headers=headers)
    return client.post(url, body, headers=headers)


def allowed(role: str, principal: str) -> bool:
    if role == PUBLIC:
        return True
    if principal in (ANONYMOUS, OTHER):
        return role == AUTHENTICATED and principal == OTHER
    if role == AUTHENTICATED:
        return True
    if role in (STAFF, NOBODY):
        return False
    return RANK[principal] >= RANK[role]


def check_anonymous(case: Case, response: Any, url: str) -> None:
    rule = case.rule
    if rule.role == PUBLIC:
        assert response.status_code not in (401, 403), describe(response)
        assert response.status_code < 500, describe(response)
        assert not login_redirect(response, url), describe(response)
    elif rule.role == NOBODY and response.status_code == 404:
        pass
    elif case.api:
        assert response.status_code in (401, 403), describe(response)
        assert response["Content-Type"].startswith(PROBLEM), describe(response)
    else:
        assert login_redirect(response, url), describe(response)
        assert response["Location"] == f"/login/?next={url}", describe(response)


def check_allowed(case: Case, response: Any, obj: Any) -> None:
    rule = case.rule
    assert response.status_code not in REFUSED, f"refused: {describe(response)}"
    # Done (2xx), sent on (3xx), or the input (an empty or minimal body) was refused: 400, or
    # 409 when the object's state does not allow it now; never an error.
    assert response.status_code < 400 or response.status_code in (400, 409), describe(response)
    if rule.denied == "message" or rule.effect is not None:
        levels = [m.level for m in messages_of(response)]
        assert ERROR not in levels, f"refused by message: {describe(response)}"
    if rule.effect is not None:
        assert rule.effect(obj), f"not done: {describe(response)}"


def check_denied(case: Case, response: Any, obj: Any) -> None:
    rule = case.rule
    if rule.role == NOBODY:
        assert response.status_code == 404, describe(response)
    elif rule.role == STAFF:
        assert response.status_code == 302, describe(response)
    elif rule.denied == "message":
        levels = [m.level for m in messages_of(response)]
        assert response.status_code == 302, describe(response)
        assert ERROR in levels and SUCCESS not in levels, describe(response)
    elif rule.denied == "no_effect":
        assert rule.effect is not None
        assert response.status_code < 500, describe(response)
        assert not rule.effect(obj), f"done although refused: {describe(response)}"
    else:
        assert response.status_code == int(rule.denied), describe(response)
        if case.api:
            assert response["Content-Type"].startswith(PROBLEM), describe(response)


def check_other(case: Case, response: Any, obj: Any) -> None:
    """Charlie (owner of Globex) names Acme's object: it does not exist for him."""
    rule = case.rule
    if _object_in_url(case.policy):
        assert response.status_code == 404, f"another team's object: {describe(response)}"
        return
    # Acme's object only in the body: it is not found (docs/api.md: a 400 saying so, or a
    # 404), never a 403 that would tell it exists; pages refuse with an error message.
    levels = [m.level for m in messages_of(response)]
    refused = response.status_code in (400, 404) or ERROR in levels
    assert refused and SUCCESS not in levels, f"another team's object: {describe(response)}"
    if rule.effect is not None:
        assert not rule.effect(obj), describe(response)


@pytest.mark.django_db
@pytest.mark.parametrize("case", ALL_CASES)
def test_route(case: Case, request: pytest.FixtureRequest) -> None:
    world = World(request)
    user = world.user(case.principal)
    obj = make_object(case, world, user)
    url = url_for(case, obj)
    body = case.rule.body(obj if obj is not None else world.acme) if case.rule.body else {}
    response = send(case, world, user, url, body)
    if case.principal == ANONYMOUS or case.rule.role == PUBLIC:
        check_anonymous(case, response, url)
    elif case.principal == OTHER and case.rule.role not in (PUBLIC, AUTHENTICATED):
        check_other(case, response, obj)
    elif case.principal == OTHER and case.policy.per_user:
        assert response.status_code == 404, f"another user's object: {describe(response)}"
    elif allowed(case.rule.role, case.principal):
        check_allowed(case, response, obj)
    else:
        check_denied(case, response, obj)


# Every route has a policy, every policy a route -----------------------------------------------


def test_every_route_and_websocket_has_a_policy() -> None:
    routes = {**url_conf(), **websockets()}
    missing = [
        f"add a policy for {name} (/{found.route}) in tests/authz/policy.py"
        for name, found in sorted(routes.items())
        if not is_admin(found) and policy_for(name) is None
    ]
    _methods, unknown = api_methods()
    missing += [
        f"add a policy for the view set {basename!r} (its object kind in API_KINDS) "
        "in tests/authz/policy.py"
        for basename in unknown
    ]
    assert not missing, "\n".join(missing)


def test_every_policy_names_a_route_that_exists() -> None:
    from tests.authz.policy import API_EXCEPTIONS

    routes = {**url_conf(), **websockets()}
    stale = [name for name in [*POLICY, *API_EXCEPTIONS] if name not in routes]
    assert not stale, "policies for routes that no longer exist: " + ", ".join(stale)
    served = {(entry.name, entry.method) for entry in api_methods()[0]}
    gone = [
        f"{name} {method}"
        for name, extra in API_EXCEPTIONS.items()
        for method in extra
        if method.isupper() and (name, method) not in served
    ]
    assert not gone, "exceptions for methods the route does not serve: " + ", ".join(gone)


def test_every_api_method_of_the_url_conf_is_in_the_matrix() -> None:
    """The router's routes are what the URL conf serves under /api/v1/ (nothing escapes)."""
    conf = {name for name in url_conf() if name.startswith("api:")}
    derived = {entry.name for entry in api_methods()[0]}
    others = {name for name in POLICY if name.startswith("api:")}
    assert conf == derived | others
    served = {(case.values[0].name, case.values[0].method) for case in ALL_CASES}
    for entry in api_methods()[0]:
        assert (entry.name, entry.method) in served


# Lists: another team's owner never sees Acme's rows ----------------------------------------------

LIST_MARK = re.compile(rf"{factories.MARKER}\d+-")


def list_cases() -> Iterator[Any]:
    for name, found in sorted(url_conf().items()):
        policy = policy_for(name)
        if policy is not None and policy.lists and "GET" in policy.methods:
            yield pytest.param(name, found, id=name)


def _listed(name: str, response: Any, obj: Any) -> bool:
    """Whether the answer shows `obj`: its id among an API list's results, else its name."""
    if name.startswith("api:"):
        results = response.json()
        rows = results["results"] if isinstance(results, dict) else results
        return any(row.get("id", row.get("server")) == obj.pk for row in rows)
    return bool(LIST_MARK.search(response.content.decode()))


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "found"), list(list_cases()))
def test_lists_show_acme_to_its_owner_and_not_to_another_team(
    name: str, found: Found, alice: User, acme: Any, charlie: User
) -> None:
    policy = policy_for(name)
    assert policy is not None and policy.lists is not None
    obj = factories.make(policy.lists, acme, alice)
    url = reverse(name)
    for user, expected in ((alice, True), (charlie, False)):
        client = new_client()
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200, describe(response)
        assert _listed(name, response, obj) is expected, (user.username, describe(response))


# Actions are POSTs: a GET (a link, an image, a prefetch) cannot trigger one ----------------------


def post_only_cases() -> Iterator[Any]:
    for name, found in sorted(url_conf().items()):
        policy = policy_for(name)
        if policy is None or name.startswith("api:") or policy.dedicated or is_admin(found):
            continue
        if set(policy.methods) == {"POST"} and policy.methods["POST"].role != PUBLIC:
            yield pytest.param(name, found, id=name)


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "found"), list(post_only_cases()))
def test_post_only_routes_refuse_a_get(name: str, found: Found, alice: User, acme: Any) -> None:
    policy = policy_for(name)
    assert policy is not None
    obj = factories.make(policy.obj, acme, alice) if policy.obj else None
    client = new_client()
    client.force_login(alice)
    response = client.get(reverse(name, kwargs=kwargs_for(policy, obj) or None))
    assert response.status_code == 405, describe(response)


# Django's admin: staff only, whatever the team role -----------------------------------------------


def admin_cases() -> Iterator[Any]:
    for name, found in sorted(url_conf().items()):
        if is_admin(found):
            yield pytest.param(name, found, id=name)


def admin_path(found: Found) -> str:
    """A concrete path for an admin route: every kwarg filled with a plausible value."""
    samples = {"app_label": "accounts", "url": "nothing-here/"}
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: samples.get(m[1], "1"), found.route)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: samples.get(m[1], "1"), path)
    return "/" + path.replace("^", "").replace("$", "")


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "found"), list(admin_cases()))
def test_the_admin_is_for_staff_only(
    name: str, found: Found, request: pytest.FixtureRequest
) -> None:
    assert ADMIN_POLICY.methods["GET"].role == STAFF
    world = World(request)
    path = admin_path(found)
    for principal in (ANONYMOUS, "viewer", "owner"):  # no team role is enough, not even owner
        client = new_client()
        user = world.user(principal)
        if user is not None:
            client.force_login(user)
        response = client.get(path, follow=True)
        assert response.request["PATH_INFO"] == "/admin/login/", (principal, describe(response))


# WebSockets (devflow.asgi) -----------------------------------------------------------------------


def websocket_cases() -> Iterator[Any]:
    for name, found in sorted(websockets().items()):
        for principal in PRINCIPALS:
            yield pytest.param(name, found, principal, id=f"{name}-{principal}")


async def _handshake(path: str, user: Any) -> tuple[bool, int | None]:
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth.models import AnonymousUser

    from devflow.asgi import websocket_urls

    communicator = WebsocketCommunicator(URLRouter(websocket_urls), path)
    communicator.scope["user"] = user or AnonymousUser()
    communicator.scope["client"] = ("203.0.113.7", 50123)
    connected, code = await communicator.connect(timeout=10)
    if connected:
        await communicator.disconnect()
    return connected, code


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("name", "found", "principal"), list(websocket_cases()))
def test_websocket(name: str, found: Found, principal: str, request: pytest.FixtureRequest) -> None:
    """The handshake: accepted from the policy's role up; closed (4401/4404) for the others.

    The terminal's server has no SSH key: an accepted terminal is refused right after the
    handshake (4400) without connecting anywhere, so no sshd is needed to tell who gets in.
    """
    from tests.conftest import run_async

    policy = POLICY[name]
    world = World(request)
    acme = world.acme
    user = world.user(principal)
    obj = factories.make(policy.obj, acme, world.alice) if policy.obj else None
    path = "/" + re.sub(
        r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs_for(policy, obj)[m[1]]), found.route
    )
    outcome: list[tuple[bool, int | None]] = []

    async def scenario() -> None:
        outcome.append(await _handshake(path, user))

    run_async(scenario)
    connected, code = outcome[0]
    role = policy.methods["GET"].role
    if principal not in (ANONYMOUS, OTHER) and allowed(role, principal):
        assert connected, f"{principal} refused ({code})"
    else:
        assert not connected, f"{principal} let in"
        assert code in (4401, 4404), code


# Routes a user does not authenticate to: dedicated tests -----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_webhook_receiver_refuses_another_teams_secret(alice, acme, charlie, globex) -> None:  # type: ignore[no-untyped-def]
    """The receiver's only credential is the project's secret: Globex's secret (or none) does
    not deploy Acme's project, Acme's own does."""
    from devflow.deployments.models import Deployment
    from devflow.webhooks import services as webhooks

    ours = webhooks.config_of(factories.project(acme, alice))
    theirs = webhooks.config_of(factories.project(globex, charlie))
    body = json.dumps({"ref": "main", "sha": factories.SHA, "message": "Fix"}).encode()
    url = f"/hooks/custom/{ours.public_id}"

    def push(secret: str) -> Any:
        headers = factories.signed(secret, body)
        return new_client().post(url, body, content_type="application/json", headers=headers)

    for secret in (theirs.secret, ""):
        response = push(secret)
        assert response.status_code in (401, 403), describe(response)
        assert not Deployment.objects.filter(team=acme).exists()
    response = push(ours.secret)
    assert response.status_code in (200, 202), describe(response)
    assert Deployment.objects.filter(team=acme).count() == 1
    assert not Deployment.objects.filter(team=globex).exists()


@pytest.mark.django_db
def test_metrics_endpoint_serves_only_the_tokens_team(alice, acme, charlie, globex) -> None:  # type: ignore[no-untyped-def]
    """/metrics is read with a team's metrics token: Globex's token never shows Acme's servers;
    no token (or a signed-in session without one) is a 401."""
    from devflow.monitoring import tokens

    ours = factories.server(acme, alice)
    theirs = factories.server(globex, charlie)
    globex_token = tokens.create(charlie, globex, "prometheus").token
    acme_token = tokens.create(alice, acme, "prometheus").token

    def scrape(token: str, login: Any = None) -> Any:
        client = new_client()
        if login is not None:
            client.force_login(login)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.get("/metrics", headers=headers)

    page = scrape(globex_token)
    assert page.status_code == 200
    assert theirs.name in page.content.decode() and ours.name not in page.content.decode()
    page = scrape(acme_token)
    assert ours.name in page.content.decode() and theirs.name not in page.content.decode()
    assert scrape("").status_code == 401
    assert scrape("", login=alice).status_code == 401


def test_every_exception_says_why() -> None:
    """A refusal other than 403, or an API role that is not the view set's, has a reason."""
    from tests.authz.policy import API_EXCEPTIONS

    unexplained = [
        f"{name} {method}"
        for name in sorted({*POLICY, *API_POLICIES})
        for method, rule in (policy_for(name) or POLICY[name]).methods.items()
        if rule.denied != "403" and not rule.reason
    ]
    for name, extra in API_EXCEPTIONS.items():
        for method, rule in extra.items():
            derived = [e for e in api_methods()[0] if e.name == name and e.method == method]
            if derived and api_rule(derived[0].required).role != rule.role and not rule.reason:
                unexplained.append(f"{name} {method}")
    for name, policy in POLICY.items():
        if policy.dedicated and "test_" not in policy.dedicated:
            unexplained.append(f"{name}: name the dedicated test")
    assert not unexplained, "say why: " + ", ".join(unexplained)


def test_api_kinds_name_registered_view_sets() -> None:
    from devflow.api.urls import router

    registered = {basename for _prefix, _viewset, basename in router.registry}
    assert not set(API_KINDS) - registered, "API_KINDS for view sets that no longer exist"


# Another team's object named inside a body --------------------------------------------------------

# (url, kind of Acme's object, body naming it; `team` is charlie's own team): charlie creates
# something in Globex that points at Acme's object. docs/api.md: a 400 saying it is not found.
BODY_REFERENCES: list[tuple[str, str, Any]] = [
    ("/api/v1/servers/", "ssh_key",
     lambda o, t: {"team": t.pk, "name": "web", "host": "10.0.0.9", "ssh_key": o.pk}),
    ("/api/v1/servers/", "group",
     lambda o, t: {"team": t.pk, "name": "web", "host": "10.0.0.9", "group": o.pk}),
    ("/api/v1/servers/", "tag",
     lambda o, t: {"team": t.pk, "name": "web", "host": "10.0.0.9", "tags": [o.pk]}),
    ("/api/v1/projects/", "ssh_key",
     lambda o, t: {"team": t.pk, "name": "p", "repository_url": "git@x:y.git", "deploy_key": o.pk,
                   "environment": {"servers": [], "deploy_path": "/srv/p"}}),
    ("/api/v1/projects/", "server",
     lambda o, t: {"team": t.pk, "name": "p", "repository_url": "https://x/y.git",
                   "environment": {"servers": [o.pk], "deploy_path": "/srv/p"}}),
    ("/api/v1/environments/", "project",
     lambda o, t: {"project": o.pk, "name": "qa", "servers": [], "deploy_path": "/srv/qa"}),
    ("/api/v1/schedules/", "environment",
     lambda o, t: {"environment": o.pk, "local_run_at": "2099-03-28T21:30"}),
    ("/api/v1/health-checks/", "project",
     lambda o, t: {"team": t.pk, "name": "up", "url": "https://example.com/", "project": o.pk}),
    ("/api/v1/alert-rules/", "server",
     lambda o, t: {"team": t.pk, "name": "cpu", "metric": "cpu", "operator": ">",
                   "threshold": 90, "scope": "server", "server": o.pk}),
    ("/api/v1/alert-rules/", "channel",
     lambda o, t: {"team": t.pk, "name": "cpu", "metric": "cpu", "operator": ">",
                   "threshold": 90, "channels": [o.pk]}),
    ("/api/v1/bulk-runs/", "server",
     lambda o, t: {"servers": [o.pk], "action": "ping"}),
    ("/api/v1/server-actions/", "server",
     lambda o, t: {"server": o.pk, "action": "disk_usage"}),
]  # fmt: skip


def _ids(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [i for v in value.values() for i in _ids(v)]
    return []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "kind", "body"),
    [pytest.param(*entry, id=f"{entry[0]}-{entry[1]}") for entry in BODY_REFERENCES],
)
def test_a_body_cannot_name_another_teams_object(  # type: ignore[no-untyped-def]
    url: str, kind: str, body: Any, alice, acme, charlie, globex
) -> None:
    from devflow.core.models import ActivityLog

    theirs = factories.make(kind, acme, alice)
    before = ActivityLog.objects.filter(team=globex).count()
    client = new_client()
    client.force_login(charlie)
    sent = body(theirs, globex)
    response = client.post(url, sent, content_type="application/json")
    assert response.status_code in (400, 404), describe(response)
    assert response["Content-Type"].startswith(PROBLEM)
    if response.status_code == 400:  # refused for naming it, not for something else
        named = [k for k, v in sent.items() if theirs.pk in (v, *_ids(v))]
        assert set(named) & set(response.json()["errors"]), describe(response)
    assert ActivityLog.objects.filter(team=globex).count() == before  # nothing was done
