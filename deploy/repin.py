"""``make repin``: re-resolve every digest-pinned base image to what its tag points at now.

For each ``name:tag@sha256:...`` in deploy/Dockerfile and deploy/compose.yaml it runs
``docker pull name:tag`` and ``docker image inspect`` to read the repository digest, rewrites the
pin and stamps the "Last make repin" line, so the file records where its digests came from.
Needs a Docker engine (the tests drive it with a fake one).
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
FILES = (DEPLOY / "Dockerfile", DEPLOY / "compose.yaml")
PIN = re.compile(r"(?P<ref>[a-z0-9][a-z0-9./-]*:[A-Za-z0-9._-]+)@(?P<digest>sha256:[0-9a-f]{64})")
STAMP = re.compile(r"^(?P<indent>[ \t]*)# Last `make repin`: .*$", re.M)

Resolver = Callable[[str], str]


def docker_resolver(ref: str) -> str:
    subprocess.run(["docker", "pull", "-q", ref], check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{join .RepoDigests \"\\n\"}}", ref],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    repo = ref.rsplit(":", 1)[0]
    for line in out.split():
        name, _, digest = line.partition("@")
        if name.split("/")[-1] == repo.split("/")[-1] and digest.startswith("sha256:"):
            return digest
    raise RuntimeError(f"no repository digest for {ref}")


def repin_text(text: str, resolve: Resolver, today: str) -> tuple[str, list[str]]:
    changes: list[str] = []
    cache: dict[str, str] = {}

    def sub(m: re.Match[str]) -> str:
        ref = m.group("ref")
        if ref not in cache:
            cache[ref] = resolve(ref)
        if cache[ref] != m.group("digest"):
            changes.append(f"{ref}: {m.group('digest')[:19]}... -> {cache[ref][:19]}...")
        return f"{ref}@{cache[ref]}"

    new = PIN.sub(sub, text)
    stamp = f"# Last `make repin`: {today}, digests as served by the registry (docker pull)."
    new = STAMP.sub(lambda m: m.group("indent") + stamp, new)
    return new, changes


def main(resolve: Resolver = docker_resolver) -> int:
    today = datetime.date.today().isoformat()
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        new, changes = repin_text(text, resolve, today)
        path.write_text(new, encoding="utf-8")
        for change in changes:
            print(f"repin: {path.name}: {change}")
        if not changes:
            print(f"repin: {path.name}: digests unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
