"""The ``andre`` command: ``andre --help`` lists what it does, ``andre CMD --help`` the details."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from services.cli import api, backup, playlogs
from services.cli.errors import CliError, reported
from services.cli.settings import CliSettings
from services.cli.store import connect_admin
from shared.settings import load_settings

CHECKOUT = Path(__file__).resolve().parents[2]

app = typer.Typer(
    help="Operate Andre: call its API, import the original's play logs, back up and restore, "
    "verify a deployment. Settings come from ANDRE_* variables, .env and /run/secrets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(api.app, name="api")


@contextlib.contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr while long work runs (quiet when stderr is not a terminal)."""
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def update(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task(what, total=total)
        bar.update(tasks[what], completed=done, total=total)

    with bar:
        yield update


@app.command("import-playlogs")
def import_playlogs(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="Folder of the original Andre's play_log_YYYY_MM_DD.json files.",
            exists=True,
            file_okay=False,
            readable=True,
        ),
    ],
) -> None:
    """Import the original Andre's play logs into history and Throwback.

    Reads DIR/play_log_*.json into our play logs (ANDRE_PLAY_LOG_DIR) and the Redis history, so
    Throwback and /history know the office's past. Safe to run twice: known plays are skipped.
    Bad lines are reported as FILE:LINE: reason and skipped."""
    settings = load_settings(CliSettings)
    with reported(settings.secret_values()):
        redis = connect_admin(settings)
        try:
            with progress_bar() as update:
                report = playlogs.import_playlogs(
                    source,
                    settings.play_log_dir,
                    redis,
                    settings.history_max_len,
                    progress=lambda done, total: update("files", done, total),
                )
        finally:
            redis.close()
        for line in report.skipped:
            print(f"skipped {line}", file=sys.stderr)
        if not report.files:
            raise CliError(f"no {playlogs.ORIGINAL_GLOB} files in {source}")
        print(
            f"imported {report.files} files: {report.plays} plays read, {report.logged} new in "
            f"the play logs, {report.in_history} new in the Redis history, "
            f"{len(report.skipped)} lines skipped"
        )


@app.command("backup")
def backup_cmd(
    dest: Annotated[
        Path,
        typer.Argument(help="Archive file to create (0600; an existing file is never replaced)."),
    ],
) -> None:
    """Back up Redis and the play logs into one archive.

    Every andre:* key (value and expiry, read through the andre-admin user) and every play log,
    with a manifest and checksums, in one 0600 file."""
    settings = load_settings(CliSettings)
    with reported(settings.secret_values()):
        if dest.exists():
            raise CliError(f"{dest} exists; choose another name (a backup never overwrites)")
        redis = connect_admin(settings)
        try:
            with progress_bar() as update:
                snap = backup.snapshot(redis, update)
                manifest = backup.write_archive(dest, snap, settings.play_log_dir, update)
        finally:
            redis.close()
        print(
            f"backed up {manifest['redis_keys']} Redis keys and {manifest['play_logs']} play "
            f"logs to {dest}"
        )


@app.command("restore")
def restore_cmd(
    src: Annotated[
        Path,
        typer.Argument(
            help="Archive made by `andre backup`.", exists=True, dir_okay=False, readable=True
        ),
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace what Redis holds (every andre:* key) and play logs that differ.",
        ),
    ] = False,
) -> None:
    """Restore a backup made by `andre backup`.

    Checks the whole archive first, refuses a Redis that holds keys without --force, then writes
    every key in one transaction (expiries kept) and the play logs."""
    settings = load_settings(CliSettings)
    with reported(settings.secret_values()):
        with progress_bar() as update:
            archive = backup.read_archive(src, update)
            redis = connect_admin(settings)
            try:
                report = backup.restore(archive, redis, settings.play_log_dir, force, update)
            finally:
                redis.close()
        replaced = f", replacing {report.replaced} keys" if report.replaced else ""
        print(
            f"restored {report.keys} Redis keys{replaced} ({report.expired} expired since the "
            f"backup, left out) and {report.logs_written} play logs "
            f"({report.logs_same} already identical) from {src}"
        )


@app.command(
    "verify",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def verify_cmd(ctx: typer.Context) -> None:
    """Check a live deployment's hardening (what `make verify` runs).

    Runs python -m deploy.verify with the same ANDRE_VERIFY_* settings; extra arguments are
    passed on and its exit code is ours."""
    # Same interpreter, same environment: exactly what `make verify` runs. deploy/ is no
    # installed package: it is found in the checkout this CLI was installed from.
    if not (CHECKOUT / "deploy" / "verify.py").is_file():
        print(
            f"andre: verify needs the Andre checkout (no deploy/verify.py in {CHECKOUT})",
            file=sys.stderr,
        )
        raise typer.Exit(1)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CHECKOUT), env.get("PYTHONPATH")) if p)
    try:
        code = subprocess.call([sys.executable, "-m", "deploy.verify", *ctx.args], env=env)
    except OSError as exc:
        print(f"andre: cannot run deploy.verify: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
