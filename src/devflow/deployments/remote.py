"""The commands a deployment runs on a server, built as argument lists.

Each is a short script we wrote, run with `sh -c`; repository URLs, branches,
paths, release names and user hooks arrive only as positional parameters
("$1"...), never pasted into the script text. Lines starting with `devflow:`
on stdout carry results back to the pipeline.
"""

from __future__ import annotations

import shlex

from devflow.transport.commands import Command

MARK = "devflow:"

# Git only speaks these protocols: "ext::" and friends would run commands.
GIT_ENV = (
    "export GIT_TERMINAL_PROMPT=0 GIT_ALLOW_PROTOCOL=file:git:http:https:ssh "
    "GIT_ASKPASS=/bin/false SSH_ASKPASS=/bin/false; "
    'mkdir -p "$base/.devflow"; '
    # The deploy path is validated to plain characters, so it is safe inside this string.
    'ssh_opts="-o BatchMode=yes -o StrictHostKeyChecking=accept-new '
    '-o UserKnownHostsFile=$base/.devflow/known_hosts"; '
    'if [ -n "$DEVFLOW_KEY" ]; then '
    'export GIT_SSH_COMMAND="ssh -i $DEVFLOW_KEY -o IdentitiesOnly=yes $ssh_opts"; '
    'else export GIT_SSH_COMMAND="ssh $ssh_opts"; fi; '
)

_FETCH = (
    "set -e; base=$1; url=$2; branch=$3; sha=$4; DEVFLOW_KEY=$5; "
    '[ -z "$DEVFLOW_KEY" ] || trap \'rm -f "$DEVFLOW_KEY"\' EXIT; '
    + GIT_ENV
    + 'repo="$base/repo"; '
    'mkdir -p "$base/releases" "$base/shared"; '
    'if [ -d "$repo" ] && git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then '
    '  git -C "$repo" remote set-url origin "$url"; '
    '  git -C "$repo" fetch --prune --quiet origin "+refs/heads/*:refs/heads/*"; '
    'else rm -rf "$repo"; git clone --mirror --quiet -- "$url" "$repo"; fi; '
    'if [ -n "$sha" ]; then '
    '  git -C "$repo" cat-file -e "$sha^{commit}" 2>/dev/null '
    '    || { echo "devflow:error:missing-commit" >&2; exit 3; }; '
    '  rev=$(git -C "$repo" rev-parse --verify --quiet "$sha^{commit}"); '
    "else "
    '  rev=$(git -C "$repo" rev-parse --verify --quiet "refs/heads/$branch^{commit}") '
    '    || { echo "devflow:error:missing-branch" >&2; exit 4; }; '
    "fi; "
    'git -C "$repo" log -1 --format="devflow:commit:%H%x1f%an <%ae>%x1f%s" "$rev"; '
    'if [ -n "$6" ]; then '
    '  git -C "$repo" log -n "$6" --format="devflow:log:%H%x1f%an%x1f%at%x1f%s" "$rev"; '
    '  cur=$(cat "$base/current/REVISION" 2>/dev/null || true); '
    '  if [ -n "$cur" ] && git -C "$repo" cat-file -e "$cur^{commit}" 2>/dev/null; then '
    '    echo "devflow:behind:$(git -C "$repo" rev-list --count "$cur..$rev")"; fi; '
    "fi"
)


def fetch(
    base: str, url: str, branch: str, sha: str = "", key_path: str = "", log_count: int = 0
) -> Command:
    """Update the cached mirror in `<base>/repo` and resolve the commit to deploy."""
    return Command.script(
        _FETCH, base, url, branch, sha, key_path, str(log_count) if log_count else "",
        label="git fetch (cached mirror)",
    )  # fmt: skip


_PREPARE = (
    "set -e; umask 022; base=$1; name=$2; sha=$3; env=$4; shift 4; "
    'rel="$base/releases/$name"; rm -rf "$rel"; mkdir -p "$rel"; '
    # No pipefail in sh: a failed `git archive` leaves a marker file that fails the step.
    '{ git -C "$base/repo" archive --format=tar "$sha" || : > "$rel.failed"; } | tar -x -C "$rel"; '
    '[ ! -e "$rel.failed" ] || { rm -f "$rel.failed"; echo "git archive failed" >&2; exit 6; }; '
    'printf "%s\\n" "$sha" > "$rel/REVISION"; '
    'for p in "$@"; do '
    '  if [ ! -e "$base/shared/$p" ]; then mkdir -p "$(dirname "$base/shared/$p")"; '
    '    if [ -e "$rel/$p" ]; then cp -a "$rel/$p" "$base/shared/$p"; '
    '    else mkdir -p "$base/shared/$p"; fi; fi; '
    '  rm -rf "$rel/$p"; mkdir -p "$(dirname "$rel/$p")"; ln -s "$base/shared/$p" "$rel/$p"; '
    'echo "linked $p -> shared/$p"; done; '
    'if [ "$env" = 1 ]; then (umask 077; cat > "$rel/.env"); fi'
)


def prepare_release(
    base: str, name: str, sha: str, shared_paths: list[str], dotenv: str
) -> Command:
    """Check out `sha` into releases/<name>, link shared paths, write .env from stdin."""
    command = Command.script(
        _PREPARE, base, name, sha, "1" if dotenv else "0", *shared_paths, label="check out release"
    )
    return Command(argv=command.argv, stdin=dotenv or None, label=command.label)


_HOOK = 'cd -- "$1" || exit 1; . /dev/stdin; exec sh -c "$2"'


def hook(directory: str, run: str, exports: str) -> Command:
    """Run a user's hook in `directory` with the environment's variables exported."""
    return Command(
        argv=("sh", "-c", _HOOK, "devflow", directory, run), stdin=exports or ":\n", label=run
    )


def exports_of(values: dict[str, str]) -> str:
    """`export KEY='value'` lines: the variables reach hooks through stdin, not argv."""
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(values.items()))


_SWAP = (
    'set -e; cd -- "$1"; name=$2; prev=$(readlink current 2>/dev/null || true); '
    'echo "devflow:previous:${prev#releases/}"; '
    '[ -d "releases/$name" ] || { echo "devflow:error:missing-release" >&2; exit 5; }; '
    'ln -sfn "releases/$name" "current.devflow-$name"; mv -T "current.devflow-$name" current; '
    'echo "current -> releases/$name"'
)


def swap(base: str, name: str) -> Command:
    """Point `current` at releases/<name> atomically (a new symlink renamed over the old)."""
    return Command.script(_SWAP, base, name, label=f"switch current to {name}")


_HEALTH = (
    "url=$1; tries=$2; i=0; while :; do i=$((i+1)); "
    "if command -v curl >/dev/null 2>&1; then "
    "  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \"$url\" || true); "
    'elif wget -q -O /dev/null -T 10 "$url"; then code=200; else code=000; fi; '
    'case "$code" in 2??|3??) echo "devflow:health:$code"; exit 0;; esac; '
    'echo "attempt $i: HTTP $code"; '
    '[ "$i" -ge "$tries" ] && { echo "devflow:health:$code"; exit 1; }; sleep 1; done'
)


def health_check(url: str, tries: int) -> Command:
    return Command.script(_HEALTH, url, str(tries), label=f"GET {url}")


_PURGE = (
    'cd -- "$1/releases" 2>/dev/null || exit 0; shift; '
    'for d in * .[!.]*; do [ -e "$d" ] || continue; keep=0; '
    '  for k in "$@"; do [ "$d" = "$k" ] && keep=1; done; '
    '  [ "$keep" = 1 ] || { rm -rf -- "$d"; echo "removed releases/$d"; }; done; '
    "rm -f ../current.devflow-*"
)


def purge(base: str, keep: list[str]) -> Command:
    """Remove every release directory not named in `keep` (old, failed, half-made)."""
    return Command.script(_PURGE, base, *keep, label="remove old releases")


def remove_release(base: str, name: str) -> Command:
    return Command.script(
        'rm -rf -- "$1/releases/$2" "$1/releases/$2.failed" "$1/current.devflow-$2"', base, name,
        label=f"remove release {name}",
    )  # fmt: skip


def write_key(path: str) -> Command:
    """Write a deploy key (from stdin) where git's ssh will read it; mode 600."""
    return Command.script(
        'umask 077; mkdir -p "$(dirname "$1")"; cat > "$1"', path, label="install deploy key"
    )
