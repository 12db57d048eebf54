import re
from pathlib import Path

import pytest

from tests.deploy.compose_model import DEPLOY, ROOT, load

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DIGEST = re.compile(r"^[^\s:@]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")
SECRETISH = re.compile(r"(secret|token|password|passwd|\.env\b|\.pem$|\.key$|id_rsa)", re.I)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        full = buf + stripped
        buf = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(text):
        if ins[0] == "FROM":
            result.append([])
        if result:  # global ARGs before the first FROM belong to no stage
            result[-1].append(ins)
    return result


def base_images(text: str) -> list[str]:
    """Each FROM's image, a global ``${ARG}`` replaced by its default; earlier stages left out."""
    args: dict[str, str] = {}
    names: set[str] = set()
    out = []
    for word, rest in instructions(text):
        if word == "ARG" and not names and "=" in rest:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif word == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), "$"), words[0])
            if image not in names:
                out.append(image)
            names.add(words[-1])
    return out


def stage_named(text: str, name: str) -> list[tuple[str, str]]:
    for stage in stages(text):
        if stage[0][1].split()[-1] == name:
            return stage
    raise AssertionError(f"no stage {name}")


def dockerfile_violations(text: str) -> list[str]:
    problems = []
    for image in base_images(text):
        if "$" in image or not DIGEST.match(image):
            problems.append(f"FROM not pinned by digest: {image}")
        if ":latest" in image or ("@" not in image and ":" not in image):
            problems.append(f"FROM uses latest: {image}")
    for word, args in instructions(text):
        if word in ("COPY", "ADD"):
            sources = [a for a in args.split()[:-1] if not a.startswith("--")]
            if word == "ADD":
                problems.append("ADD can fetch URLs and unpack archives; use COPY")
            for src in sources:
                if src in (".", "./", "*") or SECRETISH.search(src):
                    problems.append(f"{word} may copy secrets: {src}")
        if word in ("ARG", "ENV") and SECRETISH.search(args.split("=")[0].split()[0]):
            problems.append(f"{word} bakes a secret into the image: {args.split()[0]}")
        if word == "RUN" and re.search(r"\b(curl|wget|gcc|g\+\+|build-essential|make)\b", args):
            problems.append(f"RUN installs or uses a tool the runtime must not have: {args}")
    for target in ("app", "caddy"):
        users = [a for w, a in stage_named(text, target) if w == "USER"]
        if not users or users[-1].split(":")[0] in ("root", "0"):
            problems.append(f"stage {target} does not end as a non-root USER")
    return problems


def test_dockerfile_current_file_no_violations() -> None:
    assert dockerfile_violations(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("python:3.11-slim-bookworm@sha256:549988ff", "python:3.11-slim-bookworm@sha256:zz"),
        (
            "caddy:2.10.2-alpine@sha256:4c6e91c6ed0e2fa03efd5b44747b625fec79bc9cd06ac5235a779726618e530d",
            "caddy:latest",
        ),
        ("USER andre", "USER root"),
        ("USER 1000:1000", "USER 0:0"),
        ("COPY shared /app/shared", "COPY . /app/"),
        ("COPY services /app/services", "COPY deploy/secrets/api_token /app/services"),
        ("ENV PATH=", "ENV ANDRE_API_TOKEN=abc PATH="),
        ("RUN python -m venv /opt/venv", "RUN apt-get install -y curl && python -m venv /opt/venv"),
    ],
    ids=["digest", "latest", "app-root", "caddy-root", "copy-all", "copy-secret", "env", "curl"],
)
def test_dockerfile_mutation_detected(old: str, new: str) -> None:
    text = DOCKERFILE.read_text()
    assert old in text
    assert dockerfile_violations(text.replace(old, new, 1))


def test_dockerfile_user_is_andre_1000() -> None:
    app = stage_named(DOCKERFILE.read_text(), "app")
    run = " ".join(a for w, a in app if w == "RUN")
    assert "groupadd --gid 1000 andre" in run and "useradd --uid 1000 --gid 1000" in run
    assert [a for w, a in app if w == "USER"][-1] == "andre"


def test_dockerfile_installs_from_hash_locked_runtime_requirements() -> None:
    build = stage_named(DOCKERFILE.read_text(), "build")
    pip = next(a for w, a in build if w == "RUN" and "pip install" in a)
    assert "--require-hashes" in pip and "requirements-runtime.lock" in pip
    assert "--only-binary=:all:" in pip
    lock = (ROOT / "requirements-runtime.lock").read_text()
    assert lock.count("--hash=sha256:") > 20


def test_dockerfile_runtime_has_no_pip_or_compiler() -> None:
    app = stage_named(DOCKERFILE.read_text(), "app")
    text = " ".join(a for _, a in app)
    assert "rm -f /usr/local/bin/pip" in text
    assert not re.search(r"apt-get install|apk add", text)


def test_dockerfile_digest_sources_recorded() -> None:
    text = DOCKERFILE.read_text()
    for image in ("python:3.11-slim-bookworm", "caddy:2.10.2-alpine"):
        comment = [ln for ln in text.splitlines() if ln.startswith("#") and image in ln]
        assert comment, f"no comment says where the {image} digest came from"
    assert "make repin" in text


def test_dockerfile_copied_sources_exist_and_pass_dockerignore() -> None:
    patterns = parse_dockerignore(DOCKERIGNORE.read_text())
    for word, args in instructions(DOCKERFILE.read_text()):
        if word != "COPY" or "--from=" in args:
            continue
        for src in [a for a in args.split()[:-1] if not a.startswith("--")]:
            assert (ROOT / src).exists(), src
            assert not ignored(src, patterns), f"{src} is copied but excluded by .dockerignore"


def test_dockerfile_compose_build_targets_exist() -> None:
    names = {stage[0][1].split()[-1] for stage in stages(DOCKERFILE.read_text())}
    for name, service in load()["services"].items():
        if "build" in service:
            assert service["build"]["target"] in names, name
            assert service["build"]["dockerfile"] == "deploy/Dockerfile"


# ---- .dockerignore, with Docker's semantics: last match wins, a match on a parent counts ----


def parse_dockerignore(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        regex = ""
        i = 0
        pattern = pattern.strip("/")
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        out.append((negate, re.compile(regex + "$")))
    return out


def ignored(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = Path(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negate, regex in patterns:
        if any(regex.match(c) for c in candidates):
            result = not negate
    return result


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        ".git",
        "tests/deploy/test_dockerfile.py",
        "deploy/secrets/api_token",
        "deploy/secrets/redis_password_andre_admin",
        "deploy/.env",
        ".env",
        "var/secrets.env",
        "var/redis/users.acl",
        ".venv/bin/python",
        "services/api/__pycache__/app.cpython-311.pyc",
        "shared/.env",
        "deploy/host/rendered/user-data.yaml",
    ],
)
def test_dockerignore_keeps_out(path: str) -> None:
    assert ignored(path, parse_dockerignore(DOCKERIGNORE.read_text())), path


@pytest.mark.parametrize(
    "path",
    ["requirements-runtime.lock", "shared/settings.py", "services/api/app.py", "deploy/Caddyfile"],
)
def test_dockerignore_lets_in(path: str) -> None:
    assert not ignored(path, parse_dockerignore(DOCKERIGNORE.read_text())), path


def test_dockerignore_matcher_last_match_wins() -> None:
    patterns = parse_dockerignore("*\n!shared\n**/*.pyc\n")
    assert ignored("tests/x.py", patterns)
    assert not ignored("shared/x.py", patterns)
    assert ignored("shared/x.pyc", patterns)
