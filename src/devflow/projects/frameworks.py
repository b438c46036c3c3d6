"""Built-in framework templates: what a new project's pipeline starts with.

A team can save any project as a custom template (`ProjectTemplate`); these
are the ones every team has. Commands run with the release directory as the
working directory and the environment's variables exported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def hook(run: str, *, once: bool = False) -> dict[str, Any]:
    return {"run": run, "once": once}


@dataclass(frozen=True)
class Framework:
    slug: str
    name: str
    description: str
    build_commands: list[dict[str, Any]] = field(default_factory=list)
    deploy_commands: list[dict[str, Any]] = field(default_factory=list)
    post_deploy_commands: list[dict[str, Any]] = field(default_factory=list)
    smoke_command: str = ""
    shared_paths: list[str] = field(default_factory=list)
    health_check_path: str = "/"

    def pipeline(self) -> dict[str, Any]:
        return {
            "framework": self.slug,
            "build_commands": [dict(h) for h in self.build_commands],
            "deploy_commands": [dict(h) for h in self.deploy_commands],
            "post_deploy_commands": [dict(h) for h in self.post_deploy_commands],
            "smoke_command": self.smoke_command,
            "shared_paths": list(self.shared_paths),
            "health_check_path": self.health_check_path,
        }


FRAMEWORKS: dict[str, Framework] = {
    f.slug: f
    for f in [
        Framework(
            slug="laravel",
            name="Laravel",
            description="Composer install, migrations, config and route caches, queue restart.",
            build_commands=[
                hook(
                    "composer install --no-dev --no-interaction --prefer-dist --optimize-autoloader"
                ),
            ],
            deploy_commands=[
                hook("php artisan migrate --force", once=True),
                hook("php artisan config:cache"),
                hook("php artisan route:cache"),
                hook("php artisan view:cache"),
            ],
            post_deploy_commands=[hook("php artisan queue:restart")],
            smoke_command="php artisan --version",
            shared_paths=["storage"],
            health_check_path="/up",
        ),
        Framework(
            slug="node",
            name="Node.js / Express",
            description="npm ci, build if the package has a build script, restart the service.",
            build_commands=[hook("npm ci --omit=dev"), hook("npm run build --if-present")],
            post_deploy_commands=[],
            smoke_command="node -e \"require('./package.json')\"",
            shared_paths=["storage"],
            health_check_path="/health",
        ),
        Framework(
            slug="nextjs",
            name="Next.js",
            description="npm ci and next build; the cache directory is kept between releases.",
            build_commands=[hook("npm ci"), hook("npm run build")],
            smoke_command="test -d .next",
            shared_paths=[".next/cache"],
            health_check_path="/",
        ),
        Framework(
            slug="django",
            name="Django / Python",
            description="A virtualenv per release, migrations once, collectstatic.",
            build_commands=[
                hook("python3 -m venv .venv"),
                hook(".venv/bin/pip install --quiet -r requirements.txt"),
            ],
            deploy_commands=[
                hook(".venv/bin/python manage.py migrate --noinput", once=True),
                hook(".venv/bin/python manage.py collectstatic --noinput"),
            ],
            smoke_command=".venv/bin/python manage.py check --deploy --fail-level ERROR",
            shared_paths=["media"],
            health_check_path="/",
        ),
        Framework(
            slug="static",
            name="Static site",
            description="Files served as they are; nothing to build.",
            smoke_command="test -f index.html",
            health_check_path="/",
        ),
        Framework(
            slug="custom",
            name="Custom",
            description="Start empty and write your own commands.",
            health_check_path="",
        ),
    ]
}
