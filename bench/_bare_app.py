"""The baseline for bench/webhooks.py: `devflow web`'s stack serving one bare view.

Run by bench/webhooks.py (not by hand, though it works):

    .venv/bin/python bench/_bare_app.py --host 127.0.0.1 --port 8001

It starts exactly as `devflow web` does (src/devflow/cli.py: umask, django.setup() with
devflow.settings, the key file loaded, the broker folders made, then uvicorn with the same
options) and serves devflow.asgi's application, the same ASGI router, middleware and
settings, with ROOT_URLCONF pointing at this module: every DevFlow URL, plus

    POST /bench/bare  ->  200 "ok"   (csrf_exempt, require_POST, touches no database)

so a load at /bench/bare measures uvicorn + Django's request/middleware path alone, and the
ratio against /hooks/github/<id> isolates the webhook's own work.
"""

from __future__ import annotations

import argparse
import os

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

BARE_PATH = "bench/bare"


@csrf_exempt
@require_POST
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    # What `devflow web` does before uvicorn.run (its helpers, so the two cannot drift).
    from devflow.cli import _check_keys, _django
    from devflow.taskqueue import ensure_broker_dirs

    _django()
    _check_keys()
    ensure_broker_dirs()
    import uvicorn

    # The options of `devflow web`; this file's folder is sys.path[0], so it imports as
    # `_bare_app` (the branch below).
    uvicorn.run(
        "_bare_app:application",
        host=args.host,
        port=args.port,
        lifespan="off",
        ws="websockets-sansio",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
else:
    # Imported by uvicorn, after django.setup(): DevFlow's URLs plus the bare view.
    from django.conf import settings
    from django.urls import path

    from devflow.urls import urlpatterns as devflow_urlpatterns

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "devflow.settings")
    urlpatterns = [path(BARE_PATH, bare, name="bench-bare"), *devflow_urlpatterns]
    settings.ROOT_URLCONF = __name__
    from devflow.asgi import application  # noqa: F401  (what uvicorn serves)
