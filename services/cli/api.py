"""``andre api``: the REST API (DESIGN §4.1) from a terminal, with the token kept out of sight.

The token comes from ANDRE_API_TOKEN or the file named by ANDRE_API_TOKEN_FILE, never from an
argument (arguments land in shell history and ``ps``), and is never printed: not in tables, not in
errors, not with ``--verbose``.
"""

from __future__ import annotations

import json
import ssl
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
from rich.console import Console
from rich.table import Table

from services.cli.errors import UNREACHABLE, CliError, reported
from services.cli.settings import CliSettings
from shared.settings import load_settings

app = typer.Typer(
    help="Call the REST API (token from ANDRE_API_TOKEN or ANDRE_API_TOKEN_FILE).",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON as it came.")]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Say which request went where (never the token).")
]
CaOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca",
        help="CA certificate for the API's TLS (default ANDRE_API_CA, else the local stack's).",
        dir_okay=False,
    ),
]
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def read_token(settings: CliSettings) -> str:
    token = settings.api_token.get_secret_value().strip()
    if token:
        return token
    if settings.api_token_file is None:
        raise CliError("no API token: set ANDRE_API_TOKEN or ANDRE_API_TOKEN_FILE", code=2)
    try:
        token = settings.api_token_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read ANDRE_API_TOKEN_FILE ({settings.api_token_file})") from exc
    if not token:
        raise CliError(f"ANDRE_API_TOKEN_FILE ({settings.api_token_file}) is empty", code=2)
    return token


def tls_context(settings: CliSettings, ca: Path | None) -> ssl.SSLContext:
    """Verify against ``--ca``, ANDRE_API_CA, the local stack's CA for localhost, or the system."""
    cafile = ca or settings.api_ca
    if cafile is None and urlsplit(settings.api_url).hostname in _LOCAL_HOSTS:
        local = settings.local_ca()
        cafile = local if local.is_file() else None
    if cafile is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(cafile))
    except (OSError, ssl.SSLError) as exc:
        raise CliError(f"cannot use {cafile} as the API's CA certificate") from exc


class ApiClient:
    """One httpx client per command; the token lives in its default headers and nowhere else."""

    def __init__(self, settings: CliSettings, token: str, ca: Path | None, verbose: bool) -> None:
        self.verbose = verbose
        self.http = httpx.Client(
            base_url=settings.api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            verify=tls_context(settings, ca),
            timeout=settings.api_timeout_s,
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        started = time.monotonic()
        response = self.http.request(method, "/api" + path, json=body, params=params)
        if self.verbose:
            took_ms = (time.monotonic() - started) * 1000
            print(
                f"{method} {response.request.url} -> {response.status_code} ({took_ms:.0f} ms)",
                file=sys.stderr,
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            message = str(message or response.reason_phrase or "error")
            hint = ""
            if response.status_code == 429 and response.headers.get("Retry-After"):
                hint = f" (retry after {response.headers['Retry-After']} s)"
            code = UNREACHABLE if response.status_code >= 502 else 1
            raise CliError(f"API answered {response.status_code}: {message}{hint}", code=code)
        if data is None:
            raise CliError(f"API answered {response.status_code} without JSON")
        return data

    def events(self, last_id: str | None) -> Iterator[dict[str, Any]]:
        """Each server-sent event as ``{id, event, data}``; pings are skipped."""
        headers = {"Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        # The server pings at least every 15 s: a longer silence is a dead connection.
        timeout = httpx.Timeout(self.http.timeout.connect, read=45.0)
        with self.http.stream("GET", "/api/events", headers=headers, timeout=timeout) as response:
            if self.verbose:
                print(f"GET {response.request.url} -> {response.status_code}", file=sys.stderr)
            if response.status_code >= 400:
                response.read()
                try:
                    message = str(response.json().get("error") or response.reason_phrase)
                except (ValueError, AttributeError):
                    message = response.reason_phrase
                raise CliError(f"API answered {response.status_code}: {message}")
            frame: dict[str, Any] = {}
            data: list[str] = []
            for line in response.iter_lines():
                if line == "":
                    if data:
                        raw = "\n".join(data)
                        try:
                            frame["data"] = json.loads(raw)
                        except ValueError:
                            frame["data"] = raw
                        yield {
                            "id": frame.get("id"),
                            "event": frame.get("event", "message"),
                            "data": frame["data"],
                        }
                    frame, data = {}, []
                elif line.startswith(":"):
                    continue
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "data":
                        data.append(value)
                    elif name in ("id", "event"):
                        frame[name] = value


def _run(
    method: str,
    path: str,
    *,
    json_out: bool,
    verbose: bool,
    ca: Path | None,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    show: Any = None,
) -> None:
    settings = load_settings(CliSettings)
    secrets = settings.secret_values()
    with reported(secrets):
        token = read_token(settings)
        with reported([*secrets, token]):
            client = ApiClient(settings, token, ca, verbose)
            try:
                data = client.call(method, path, body, params)
            finally:
                client.close()
            console = Console(highlight=False, soft_wrap=True)
            if json_out or show is None:
                print(json.dumps(data, indent=2, ensure_ascii=False))
            else:
                show(console, data)


# --- readable output ----------------------------------------------------------------------


def _minutes(ms: Any) -> str:
    try:
        seconds = int(ms) // 1000
    except (TypeError, ValueError):
        return ""
    return f"{seconds // 60}:{seconds % 60:02d}"


def _items_table(title: str, items: list[dict[str, Any]], extra: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("#")
    table.add_column("id", overflow="fold")
    for column in ("title", "artist", "length", "by", "votes"):
        table.add_column(column)
    if extra:
        table.add_column(extra)
    for n, item in enumerate(items, start=1):
        row = [
            str(n),
            str(item.get("id", "")),
            str(item.get("title", "")),
            str(item.get("artist", "")),
            _minutes(item.get("duration_ms")),
            str(item.get("user", "")),
            str(item.get("votes", 0)),
        ]
        if extra:
            row.append(str(item.get(extra, "")))
        table.add_row(*row)
    return table


def _show_queue(console: Console, data: dict[str, Any]) -> None:
    items = list(data.get("queue") or [])
    if not items:
        console.print("The queue is empty.")
    else:
        console.print(_items_table(f"Queue ({len(items)})", items))
    preview = data.get("preview")
    if isinstance(preview, dict):
        console.print(f"Next from Bender: {preview.get('title', '')} — {preview.get('artist', '')}")


def _show_playing(console: Console, data: dict[str, Any]) -> None:
    if not data:
        console.print("Nothing is playing.")
        return
    state = "paused" if data.get("paused") else "playing"
    console.print(
        f"{data.get('title', '')} — {data.get('artist', '')} ({state}, "
        f"{_minutes(data.get('pos_ms'))} of {_minutes(data.get('duration_ms'))}; "
        f"id {data.get('id', '')}, queued by {data.get('user', '')})"
    )


def _show_history(console: Console, data: dict[str, Any]) -> None:
    plays = list(data.get("plays") or [])
    if not plays:
        console.print("No plays yet.")
        return
    for play in plays:
        ended = play.get("ended_at")
        if isinstance(ended, int | float):
            play["ended"] = time.strftime("%Y-%m-%d %H:%M", time.localtime(ended))
    console.print(_items_table(f"History ({len(plays)}, newest first)", plays, extra="ended"))


def _show_search(console: Console, data: dict[str, Any]) -> None:
    results = list(data.get("results") or [])
    if not results:
        console.print("No results.")
        return
    table = Table()
    table.add_column("uri", overflow="fold", min_width=36)  # to copy whole into `add`
    for column in ("title", "artist", "album", "length"):
        table.add_column(column)
    for r in results:
        table.add_row(
            str(r.get("uri", "")),
            str(r.get("title", "")),
            str(r.get("artist", "")),
            str(r.get("album", "")),
            _minutes(r.get("duration_ms")),
        )
    console.print(table)


def _show_devices(console: Console, data: dict[str, Any]) -> None:
    devices = list(data.get("devices") or [])
    if not devices:
        console.print("No Spotify devices.")
        return
    table = Table()
    table.add_column("id", overflow="fold")
    for column in ("name", "type", "active", "volume"):
        table.add_column(column)
    for d in devices:
        table.add_row(
            str(d.get("id", "")),
            str(d.get("name", "")),
            str(d.get("type", "")),
            "yes" if d.get("is_active") else "",
            str(d.get("volume_percent", "")),
        )
    console.print(table)


def _show_ok(console: Console, data: dict[str, Any]) -> None:
    if "done" in data:  # a moderated action: done, or this vote counted
        if data.get("done"):
            console.print(f"Done ({data.get('how', '')}).")
        else:
            console.print(f"Your vote counts: {data.get('votes')} of {data.get('needed')}.")
    elif "jammed" in data:
        console.print("Jammed." if data.get("jammed") else "Jam taken back.")
    elif data.get("outcome"):
        console.print(f"{data.get('message') or data['outcome']} (id {data.get('id', '')})")
    elif "id" in data:
        console.print(f"Added (id {data['id']}).")
    else:
        console.print("OK.")


def _show_status(console: Console, data: Any) -> None:
    if not data:
        console.print("Spotify is not playing anything.")
        return
    item = data.get("item") or {}
    device = data.get("device") or {}
    state = "playing" if data.get("is_playing") else "paused"
    console.print(f"{item.get('name', '?')} ({state}) on {device.get('name', '?')}")


# --- commands -----------------------------------------------------------------------------


@app.command("queue")
def queue_cmd(json_out: JsonOpt = False, verbose: VerboseOpt = False, ca: CaOpt = None) -> None:
    """Show the queue in play order and the Bender preview."""
    _run("GET", "/queue", json_out=json_out, verbose=verbose, ca=ca, show=_show_queue)


@app.command("playing")
def playing_cmd(json_out: JsonOpt = False, verbose: VerboseOpt = False, ca: CaOpt = None) -> None:
    """Show the playing song and its position."""
    _run("GET", "/playing", json_out=json_out, verbose=verbose, ca=ca, show=_show_playing)


@app.command("history")
def history_cmd(
    limit: Annotated[int, typer.Option(help="How many plays, newest first.", min=1)] = 20,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    ca: CaOpt = None,
) -> None:
    """Show the songs played last, newest first."""
    _run(
        "GET",
        "/history",
        params={"limit": limit},
        json_out=json_out,
        verbose=verbose,
        ca=ca,
        show=_show_history,
    )


@app.command("search")
def search_cmd(
    query: Annotated[str, typer.Argument(help="What to search Spotify (or the demo catalog) for.")],
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    ca: CaOpt = None,
) -> None:
    """Search for tracks to add."""
    _run(
        "GET",
        "/search",
        params={"q": query},
        json_out=json_out,
        verbose=verbose,
        ca=ca,
        show=_show_search,
    )


@app.command("add")
def add_cmd(
    uri: Annotated[str, typer.Argument(help="spotify:track:… / spotify:episode:… or a link.")],
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    ca: CaOpt = None,
) -> None:
    """Queue a song as the token's identity."""
    body = {"uri": uri}
    _run("POST", "/queue/add", body=body, json_out=json_out, verbose=verbose, ca=ca, show=_show_ok)


@app.command("vote")
def vote_cmd(
    item_id: Annotated[str, typer.Argument(metavar="ID", help="Queue id of the song.")],
    down: Annotated[bool, typer.Option("--down", help="Vote down instead of up.")] = False,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    ca: CaOpt = None,
) -> None:
    """Vote a queued song up (or down) by one slot."""
    body = {"id": item_id, "up": not down}
    _run("POST", "/queue/vote", body=body, json_out=json_out, verbose=verbose, ca=ca, show=_show_ok)


@app.command("jam")
def jam_cmd(
    item_id: Annotated[str, typer.Argument(metavar="ID", help="Queue id of the song.")],
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    ca: CaOpt = None,
) -> None:
    """Toggle the token's jam on a queued or the playing song."""
    body = {"id": item_id}
    _run("POST", "/queue/jam", body=body, json_out=json_out, verbose=verbose, ca=ca, show=_show_ok)


@app.command("remove")
def remove_cmd(
    item_id: Annotated[str, typer.Argument(metavar="ID", help="Queue id of the song.")],
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    ca: CaOpt = None,
) -> None:
    """Remove a queued song (someone else's takes enough votes unless the token is an admin)."""
    body = {"id": item_id}
    _run(
        "POST", "/queue/remove", body=body, json_out=json_out, verbose=verbose, ca=ca, show=_show_ok
    )


@app.command("skip")
def skip_cmd(json_out: JsonOpt = False, verbose: VerboseOpt = False, ca: CaOpt = None) -> None:
    """Skip the playing song (or add this token's vote to skip it)."""
    _run("POST", "/queue/skip", json_out=json_out, verbose=verbose, ca=ca, show=_show_ok)


@app.command("pause")
def pause_cmd(json_out: JsonOpt = False, verbose: VerboseOpt = False, ca: CaOpt = None) -> None:
    """Pause playback."""
    _run("POST", "/queue/pause", json_out=json_out, verbose=verbose, ca=ca, show=_show_ok)


@app.command("resume")
def resume_cmd(json_out: JsonOpt = False, verbose: VerboseOpt = False, ca: CaOpt = None) -> None:
    """Resume playback."""
    _run("POST", "/queue/resume", json_out=json_out, verbose=verbose, ca=ca, show=_show_ok)


@app.command("clear")
def clear_cmd(json_out: JsonOpt = False, verbose: VerboseOpt = False, ca: CaOpt = None) -> None:
    """Remove every queued song (admin tokens only; the playing song plays on)."""
    _run("POST", "/queue/clear", json_out=json_out, verbose=verbose, ca=ca, show=_show_ok)


@app.command("devices")
def devices_cmd(json_out: JsonOpt = False, verbose: VerboseOpt = False, ca: CaOpt = None) -> None:
    """List the house Spotify account's Connect devices."""
    _run("GET", "/spotify/devices", json_out=json_out, verbose=verbose, ca=ca, show=_show_devices)


@app.command("transfer")
def transfer_cmd(
    device_id: Annotated[str, typer.Argument(help="Spotify Connect device id (see `devices`).")],
    play: Annotated[bool, typer.Option(help="Start playing on the device.")] = True,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    ca: CaOpt = None,
) -> None:
    """Move the house account's playback to another device."""
    body = {"device_id": device_id, "play": play}
    _run(
        "POST",
        "/spotify/transfer",
        body=body,
        json_out=json_out,
        verbose=verbose,
        ca=ca,
        show=_show_ok,
    )


@app.command("status")
def status_cmd(json_out: JsonOpt = False, verbose: VerboseOpt = False, ca: CaOpt = None) -> None:
    """Show the house Spotify account's playback state."""
    _run("GET", "/spotify/status", json_out=json_out, verbose=verbose, ca=ca, show=_show_status)


def _event_line(event: dict[str, Any]) -> str:
    data = event["data"]
    kind = event["event"]
    what = ""
    if isinstance(data, dict):
        if kind == "queue_update":
            what = f"{len(data.get('queue') or [])} queued"
        elif kind == "now_playing":
            what = f"{data.get('title', '')} — {data.get('artist', '')}" if data else "idle"
        elif kind == "player_position":
            what = f"{_minutes(data.get('pos_ms'))} into {data.get('trackid', '')}"
        elif kind == "airhorn":
            what = f"{data.get('name', '')} by {data.get('user', '')}"
    return f"{event['id'] or '-'} {kind} {what}".rstrip()


@app.command("events")
def events_cmd(
    count: Annotated[
        int | None, typer.Option("--max", help="Stop after this many events.", min=1)
    ] = None,
    last_id: Annotated[
        str | None, typer.Option("--last-id", help="Resume after this event id.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object {id, event, data} per line.")
    ] = False,
    verbose: VerboseOpt = False,
    ca: CaOpt = None,
) -> None:
    """Follow the live event stream (queue, now playing, positions, airhorns) until Ctrl-C."""
    settings = load_settings(CliSettings)
    secrets = settings.secret_values()
    with reported(secrets):
        token = read_token(settings)
        with reported([*secrets, token]):
            client = ApiClient(settings, token, ca, verbose)
            seen = 0
            try:
                for event in client.events(last_id):
                    if json_out:
                        print(json.dumps(event, ensure_ascii=False), flush=True)
                    else:
                        print(_event_line(event), flush=True)
                    seen += 1
                    if count is not None and seen >= count:
                        break
            except KeyboardInterrupt:
                pass
            finally:
                client.close()
