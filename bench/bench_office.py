"""Office benchmark: the whole local stack through Caddy, as a room of people uses it.

Starts the stack exactly as ``make up`` does (``scripts/stack.py``: Redis with the ACL, api, web,
player, Caddy with ``tls internal``; demo catalog, dev login) in a temporary folder on free ports,
seeds a queue of ``--queue`` songs (100) queued by as many people, and signs in ``--users`` people
(100) through the web's dev login over HTTPS. Each person then loops with think time (exponential,
mean ``--think`` s) over what a browser does: 70 % queue reads (``GET /queue``), 15 % votes
(``POST /queue/vote``), 10 % adds (``POST /queue/add``: a demo track; one already queued is upvoted
instead, as the UI does) and 5 % searches (``GET /search``), with the session cookie, CSRF token and
exact Origin a browser sends. Meanwhile ``--listeners`` streams (500) follow ``/events`` through
Caddy, spread over the people (the web caps streams per person), in a separate client process.

Reported: requests/s; count, p50/p99 latency and errors per operation (an error is a transport
failure, a 5xx, or a 4xx other than 409; a 409 — a vote on a song that just started playing, say
— is counted apart); per listener the bytes received after its snapshot and the number of queue
changes it saw (bytes per change per listener); the peak RSS of every process of the stack; and
the CPU the clients used. Then: the bytes of a fresh stream's snapshot and of a resume after
2,000 missed events (votes made while the listener was away). The whole run is repeated with
``ANDRE_API_REPLICAS=2 ANDRE_WEB_REPLICAS=2`` (``--replicas``).

Targets (bench/README.md): 0 errors; p99 <= 150 ms for every operation with the listeners
connected; bytes per change per listener <= 4 KB + the changed song; a resume after 2,000 missed
events <= one snapshot. ``--quick`` is a short smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import random
import re
import resource
import ssl
import statistics
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from _procs import seed_queue, wait_connected

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.spotify.demo import DemoCatalog  # noqa: E402
from tests.support.stack import LocalStack  # noqa: E402

P99_TARGET_MS = 150.0
CHANGE_TARGET_BYTES = 4096  # plus the changed song
MIX = (("read", 0.70), ("vote", 0.15), ("add", 0.10), ("search", 0.05))
SEARCH_WORDS = ("love", "night", "blue", "the", "city", "fire", "dream", "gold", "run", "sun")
_META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
QUEUE_EVENTS = (b"event: queue_update", b"event: queue_delta")


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))


# ---- people --------------------------------------------------------------------------------


@dataclass(eq=False)
class Person:
    """One signed-in browser: its own connection and cookie jar."""

    email: str
    client: httpx.AsyncClient
    csrf: str
    voted: set[str] = field(default_factory=set)

    @property
    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.client.cookies.items())


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    conflicts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: dict[str, str] = field(default_factory=dict)


async def sign_in(base: str, ca_file: str, email: str) -> Person:
    """A real session: the dev login form (CSRF + Origin), then the app page's CSRF token."""
    client = httpx.AsyncClient(
        base_url=base,
        verify=ssl.create_default_context(cafile=ca_file),
        timeout=30,
        limits=httpx.Limits(max_connections=2, max_keepalive_connections=2),
    )
    try:
        form = await client.get("/login/dev")
        token = _FORM_TOKEN.search(form.text)
        assert token, "no dev login form"
        resp = await client.post(
            "/login/dev",
            data={"email": email, "csrf_token": token.group(1)},
            headers={"Origin": base},
        )
        assert resp.status_code in (302, 303), (resp.status_code, resp.text[:200])
        page = await client.get("/")
        meta = _META_TOKEN.search(page.text)
        assert meta, f"no CSRF token on the app page ({page.status_code})"
    except BaseException:
        await client.aclose()
        raise
    return Person(email=email, client=client, csrf=meta.group(1))


async def one_op(
    base: str,
    person: Person,
    op: str,
    view: dict[str, Any],
    catalog: list[str],
    rng: random.Random,
) -> httpx.Response:
    client = person.client
    headers = {"Accept": "application/json"}
    if op == "read":
        return await client.get(f"{base}/queue", headers=headers)
    if op == "search":
        return await client.get(
            f"{base}/search", params={"q": rng.choice(SEARCH_WORDS)}, headers=headers
        )
    headers |= {"X-CSRF-Token": person.csrf, "Origin": base}
    if op == "vote":
        choices = [
            item["id"]
            for item in view.get("queue", [])
            if item.get("user") != person.email and item["id"] not in person.voted
        ]
        item_id = rng.choice(choices) if choices else str(rng.randrange(1, 10**6))
        person.voted.add(item_id)
        return await client.post(
            f"{base}/queue/vote", json={"id": item_id, "up": rng.random() < 0.8}, headers=headers
        )
    queued = {item.get("uri") for item in view.get("queue", [])}
    fresh = [uri for uri in catalog if uri not in queued]
    uri = rng.choice(fresh or catalog)
    return await client.post(f"{base}/queue/add", json={"uri": uri}, headers=headers)


async def person_loop(
    base: str,
    person: Person,
    deadline: float,
    think_s: float,
    catalog: list[str],
    tally: Tally,
    seed: int,
    max_ops: int,
) -> None:
    rng = random.Random(seed)
    view: dict[str, Any] = {}
    ops = [name for name, _ in MIX]
    weights = [w for _, w in MIX]
    await asyncio.sleep(rng.uniform(0, think_s))
    for _ in range(max_ops):
        if time.monotonic() >= deadline:
            return
        op = rng.choices(ops, weights)[0]
        if op in ("vote", "add") and not view:
            op = "read"  # a browser has the queue before it votes on it
        started = time.perf_counter()
        try:
            resp = await one_op(base, person, op, view, catalog, rng)
        except httpx.HTTPError as exc:
            tally.errors[op] += 1
            tally.samples.setdefault(op, repr(exc))
        else:
            tally.latencies[op].append((time.perf_counter() - started) * 1000)
            if resp.status_code == 409:
                tally.conflicts[op] += 1
            elif resp.status_code >= 400:
                tally.errors[op] += 1
                tally.samples.setdefault(op, f"{resp.status_code} {resp.text[:160]}")
            elif op == "read":
                view = resp.json()
        await asyncio.sleep(min(rng.expovariate(1 / think_s), 10 * think_s))


# ---- listeners (a separate process) ---------------------------------------------------------


async def _listen(
    host: str,
    port: int,
    cookie: str,
    ctx: ssl.SSLContext,
    stats: dict[str, Any],
    idx: int,
    stop: asyncio.Event,
) -> None:
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname="localhost")
    writer.write(
        (
            f"GET /events HTTP/1.1\r\nHost: localhost:{port}\r\nAccept: text/event-stream\r\n"
            f"Cookie: {cookie}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"listener {idx}: {status!r}")
    live = False
    received = 0
    changes = 0
    try:
        while not stop.is_set():
            line = await reader.readline()
            if not line:
                break
            if live:
                received += len(line)
                if line.startswith(QUEUE_EVENTS):
                    changes += 1
            elif line.startswith(b"event: now_playing"):
                live = True  # the snapshot (queue_update + now_playing) is over
                stats["ready"] += 1
    finally:
        stats["bytes"].append(received)
        stats["changes"].append(changes)
        writer.close()


def listener_process(port: int, cookies: list[str], ca_file: str, conn: Any, stop_evt: Any) -> None:
    async def main() -> None:
        ctx = ssl.create_default_context(cafile=ca_file)
        stats: dict[str, Any] = {"ready": 0, "bytes": [], "changes": []}
        stop = asyncio.Event()
        tasks = []
        for i, cookie in enumerate(cookies):
            listen = _listen("127.0.0.1", port, cookie, ctx, stats, i, stop)
            tasks.append(asyncio.create_task(listen))
            if i % 25 == 24:
                await asyncio.sleep(0.05)
        failed = await wait_connected(tasks, lambda: stats["ready"], 120)
        if failed is not None:
            conn.send(("error", repr(failed)))
            return
        conn.send(("ready", stats["ready"]))
        while not stop_evt.is_set():
            await asyncio.sleep(0.1)
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send(("done", stats["bytes"], stats["changes"], usage.ru_utime + usage.ru_stime))

    _raise_fd_limit()
    asyncio.run(main())


# ---- the stack --------------------------------------------------------------------------------


class RssSampler(threading.Thread):
    """Peak RSS of every process under the stack's runner, sampled every 0.5 s."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.peaks: dict[str, float] = {}
        self.cpu: dict[str, tuple[float, float]] = {}  # first and last CPU seconds seen
        self.stop_evt = threading.Event()

    @staticmethod
    def name(proc: psutil.Process) -> str:
        cmd = proc.cmdline()
        exe = Path(cmd[0].split(" ")[0]).name if cmd else "?"
        if "-m" in cmd[:-1]:
            exe = cmd[cmd.index("-m") + 1].removeprefix("services.")
        return f"{exe}[{proc.pid}]"

    def run(self) -> None:
        for _ in range(100_000):
            if self.stop_evt.wait(0.5):
                return
            with contextlib.suppress(psutil.Error):
                for proc in psutil.Process(self.root_pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        rss = proc.memory_info().rss / 2**20
                        key = self.name(proc)
                        self.peaks[key] = max(self.peaks.get(key, 0.0), rss)
                        times = proc.cpu_times()
                        used = times.user + times.system
                        self.cpu[key] = (self.cpu.get(key, (used, used))[0], used)


def count_services(stack: LocalStack) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for proc in psutil.Process(stack.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            counts[RssSampler.name(proc).split("[")[0]] += 1
    return dict(counts)


async def seed_stack_queue(stack: LocalStack, songs: int) -> None:
    redis = stack.redis()
    try:
        await seed_queue(redis, songs)
    finally:
        await redis.aclose()


async def measure_replay(stack: LocalStack, people: list[Person], missed: int) -> dict[str, Any]:
    """Bytes of a fresh stream's snapshot, and of a resume after ``missed`` events."""
    base = stack.https
    ctx = ssl.create_default_context(cafile=str(stack.ca_file))

    async def read_stream(last_id: str | None, quiet_s: float) -> tuple[int, str | None]:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", stack.ports["https"], ssl=ctx, server_hostname="localhost"
        )
        extra = f"Last-Event-ID: {last_id}\r\n" if last_id else ""
        writer.write(
            (
                f"GET /events HTTP/1.1\r\nHost: localhost:{stack.ports['https']}\r\n"
                f"Accept: text/event-stream\r\nCookie: {people[0].cookie}\r\n{extra}\r\n"
            ).encode()
        )
        await writer.drain()
        in_body = False
        size = 0
        newest = last_id
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), quiet_s)
                except TimeoutError:
                    break
                if not line:
                    break
                if in_body:
                    if not line.startswith(b": ping"):
                        size += len(line)
                    if line.startswith(b"id: "):
                        newest = line[4:].strip().decode()
                elif line == b"\r\n":
                    in_body = True
        finally:
            writer.close()
        return size, newest

    snapshot, last_id = await read_stream(None, 2.0)
    queue = (await people[0].client.get("/queue")).json()
    ids = [item["id"] for item in queue["queue"]]
    made = 0
    sem = asyncio.Semaphore(20)

    async def vote(person: Person, item_id: str) -> None:
        nonlocal made
        async with sem:
            resp = await person.client.post(
                "/queue/vote",
                json={"id": item_id, "up": True},
                headers={"X-CSRF-Token": person.csrf, "Origin": base},
            )
            made += resp.status_code == 200

    # One vote per person per song (a second is refused), spread so that nobody passes the
    # web's per-person action limit: song by song, everyone votes.
    pairs = [(p, i) for i in ids for p in people][: missed * 2]
    for start in range(0, len(pairs), 200):
        if made >= missed:
            break
        await asyncio.gather(*(vote(p, i) for p, i in pairs[start : start + 200]))
    resumed, _ = await read_stream(last_id, 2.0)
    fresh, _ = await read_stream(None, 2.0)
    return {
        "missed_events": made,
        "fresh_snapshot_bytes": fresh,
        "resume_bytes": resumed,
        "first_snapshot_bytes": snapshot,
    }


def people_process(
    base: str, ca_file: str, emails: list[str], plan: dict[str, Any], conn: Any, go: Any
) -> None:
    """Sign in ``emails`` and, once told to go, run their loops (one event loop per process,
    so one busy client loop does not queue up everyone's requests)."""

    async def main() -> None:
        catalog = [t.uri for t in DemoCatalog().tracks]
        people: list[Person] = []
        try:
            for start in range(0, len(emails), 20):
                people += await asyncio.gather(
                    *(sign_in(base, ca_file, email) for email in emails[start : start + 20])
                )
            conn.send(("ready", [p.cookie for p in people]))
            while not go.is_set():
                await asyncio.sleep(0.02)
            tally = Tally()
            cpu0 = time.process_time()
            deadline = time.monotonic() + plan["duration"]
            await asyncio.gather(
                *(
                    person_loop(base, p, deadline, plan["think"], catalog, tally, seed, 100_000)
                    for seed, p in zip(plan["seeds"], people, strict=True)
                )
            )
            conn.send(
                (
                    "done",
                    dict(tally.latencies),
                    dict(tally.errors),
                    dict(tally.conflicts),
                    tally.samples,
                    time.process_time() - cpu0,
                )
            )
        finally:
            await asyncio.gather(*(p.client.aclose() for p in people))

    asyncio.run(main())


async def run_load(stack: LocalStack, args: argparse.Namespace) -> dict[str, Any]:
    base = stack.https
    ca_file = str(stack.ca_file)
    emails = [f"person{n}@example.com" for n in range(args.users)]
    go = mp.Event()
    groups = []
    for k in range(args.client_procs):
        mine = emails[k :: args.client_procs]
        seeds = list(range(k, args.users, args.client_procs))
        plan = {"duration": args.duration, "think": args.think, "seeds": seeds}
        parent, child = mp.Pipe()
        proc = mp.Process(target=people_process, args=(base, ca_file, mine, plan, child, go))
        proc.start()
        groups.append((proc, parent))
    listeners: mp.Process | None = None
    stop_evt = mp.Event()
    sampler = RssSampler(stack.proc.pid)
    try:
        cookies_of_people: list[str] = []
        for _, conn in groups:
            kind, *rest = conn.recv() if conn.poll(180) else ("error", "no answer")
            if kind != "ready":
                raise RuntimeError(f"people did not sign in: {kind} {rest}")
            cookies_of_people += rest[0]
        # Listeners: spread over the people, at most the per-person cap each.
        cookies = [cookies_of_people[k % len(cookies_of_people)] for k in range(args.listeners)]
        parent, child = mp.Pipe()
        listeners = mp.Process(
            target=listener_process,
            args=(stack.ports["https"], cookies, ca_file, child, stop_evt),
        )
        listeners.start()
        kind, *rest = parent.recv() if parent.poll(150) else ("error", "no answer")
        if kind != "ready" or (cookies and rest[0] < len(cookies)):
            raise RuntimeError(f"listeners did not connect: {kind} {rest}")
        tally = Tally()
        sampler.start()
        started = time.monotonic()
        go.set()
        client_cpu = 0.0
        for _, conn in groups:
            got = conn.recv() if conn.poll(args.duration + 120) else ("error", "no answer")
            if got[0] != "done":
                raise RuntimeError(f"people: {got}")
            _, latencies, errors, conflicts, samples, cpu = got
            for op, values in latencies.items():
                tally.latencies[op] += values
            for op, n in errors.items():
                tally.errors[op] += n
            for op, n in conflicts.items():
                tally.conflicts[op] += n
            tally.samples |= samples
            client_cpu += cpu
        elapsed = time.monotonic() - started
        await asyncio.sleep(1.0)  # the last changes reach the listeners
        stop_evt.set()
        got = parent.recv() if parent.poll(60) else ("error", "no stats")
        if got[0] != "done":
            raise RuntimeError(f"listener stats: {got}")
        _, sizes, changes, listener_cpu = got
    finally:
        stop_evt.set()
        go.set()
        sampler.stop_evt.set()
        for proc in [p for p, _ in groups] + ([listeners] if listeners else []):
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
    if sampler.is_alive():
        sampler.join(timeout=5)
    replay: dict[str, Any] = {}
    if args.missed:
        voters = []
        try:
            for start in range(0, 100, 20):
                voters += await asyncio.gather(
                    *(
                        sign_in(base, ca_file, f"voter{n}@example.com")
                        for n in range(start, start + 20)
                    )
                )
            replay = await measure_replay(stack, voters, args.missed)
        finally:
            await asyncio.gather(*(p.client.aclose() for p in voters))

    total = sum(len(v) for v in tally.latencies.values()) + sum(tally.errors.values())
    per_op = {
        op: {
            "count": len(tally.latencies[op]),
            "p50_ms": round(pct(tally.latencies[op], 50), 1),
            "p99_ms": round(pct(tally.latencies[op], 99), 1),
            "errors": tally.errors[op],
            "conflicts_409": tally.conflicts[op],
        }
        for op, _ in MIX
    }
    listener_changes = statistics.median(changes) if changes else 0
    per_change = [b / c for b, c in zip(sizes, changes, strict=True) if c]
    # Changes made (votes and adds that went through): a queue frame may carry several.
    made = sum(len(tally.latencies[op]) - tally.conflicts[op] for op in ("vote", "add"))
    return {
        "services": count_services(stack),
        "duration_s": round(elapsed, 1),
        "requests": total,
        "throughput_rps": round(total / elapsed, 1),
        "ops": per_op,
        "error_samples": tally.samples,
        "listeners": len(sizes),
        "queue_changes_seen_median": listener_changes,
        "bytes_per_queue_frame_per_listener": {
            "median": round(statistics.median(per_change)) if per_change else 0,
            "max": round(max(per_change)) if per_change else 0,
        },
        "changes_made": made,
        "bytes_per_change_made_per_listener": round(statistics.mean(sizes) / made) if made else 0,
        "listener_bytes_total_mb": round(sum(sizes) / 2**20, 1),
        "peak_rss_mb": {k: round(v, 1) for k, v in sorted(sampler.peaks.items())},
        "cpu_s_during_load": {k: round(b - a, 1) for k, (a, b) in sorted(sampler.cpu.items())},
        "client_cpu_s": {"people": round(client_cpu, 1), "listeners": round(listener_cpu, 1)},
        "replay": replay,
    }


def verdict(result: dict[str, Any], song_bytes: int) -> list[str]:
    problems = []
    for op, figures in result["ops"].items():
        if figures["errors"]:
            problems.append(f"{op}: {figures['errors']} errors")
        if figures["p99_ms"] > P99_TARGET_MS:
            problems.append(f"{op}: p99 {figures['p99_ms']} ms > {P99_TARGET_MS}")
    per_change = result["bytes_per_queue_frame_per_listener"]["median"]
    if per_change > CHANGE_TARGET_BYTES + song_bytes:
        problems.append(f"bytes per change {per_change} > {CHANGE_TARGET_BYTES} + {song_bytes}")
    replay = result["replay"]
    # Both reads also take live frames arriving meanwhile (a position, a now_playing): 1 KB slack.
    if replay and replay["resume_bytes"] > replay["fresh_snapshot_bytes"] + 1024:
        problems.append("a resume cost more than a fresh snapshot")
    return problems


def run_once(args: argparse.Namespace, replicas: int) -> dict[str, Any]:
    env: dict[str, str] = {}  # the log level `make up` runs with (INFO: every audit line written)
    if replicas > 1:
        env |= {"ANDRE_API_REPLICAS": str(replicas), "ANDRE_WEB_REPLICAS": str(replicas)}
    stack = LocalStack.start(extra_env=env, timeout_s=120)
    try:
        asyncio.run(seed_stack_queue(stack, args.queue))
        result = asyncio.run(run_load(stack, args))
    finally:
        stack.stop()
    result["replicas_asked"] = replicas
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--listeners", type=int, default=500)
    parser.add_argument("--queue", type=int, default=100)
    parser.add_argument("--think", type=float, default=2.0, help="mean think time, seconds")
    parser.add_argument("--missed", type=int, default=2000, help="events a resume misses")
    parser.add_argument("--replicas", type=int, default=2, help="second run's api/web count")
    parser.add_argument("--no-replicas", action="store_true", help="skip the replicas run")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--client-procs", type=int, default=2, help="processes for the people")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.users, args.listeners, args.queue, args.missed = 8.0, 10, 20, 20, 50
        args.think = 0.5
        args.no_replicas = True
    _raise_fd_limit()
    song_bytes = 400  # a demo song's record with its art URLs (about 320 bytes) and votes
    runs = [("one api, one web", 1)]
    if not args.no_replicas:
        runs.append((f"{args.replicas} api, {args.replicas} web", args.replicas))
    results = {}
    failed = False
    for label, replicas in runs:
        result = run_once(args, replicas)
        results[label] = result
        problems = verdict(result, song_bytes)
        print(f"== office mix, {label} (found {result['services']})")
        print(json.dumps(result, indent=2))
        rows = ", ".join(
            f"{op} p50 {f['p50_ms']}/p99 {f['p99_ms']} ms" for op, f in result["ops"].items()
        )
        print(
            f"office ({label}): {result['throughput_rps']} req/s, {rows}; "
            f"{result['bytes_per_queue_frame_per_listener']['median']} B per queue frame and "
            f"{result['bytes_per_change_made_per_listener']} B per change per listener; "
            + ("OK" if not problems else "MISSED: " + "; ".join(problems))
        )
        failed = failed or bool(problems)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if failed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
