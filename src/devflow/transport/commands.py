"""Commands are argument lists; this is the one place they become a shell line.

User text (service names, paths, branch names) travels only as separate
arguments and is quoted with `shlex.quote`, so a `;`, `$()` or newline in it is
data, never syntax. Scripts we author ourselves run through `sh -c SCRIPT`,
with user text passed as positional parameters ("$1", "$2"), never pasted in.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field


class CommandError(ValueError):
    """A command was built from something that is not a list of plain strings."""


@dataclass(frozen=True)
class Command:
    """A program and its arguments, optionally run with sudo, with optional stdin."""

    argv: tuple[str, ...]
    sudo: bool = False
    stdin: str | None = field(default=None, repr=False)
    label: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.argv, str) or not self.argv:
            raise CommandError("A command is a non-empty list of arguments, not a string.")
        for arg in self.argv:
            if not isinstance(arg, str):
                raise CommandError(f"Argument {arg!r} is not a string.")
            if "\x00" in arg:
                raise CommandError("An argument contains a NUL byte.")

    @classmethod
    def of(cls, *argv: str, sudo: bool = False, label: str = "") -> Command:
        return cls(argv=tuple(argv), sudo=sudo, label=label)

    @classmethod
    def script(cls, script: str, *args: str, sudo: bool = False, label: str = "") -> Command:
        """Run a script we wrote with `sh -c`; `args` arrive as "$1", "$2", ... ."""
        return cls(argv=("sh", "-c", script, "devflow", *args), sudo=sudo, label=label)

    def shell_line(self) -> str:
        """The command as one line for a remote shell, every argument quoted."""
        return shlex.join(self.argv)

    def describe(self) -> str:
        """What the log shows: the label, or the quoted line."""
        return self.label or self.shell_line()

    def with_sudo(self, password: str | None) -> Command:
        """Wrap in sudo: `-S` reads the password from stdin, `-n` fails instead of asking."""
        stdin: str | None
        if password:
            argv = ("sudo", "-S", "-p", "", "--", *self.argv)
            stdin = password + "\n" + (self.stdin or "")
        else:
            argv = ("sudo", "-n", "--", *self.argv)
            stdin = self.stdin
        return Command(argv=argv, sudo=False, stdin=stdin, label=self.label)


def argv_of(command: Command | Sequence[str]) -> Command:
    if isinstance(command, Command):
        return command
    return Command(argv=tuple(command))
