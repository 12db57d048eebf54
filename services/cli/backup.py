"""``andre backup`` / ``andre restore``: every ``andre:*`` Redis key and the play logs, one file.

The archive is a gzip'd tar, created 0600: ``manifest.json`` (format, version, what is inside
and the SHA-256 of every other member), ``redis.json`` (each key's type, value and absolute
expiry) and ``play_logs/<file>``. Keys are read and written with ordinary typed commands, not
DUMP/RESTORE: the archive stays readable by people and portable across Redis versions, and the
admin user needs no RESTORE (which accepts raw serialized payloads). Expiries are stored as
absolute times, so a session restored a day later has expired as it would have anyway.

Restore checks the whole archive before it writes anything, refuses a Redis that holds keys (or
a play log that differs) unless ``--force``, and writes every key in one MULTI/EXEC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from redis import Redis

from services.cli.errors import CliError
from services.cli.store import server_time_ms
from shared import keys, playlog

FORMAT = "andre-backup"
VERSION = 1
MANIFEST = "manifest.json"
REDIS_MEMBER = "redis.json"
LOGS_DIR = "play_logs/"
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_LOG_NAME = re.compile(r"^play_log_\d{4}_\d{2}_\d{2}\.jsonl$")
_TYPES = ("string", "list", "set", "hash", "zset", "stream")
_SCAN_COUNT = 500
_READ_RETRIES = 3
# Values are bytes; JSON holds text. Undecodable bytes (a damaged record is still backed up
# exactly) travel as lone surrogates, which json writes as \udcXX escapes and reads back.
_ENC = "surrogateescape"

Progress = Callable[[str, int, int], None]


def _text(value: bytes) -> str:
    return value.decode("utf-8", _ENC)


def _bytes(value: str) -> bytes:
    return value.encode("utf-8", _ENC)


@dataclass
class Snapshot:
    taken_at_ms: int
    records: list[dict[str, Any]] = field(default_factory=list)


def _read_value(kind: str, value: Any) -> Any:
    if kind == "string":
        return _text(value)
    if kind == "list":
        return [_text(v) for v in value]
    if kind == "set":
        return sorted(_text(v) for v in value)
    if kind == "hash":
        return {_text(k): _text(v) for k, v in sorted(value.items())}
    if kind == "zset":
        return [[_text(m), float(s)] for m, s in value]
    # stream: [(id, {field: value}), ...]; fields keep their order.
    return [[_text(i), [_text(x) for pair in f.items() for x in pair]] for i, f in value]


def _queue_read(pipe: Any, kind: str, key: bytes) -> None:
    if kind == "string":
        pipe.get(key)
    elif kind == "list":
        pipe.lrange(key, 0, -1)
    elif kind == "set":
        pipe.smembers(key)
    elif kind == "hash":
        pipe.hgetall(key)
    elif kind == "zset":
        pipe.zrange(key, 0, -1, withscores=True)
    else:
        pipe.xrange(key)


def snapshot(redis: Redis, progress: Progress) -> Snapshot:
    """Every ``andre:*`` key with its value and expiry, read in one MULTI (a consistent view)."""
    names = sorted(set(redis.scan_iter(match=keys.PREFIX + "*", count=_SCAN_COUNT)))
    for _ in range(_READ_RETRIES):
        with redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.type(name)
            kinds = [_text(k) for k in pipe.execute()]
        present = [(n, k) for n, k in zip(names, kinds, strict=True) if k != "none"]
        unknown = sorted({k for _, k in present if k not in _TYPES})
        if unknown:
            raise CliError(f"cannot back up keys of type {', '.join(unknown)}")
        with redis.pipeline(transaction=True) as pipe:
            pipe.time()
            for name, kind in present:
                _queue_read(pipe, kind, name)
                pipe.pttl(name)
            results = pipe.execute(raise_on_error=False)
        if any(isinstance(r, Exception) for r in results):
            continue  # a key changed type between TYPE and MULTI: read again
        seconds, micros = results[0]
        snap = Snapshot(taken_at_ms=int(seconds) * 1000 + int(micros) // 1000)
        for n, (name, kind) in enumerate(present):
            value, ttl_ms = results[1 + 2 * n], int(results[2 + 2 * n])
            if ttl_ms == -2 or value is None:
                continue  # deleted between SCAN and MULTI
            snap.records.append(
                {
                    "key": _text(name),
                    "type": kind,
                    "expires_at_ms": snap.taken_at_ms + ttl_ms if ttl_ms >= 0 else None,
                    "value": _read_value(kind, value),
                }
            )
            progress("keys", n + 1, len(present))
        return snap
    raise CliError("keys kept changing type during the backup; try again")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(mtime)
    tar.addfile(info, io.BytesIO(data))


def write_archive(dest: Path, snap: Snapshot, log_dir: Path, progress: Progress) -> dict[str, Any]:
    """Write the archive to ``dest`` (0600, never over an existing file); returns the manifest."""
    if dest.exists():
        raise CliError(f"{dest} exists; choose another name (a backup never overwrites)")
    if not dest.parent.is_dir():
        raise CliError(f"{dest.parent} is not a folder")
    members: dict[str, bytes] = {
        REDIS_MEMBER: json.dumps(
            {"taken_at_ms": snap.taken_at_ms, "keys": snap.records}, ensure_ascii=True
        ).encode()
    }
    logs = [p for _, p in playlog.log_files(log_dir)]
    for n, path in enumerate(logs, start=1):
        members[LOGS_DIR + path.name] = path.read_bytes()
        progress("play logs", n, len(logs))
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": dt.datetime.fromtimestamp(snap.taken_at_ms / 1000, tz=dt.UTC).isoformat(),
        "redis_keys": len(snap.records),
        "play_logs": len(logs),
        "files": {name: {"sha256": _sha256(d), "bytes": len(d)} for name, d in members.items()},
    }
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    # 0600 from the first byte: the archive holds sessions, tokens and guest hashes.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            with tarfile.open(fileobj=fh, mode="w:gz") as tar:
                mtime = snap.taken_at_ms / 1000
                _add(tar, MANIFEST, json.dumps(manifest, indent=2).encode(), mtime)
                for name, data in members.items():
                    _add(tar, name, data, mtime)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, dest)  # fails if dest appeared meanwhile: never overwrite
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


# --- restore --------------------------------------------------------------------------------


@dataclass
class Archive:
    manifest: dict[str, Any]
    records: list[dict[str, Any]]
    logs: dict[str, bytes]


def _check_record(rec: Any) -> str | None:
    if not isinstance(rec, dict):
        return "a key record is not an object"
    key, kind, value = rec.get("key"), rec.get("type"), rec.get("value")
    exp = rec.get("expires_at_ms")
    if not isinstance(key, str) or not key.startswith(keys.PREFIX):
        return f"key {str(key)[:60]!r} is not an {keys.PREFIX}* key"
    if kind not in _TYPES:
        return f"{key}: unknown type {kind!r}"
    if exp is not None and (not isinstance(exp, int) or isinstance(exp, bool) or exp <= 0):
        return f"{key}: bad expiry"
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str),
        "list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "set": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "hash": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
        "zset": lambda v: (
            isinstance(v, list)
            and all(
                isinstance(x, list)
                and len(x) == 2
                and isinstance(x[0], str)
                and isinstance(x[1], int | float)
                for x in v
            )
        ),
        "stream": lambda v: (
            isinstance(v, list)
            and all(
                isinstance(x, list)
                and len(x) == 2
                and isinstance(x[0], str)
                and isinstance(x[1], list)
                and len(x[1]) % 2 == 0
                and all(isinstance(f, str) for f in x[1])
                for x in v
            )
        ),
    }
    if not checks[kind](value):
        return f"{key}: value is not a {kind}"
    if kind == "stream":
        entries = cast(list[list[Any]], value)
        ids = [tuple(map(int, x[0].split("-"))) for x in entries if _STREAM_ID.match(x[0])]
        if len(ids) != len(entries) or ids != sorted(set(ids)) or (ids and ids[0] == (0, 0)):
            return f"{key}: stream entry ids are not valid and increasing"
    return None


def read_archive(src: Path, progress: Progress) -> Archive:
    """Open and check everything in the archive; raises CliError naming the first problem."""
    try:
        tar = tarfile.open(src, mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CliError(f"{src} is not a readable backup archive ({exc})") from exc
    data: dict[str, bytes] = {}
    with tar:
        try:
            for member in tar:
                name = member.name
                if not member.isfile() or name.startswith("/") or ".." in name.split("/"):
                    raise CliError(f"{src}: unexpected member {name!r}")
                if name in data:
                    raise CliError(f"{src}: member {name!r} appears twice")
                fh = tar.extractfile(member)
                if fh is None:
                    raise CliError(f"{src}: cannot read member {name!r}")
                data[name] = fh.read()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise CliError(f"{src} is damaged ({exc})") from exc
    try:
        manifest = json.loads(data.pop(MANIFEST))
    except (KeyError, ValueError) as exc:
        raise CliError(f"{src}: no readable {MANIFEST}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CliError(f"{src} is not an Andre backup")
    if manifest.get("version") != VERSION:
        raise CliError(f"{src}: backup version {manifest.get('version')!r} is not supported")
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != set(data):
        raise CliError(f"{src}: the manifest does not list exactly the archive's members")
    for n, (name, body) in enumerate(sorted(data.items()), start=1):
        want = files[name]
        if not isinstance(want, dict) or want.get("sha256") != _sha256(body):
            raise CliError(f"{src}: checksum mismatch for {name}")
        progress("checksums", n, len(data))
    if REDIS_MEMBER not in data:
        raise CliError(f"{src}: no {REDIS_MEMBER}")
    try:
        records = json.loads(data.pop(REDIS_MEMBER))["keys"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(f"{src}: {REDIS_MEMBER} is not readable") from exc
    if not isinstance(records, list):
        raise CliError(f"{src}: {REDIS_MEMBER} holds no key list")
    seen: set[str] = set()
    for rec in records:
        why = _check_record(rec)
        if why is None and rec["key"] in seen:
            why = f"{rec['key']} appears twice"
        if why is not None:
            raise CliError(f"{src}: {why}")
        seen.add(rec["key"])
    logs: dict[str, bytes] = {}
    for name, body in data.items():
        base = name.removeprefix(LOGS_DIR)
        if not name.startswith(LOGS_DIR) or not _LOG_NAME.match(base):
            raise CliError(f"{src}: unexpected member {name!r}")
        logs[base] = body
    return Archive(manifest=manifest, records=records, logs=logs)


def _queue_write(pipe: Any, rec: dict[str, Any]) -> bool:
    key, kind, value = _bytes(rec["key"]), rec["type"], rec["value"]
    if kind == "string":
        pipe.set(key, _bytes(value))
    elif not value:
        return False  # Redis keeps no empty collections
    elif kind == "list":
        pipe.rpush(key, *(_bytes(v) for v in value))
    elif kind == "set":
        pipe.sadd(key, *(_bytes(v) for v in value))
    elif kind == "hash":
        pipe.hset(key, mapping={_bytes(k): _bytes(v) for k, v in value.items()})
    elif kind == "zset":
        pipe.zadd(key, {_bytes(m): float(s) for m, s in value})
    else:
        for entry_id, fields in value:
            pipe.execute_command("XADD", key, entry_id, *(_bytes(f) for f in fields))
    if rec["expires_at_ms"] is not None:
        pipe.pexpireat(key, rec["expires_at_ms"])
    return True


@dataclass
class RestoreReport:
    keys: int = 0
    expired: int = 0
    replaced: int = 0
    logs_written: int = 0
    logs_same: int = 0


def restore(
    archive: Archive, redis: Redis, log_dir: Path, force: bool, progress: Progress
) -> RestoreReport:
    """Write the archive into Redis (one MULTI) and the play-log folder."""
    report = RestoreReport()
    existing = redis.dbsize()
    if existing and not force:
        raise CliError(
            f"Redis holds {existing} keys; restore refuses to overwrite them without --force"
        )
    changed = []
    for name, body in sorted(archive.logs.items()):
        path = log_dir / name
        if path.exists():
            if path.read_bytes() == body:
                report.logs_same += 1
                continue
            if not force:
                raise CliError(f"{path} exists and differs; restore refuses without --force")
        changed.append((path, body))
    now_ms = server_time_ms(redis)
    old = list(redis.scan_iter(match=keys.PREFIX + "*", count=_SCAN_COUNT)) if existing else []
    with redis.pipeline(transaction=True) as pipe:
        if old:
            pipe.delete(*old)
        for n, rec in enumerate(archive.records, start=1):
            if rec["expires_at_ms"] is not None and rec["expires_at_ms"] <= now_ms:
                report.expired += 1
                continue
            if _queue_write(pipe, rec):
                report.keys += 1
            progress("keys", n, len(archive.records))
        pipe.execute()
    report.replaced = len(old)
    log_dir.mkdir(parents=True, exist_ok=True)
    for n, (path, body) in enumerate(changed, start=1):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        report.logs_written += 1
        progress("play logs", n, len(changed))
    return report
