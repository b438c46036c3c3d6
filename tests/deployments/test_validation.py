"""User text that would reach git or a shell is refused before anything is stored."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from devflow.projects import services as project_services
from devflow.projects.models import Project, Variable
from devflow.projects.services import ProjectError
from devflow.projects.validation import (
    parse_commands,
    validate_branch,
    validate_deploy_path,
    validate_repository_url,
    validate_shared_path,
)


@pytest.mark.parametrize(
    "url",
    [
        "--upload-pack=touch /tmp/pwned",
        "-x",
        "ext::sh -c touch% /tmp/pwned",
        "fd::17",
        "https://example.test/repo.git --upload-pack=id",
        "https://user:hunter2@example.test/repo.git",
        "/srv/repo;id",
        "/srv/../etc/shadow",
        "relative/path",
        "git@host:-oProxyCommand=id",
        "",
    ],
)
def test_dangerous_or_malformed_repository_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        validate_repository_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/shop.git",
        "ssh://git@git.example.test:2222/acme/shop.git",
        "git@github.com:acme/shop.git",
        "/srv/git/shop.git",
        "file:///srv/git/shop.git",
    ],
)
def test_ordinary_repository_urls_are_accepted(url: str) -> None:
    assert validate_repository_url(url)


@pytest.mark.parametrize(
    "branch",
    ["main;id", "-x", "--orphan", "$(id)", "a b", "main..dev", "feature/", ".hidden", "x.lock", ""],
)
def test_dangerous_or_invalid_branch_names_are_refused(branch: str) -> None:
    with pytest.raises(ValidationError):
        validate_branch(branch)


@pytest.mark.parametrize("branch", ["main", "release/2.0", "feature/new-checkout", "v1.2.3"])
def test_ordinary_branch_names_are_accepted(branch: str) -> None:
    assert validate_branch(branch) == branch


@pytest.mark.parametrize("path", ["relative", "/", "/etc", "/var/www", "/srv/a b", "/srv/$(id)",
                                  "/srv/app/../../etc"])  # fmt: skip
def test_deploy_paths_must_be_plain_absolute_folders_of_their_own(path: str) -> None:
    with pytest.raises(ValidationError):
        validate_deploy_path(path)


@pytest.mark.parametrize("path", ["../etc", "/abs", "-rf", "a/../../b", "a b"])
def test_shared_paths_stay_inside_the_deploy_folder(path: str) -> None:
    with pytest.raises(ValidationError):
        validate_shared_path(path)


def test_once_prefix_marks_hooks_that_run_on_one_server() -> None:
    hooks = parse_commands("composer install\n\n# comment\nonce: php artisan migrate --force\n")
    assert hooks == [
        {"run": "composer install", "once": False},
        {"run": "php artisan migrate --force", "once": True},
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "branch", "message"),
    [
        ("--upload-pack=id", "main", "cannot start with '-'"),
        ("ext::sh -c id", "main", "ext::"),
        ("/srv/shop.git", "main;id", "not a valid branch name"),
        ("/srv/shop.git", "-x", "not a valid branch name"),
    ],
)
def test_creating_a_project_with_injection_attempts_fails_and_stores_nothing(
    alice, acme, url: str, branch: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    from devflow.servers.models import Server

    server = Server.objects.create(team=acme, name="local", is_local=True, username="")
    with pytest.raises(ProjectError, match=message.replace("(", r"\(")):
        project_services.create_project(
            alice,
            acme,
            project_services.ProjectData(name="Shop", repository_url=url, template="static"),
            project_services.EnvironmentData(
                servers=[server], deploy_path="/srv/shop", branch=branch
            ),
        )
    assert not Project.objects.exists()


def test_a_pasted_env_with_malformed_lines_names_them() -> None:
    text = "APP_NAME=Shop\nthis is not a variable\nexport DEBUG=false\n1BAD=x\n"
    with pytest.raises(ProjectError) as caught:
        project_services.parse_dotenv(text)
    assert "line 2" in str(caught.value) and "line 4" in str(caught.value)
    assert "Nothing was saved" in str(caught.value)


def test_a_pasted_env_understands_quotes_comments_and_export() -> None:
    text = "# shop\nexport APP_NAME='My Shop'\nDB_PASS=\"p@ss word\"\nEMPTY=\n"
    assert project_services.parse_dotenv(text) == {
        "APP_NAME": "My Shop",
        "DB_PASS": "p@ss word",
        "EMPTY": "",
    }


def test_rendered_env_reads_back_the_same_values() -> None:
    from dotenv import dotenv_values

    values = {"A": "plain", "B": "it's", "C": 'say "hi"\nnext', "D": "$HOME \\n", "E": ""}
    import io

    rendered = project_services.render_dotenv(values)
    assert dict(dotenv_values(stream=io.StringIO(rendered), interpolate=False)) == values


@pytest.mark.django_db
def test_import_is_all_or_nothing(alice, acme) -> None:  # type: ignore[no-untyped-def]
    from devflow.servers.models import Server

    server = Server.objects.create(team=acme, name="local", is_local=True, username="")
    project = project_services.create_project(
        alice,
        acme,
        project_services.ProjectData(name="Shop", repository_url="/srv/shop.git"),
        project_services.EnvironmentData(servers=[server], deploy_path="/srv/shop"),
    )
    environment = project.environments.get()
    project_services.set_variable(alice, environment, "KEEP", "1")
    with pytest.raises(ProjectError):
        project_services.import_dotenv(alice, environment, "NEW=1\nbroken line\n", replace=True)
    assert dict(Variable.objects.values_list("key", "value")) == {"KEEP": "1"}
    project_services.import_dotenv(alice, environment, "NEW=2\n", replace=True)
    assert dict(Variable.objects.values_list("key", "value")) == {"NEW": "2"}
