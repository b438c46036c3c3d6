"""A lint: nothing outside transport/ builds shell strings or evaluates code."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "devflow"
BANNED_CALLS = {"os.system", "os.popen", "eval", "exec"}
COMMAND_BUILDERS = {"Command.script", "Command.of", "Command"}


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def is_built_string(node: ast.AST) -> bool:
    """An f-string, `%` or `+` formatting, or `.format()`: text assembled at run time."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return True
    return isinstance(node, ast.Call) and dotted(node.func).endswith(".format")


def problems_in(path: Path) -> list[str]:
    found = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        where = f"{path.relative_to(SRC)}:{node.lineno}"
        if name in BANNED_CALLS:
            found.append(f"{where}: {name}()")
        for keyword in node.keywords:
            if keyword.arg == "shell" and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            ):
                found.append(f"{where}: shell=")
        if name in COMMAND_BUILDERS:
            args = list(node.args)
            script = args[0] if name == "Command.script" and args else None
            if name == "Command.of":
                script = next(
                    (
                        args[i + 1]
                        for i, a in enumerate(args[:-1])
                        if isinstance(a, ast.Constant) and a.value == "-c"
                    ),
                    None,
                )
            if script is not None and is_built_string(script):
                found.append(f"{where}: a shell script assembled from run-time text")
        if name.startswith("subprocess.") and node.args and is_built_string(node.args[0]):
            found.append(f"{where}: subprocess with a string command")
    return found


def test_no_shell_strings_or_eval_outside_transport():
    problems = []
    for path in SRC.rglob("*.py"):
        if "transport" in path.relative_to(SRC).parts[:1]:
            continue
        problems += problems_in(path)
    assert problems == []


def test_the_lint_catches_what_it_should(tmp_path):
    bad = SRC / "_lint_probe.py"
    bad.write_text(
        "import os, subprocess\n"
        "from devflow.transport.commands import Command\n"
        "name = 'x'\n"
        "os.system('ls')\n"
        "subprocess.run('ls', shell=True)\n"
        "Command.script(f'systemctl restart {name}')\n"
        "Command.of('sh', '-c', 'echo %s' % name)\n"
        "eval('1')\n"
    )
    try:
        found = problems_in(bad)
    finally:
        bad.unlink()
    assert len(found) == 5, found
