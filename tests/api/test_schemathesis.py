"""Schemathesis against the running app: every operation of /api/v1/schema/, with data that the
schema allows and data it does not, answers without a 5xx and as the schema says (a documented
status code, its content type and body), with realistic data in two teams behind it.

The app runs for real (pytest-django's live server, in a thread); jobs that requests start go to
the embedded broker, where no worker takes them. The fuzzing is derandomized, so CI sees the same
requests each run; a bounded number of examples per operation keeps it to a couple of minutes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.core.management import call_command
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from devflow.accounts import api_tokens
from devflow.accounts.models import ApiToken, Membership, TokenScope
from tests.api.test_secret_fields import World, build_world

# Ids start at 1 whatever ran before, so the small ids the fuzzer favours name real objects.
pytestmark = [pytest.mark.django_db(transaction=True, reset_sequences=True), pytest.mark.fuzz]

EXAMPLES = 20
CHAINED = "(chained)"
# Every other check of schemathesis runs (no 5xx; status code, content type, headers and body
# as documented; auth not ignored; ...). These two judge how strict input parsing is, not what
# the answers are: a schema-valid request may still break a rule of the services (a 400, e.g.
# a name already taken), and DRF reads some schema-invalid input leniently (`"name": 0` as
# "0", an unreadable `page_size` as the default page size).
LENIENCY_CHECKS = [positive_data_acceptance, negative_data_rejection]


@dataclass
class Fuzz:
    world: World
    token: str
    token_id: int
    own_memberships: set[str]
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    skipped: int = 0
    calls: int = 0


def start(world: World) -> Fuzz:
    """The fuzzer's state: Acme's owner with a token of every scope."""
    alice = world.acme.owner
    made = api_tokens.create(alice, "fuzz", list(TokenScope.values))
    return Fuzz(
        world=world, token=made.token, token_id=made.row.pk,
        own_memberships={str(m.pk) for m in Membership.objects.filter(user=alice)},
    )  # fmt: skip


@pytest.fixture
def fuzz(live_server, settings) -> Iterator[Fuzz]:  # type: ignore[no-untyped-def]
    # The rates are the production ones but for one token sending a few thousand requests in
    # two minutes (429s are documented, and are checked by tests of their own).
    settings.DEVFLOW_API_RATE_PER_TOKEN = "100000/min"
    settings.DEVFLOW_API_RATE_PER_ADDRESS = "100000/min"
    settings.DEVFLOW_API_BAD_TOKENS_PER_MINUTE = 100000
    cache.clear()
    state = start(build_world())
    yield state
    cache.clear()  # the run's request counts would throttle the tests after it
    summary = "\n".join(
        f"  {label}: {dict(sorted(counts.items()))}"
        for label, counts in sorted(state.statuses.items())
    )
    print(f"\nschemathesis: {len(state.statuses)} operations, "
          f"{sum(sum(c.values()) for c in state.statuses.values())} requests "
          f"({state.skipped} self-locking cases not sent)\n{summary}")  # fmt: skip
    # The run did not lock itself out halfway: the token still works, and most operations
    # were answered with success at least once (not only 4xx).
    assert ApiToken.objects.get(pk=state.token_id).revoked_at is None
    alone = {label: counts for label, counts in state.statuses.items() if CHAINED not in label}
    succeeded = [label for label, counts in alone.items() if any(s < 300 for s in counts)]
    assert len(succeeded) >= len(alone) * 0.5, summary


@pytest.fixture
def api_schema(fuzz, live_server) -> Any:  # type: ignore[no-untyped-def]
    loaded = schemathesis.openapi.from_url(
        f"{live_server.url}/api/v1/schema/?format=json",
        headers={"Authorization": f"Bearer {fuzz.token}"},
    )
    loaded.config.update(base_url=live_server.url)
    loaded.config.phases.coverage.generation.update(modes=[schemathesis.GenerationMode.POSITIVE])
    loaded.config.phases.coverage.unexpected_methods = set()

    class FuzzToken:
        """The token, as an auth provider: schemathesis then also checks that requests
        without it, or with a wrong one, are refused."""

        def get(self, case: Any, context: Any) -> str:
            return fuzz.token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    loaded.auth(refresh_interval=None)(FuzzToken)
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request) -> None:  # type: ignore[no-untyped-def]
    """schemathesis 4.32 renames the test per operation through `node._nodeid`, which pytest 9
    no longer has (it keeps `_id`); give it one to read."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def locks_the_fuzzer_out(case: Any, state: Fuzz) -> bool:
    """Revoking the fuzzing token, or changing its user's own role (which revokes it)."""
    path, method, params = case.operation.path, case.method.upper(), case.path_parameters or {}
    if path == "/api/v1/tokens/{id}/" and method == "DELETE":
        return str(params.get("id")) == str(state.token_id)
    if path == "/api/v1/teams/{id}/members/{member_id}/":
        return str(params.get("member_id")) in state.own_memberships
    return False


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_the_schema_says(case, fuzz) -> None:  # type: ignore[no-untyped-def]
    if locks_the_fuzzer_out(case, fuzz):
        fuzz.skipped += 1
        return
    fuzz.calls += 1
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and 0 < len(key) <= 180:
        # Generated keys repeat ("0", "a"...): each would answer every later body with a 422
        # (documented, and tested elsewhere). A distinct key per request lets bodies through.
        case.headers["Idempotency-Key"] = f"{key}-{fuzz.calls}"
    response = case.call_and_validate(excluded_checks=LENIENCY_CHECKS, timeout=30)
    fuzz.statuses[case.operation.label][response.status_code] += 1


def inferred_links(loaded: Any) -> list[str]:
    """The links schemathesis found between operations (a producer's answer feeding a path)."""
    found = []
    for path, methods in loaded.raw_schema["paths"].items():
        for method, operation in methods.items():
            if not isinstance(operation, dict):
                continue
            for code, answer in operation.get("responses", {}).items():
                for name in answer.get("links", {}):
                    found.append(f"{method.upper()} {path} {code} → {name}")
    return found


def test_chained_operations_answer_as_the_schema_says(api_schema, fuzz) -> None:  # type: ignore[no-untyped-def]
    """Stateful: an object one operation creates or lists is read, changed, acted on and
    deleted by the operations that take its id, following the links schemathesis infers from
    the schema (an answer's `id` feeding `{id}` in a path)."""
    # Valid data only: a chain breaks at its first refused request.
    api_schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE])
    base = api_schema.as_state_machine()
    links = inferred_links(api_schema)
    print(f"\nschemathesis stateful: {len(links)} links")

    class Chained(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            # Every scenario starts from the same world (same ids, one team each), or the
            # same steps would meet other objects and Hypothesis could not replay them.
            call_command("flush", "--no-input", verbosity=0)
            cache.clear()
            fresh = start(build_world())
            fuzz.world, fuzz.token, fuzz.token_id = fresh.world, fresh.token, fresh.token_id
            fuzz.own_memberships = fresh.own_memberships

        def before_call(self, case: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {fuzz.token}"}
            if locks_the_fuzzer_out(case, fuzz):
                # Aim the call at an id that does not exist: a documented 404.
                fuzz.skipped += 1
                case.path_parameters = {name: 2**31 for name in case.path_parameters}

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"timeout": 30}

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            fuzz.statuses[f"{case.operation.label} {CHAINED}"][response.status_code] += 1
            case.validate_response(response, excluded_checks=LENIENCY_CHECKS)

    Chained.run(
        settings=settings(
            max_examples=EXAMPLES * 3,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert len(links) >= 40, "\n".join(links)
    # Chains reached objects: operations on an object named by its id answered with success,
    # for ids that earlier answers gave (the fuzzer's own ids mostly name nothing).
    reached = sorted(
        label for label, counts in fuzz.statuses.items()
        if CHAINED in label and "{" in label and any(s < 300 for s in counts)
    )  # fmt: skip
    assert len(reached) >= 5, reached
