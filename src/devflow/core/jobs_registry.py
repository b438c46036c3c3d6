"""Import every module that registers job kinds, including DEVFLOW_JOB_MODULES plug-ins."""

from __future__ import annotations

import importlib

from devflow.core import builtin_jobs  # noqa: F401
from devflow.core.env import env_list

for module in env_list("DEVFLOW_JOB_MODULES"):
    importlib.import_module(module)
