"""Render cloud-init user-data for an Andre host (Ubuntu 24.04) from settings; stdlib only.

Settings (environment, or KEY=VALUE lines in --env-file):
  ANDRE_HOST_SSH_KEYS_FILE      required: the deploy user's authorized public keys, one a line
  ANDRE_HOST_TAILSCALE_AUTHKEY_FILE  required: a one-off Tailscale auth key (a secret file)
  ANDRE_HOST_DEPLOY_USER        default deploy
  ANDRE_HOST_HOSTNAME           default andre
  ANDRE_HOST_TIMEZONE           default UTC
  ANDRE_HOST_ADMIN_IPS          optional: extra addresses fail2ban must never ban (comma list)
  ANDRE_HOST_REPO_URL, ANDRE_HOST_REPO_REF   optional: clone the app into /opt/andre
Usage: python deploy/host/render.py OUT [--env-file FILE]   (OUT is written mode 0600)
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shlex
import string
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("user-data.yaml.in")
_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
                  r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/=]{16,}( .*)?$")  # fmt: skip
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_HOST = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")


class SettingsError(ValueError):
    """A setting is missing or unsafe; the message names it."""


def _read_env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.strip().startswith("#"):
            out[name.strip()] = value.strip().strip('"').strip("'")
    return out


def _required_file(settings: dict[str, str], name: str) -> str:
    path = settings.get(name, "")
    if not path or not Path(path).is_file():
        raise SettingsError(f"{name} must name an existing file")
    return Path(path).read_text(encoding="utf-8")


def values(settings: dict[str, str]) -> dict[str, str]:
    keys = [
        ln.strip()
        for ln in _required_file(settings, "ANDRE_HOST_SSH_KEYS_FILE").splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    if not keys:
        # Without a key nobody could ever log in: refuse rather than build a locked box.
        raise SettingsError("ANDRE_HOST_SSH_KEYS_FILE holds no public key")
    for key in keys:
        if not _KEY.match(key):
            raise SettingsError(f"ANDRE_HOST_SSH_KEYS_FILE: not an SSH public key: {key[:30]}...")
    authkey = _required_file(settings, "ANDRE_HOST_TAILSCALE_AUTHKEY_FILE").strip()
    if not authkey.startswith("tskey-"):
        raise SettingsError("ANDRE_HOST_TAILSCALE_AUTHKEY_FILE does not hold a tskey-... auth key")
    user = settings.get("ANDRE_HOST_DEPLOY_USER", "deploy")
    if not _USER.match(user) or user == "root":
        raise SettingsError("ANDRE_HOST_DEPLOY_USER is not a valid non-root user name")
    hostname = settings.get("ANDRE_HOST_HOSTNAME", "andre")
    if not _HOST.match(hostname):
        raise SettingsError("ANDRE_HOST_HOSTNAME is not a valid host name")
    timezone = settings.get("ANDRE_HOST_TIMEZONE", "UTC")
    if not re.match(r"^[A-Za-z0-9_+/-]+$", timezone):
        raise SettingsError("ANDRE_HOST_TIMEZONE is not a time zone name")
    extra = []
    for item in settings.get("ANDRE_HOST_ADMIN_IPS", "").split(","):
        if item.strip():
            try:
                extra.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError as exc:
                raise SettingsError(f"ANDRE_HOST_ADMIN_IPS: {item.strip()!r}") from exc
    repo = settings.get("ANDRE_HOST_REPO_URL", "")
    ref = settings.get("ANDRE_HOST_REPO_REF", "main")
    if repo:
        clone = (
            f"sudo -u {user} git clone --branch {shlex.quote(ref)} {shlex.quote(repo)} /opt/andre"
            f" && install -d -o {user} -g {user} -m 0700 /opt/andre/deploy/secrets"
        )
    else:
        clone = "echo 'copy the repository to /opt/andre (deploy/README.md)'"
    return {
        "hostname": json.dumps(hostname),
        "timezone": json.dumps(timezone),
        "deploy_user": json.dumps(user),
        "deploy_user_bare": user,
        "ssh_keys": json.dumps(keys),
        "tailscale_authkey": json.dumps(authkey),
        "tailscale_hostname": json.dumps(hostname),
        "ignoreip_extra": "".join(" " + e for e in extra),
        "clone_command": json.dumps(clone),
    }


def render(settings: dict[str, str]) -> str:
    template = string.Template(TEMPLATE.read_text(encoding="utf-8"))
    return template.substitute(values(settings))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--env-file", type=Path)
    args = parser.parse_args(argv)
    settings = {k: v for k, v in os.environ.items() if k.startswith("ANDRE_HOST_")}
    if args.env_file:
        settings.update(_read_env_file(args.env_file))
    try:
        text = render(settings)
    except SettingsError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"render: wrote {args.out} (contains the Tailscale auth key: keep it private)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
