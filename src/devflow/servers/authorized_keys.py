"""Put keys into and take them out of a server's ~/.ssh/authorized_keys, idempotently.

Both scripts are ours; the key line and its base64 body arrive as "$1" and "$2".
A key is matched by its body (second field), so a changed comment still matches.
The file is rewritten in place (`cat >`) to keep its owner and mode.
"""

from __future__ import annotations

from devflow.transport.commands import Command

ADD_SCRIPT = r"""
set -e
umask 077
mkdir -p "$HOME/.ssh"
file="$HOME/.ssh/authorized_keys"
touch "$file"
if awk -v key="$2" '$2 == key { found = 1 } END { exit !found }' "$file"; then
  echo "already present"
else
  printf '%s\n' "$1" >> "$file"
  echo "added"
fi
"""

REMOVE_SCRIPT = r"""
set -e
file="$HOME/.ssh/authorized_keys"
[ -f "$file" ] || { echo "not present"; exit 0; }
if awk -v key="$2" '$2 == key { found = 1 } END { exit !found }' "$file"; then
  awk -v key="$2" '$2 != key' "$file" > "$file.devflow-tmp"
  cat "$file.devflow-tmp" > "$file"
  rm -f "$file.devflow-tmp"
  echo "removed"
else
  echo "not present"
fi
"""


def key_body(public_key_line: str) -> str:
    parts = public_key_line.split()
    if len(parts) < 2:
        raise ValueError("Not an OpenSSH public key line.")
    return parts[1]


def add_key(public_key_line: str) -> Command:
    return Command.script(
        ADD_SCRIPT,
        public_key_line,
        key_body(public_key_line),
        label="add the key to ~/.ssh/authorized_keys",
    )


def remove_key(public_key_line: str) -> Command:
    return Command.script(
        REMOVE_SCRIPT,
        public_key_line,
        key_body(public_key_line),
        label="remove the key from ~/.ssh/authorized_keys",
    )
