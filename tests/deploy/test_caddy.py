import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.compose_model import DEPLOY, ROOT

CADDY = shutil.which("caddy") or "/usr/bin/caddy"
PROD_ENV = {"ANDRE_DOMAIN": "andre.example.test", "ANDRE_ACME_EMAIL": "ops@example.test"}
EXPECTED_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}


def caddy(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ANDRE_")}
    full_env.update(
        {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "d"),
         "XDG_CONFIG_HOME": str(tmp_path / "c")}
    )  # fmt: skip
    full_env.update(env)
    return subprocess.run(
        [CADDY, *args], capture_output=True, text=True, env=full_env, timeout=30, check=False
    )


def local_caddyfile(tmp_path: Path) -> Path:
    spec = importlib.util.spec_from_file_location("andre_stack", ROOT / "scripts" / "stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    # Its storage under the test's folder: validating the file makes Caddy create it.
    module.STATE = tmp_path / "stack-state"
    path = tmp_path / "Caddyfile.local"
    path.write_text(module.caddyfile())
    return path


def adapt(path: Path, tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    result = caddy(["adapt", "--config", str(path), "--adapter", "caddyfile"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def walk(node: Any) -> list[dict[str, Any]]:
    """Every JSON object in the adapted config, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for v in node.values():
            found.extend(walk(v))
    elif isinstance(node, list):
        for v in node:
            found.extend(walk(v))
    return found


def test_caddy_validate_production_caddyfile_valid(tmp_path: Path) -> None:
    result = caddy(
        ["validate", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        tmp_path,
        PROD_ENV,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Valid configuration" in result.stdout + result.stderr


def test_caddy_validate_local_stack_caddyfile_valid(tmp_path: Path) -> None:
    env = {"ANDRE_API_UPSTREAM": "127.0.0.1:1", "ANDRE_WEB_UPSTREAM": "127.0.0.1:2",
           "ANDRE_HTTPS_PORT_SUFFIX": ":8443"}  # fmt: skip
    path = local_caddyfile(tmp_path)
    assert f"import {DEPLOY / 'caddy' / 'andre.caddy'}" in path.read_text()
    result = caddy(["validate", "--config", str(path), "--adapter", "caddyfile"], tmp_path, env)
    assert result.returncode == 0, result.stderr[-2000:]


def test_caddy_validate_broken_snippet_refused(tmp_path: Path) -> None:
    broken = tmp_path / "deploy"
    shutil.copytree(DEPLOY / "caddy", broken / "caddy")
    shutil.copy(DEPLOY / "Caddyfile", broken / "Caddyfile")
    snippet = broken / "caddy" / "andre.caddy"
    snippet.write_text(snippet.read_text().replace("flush_interval -1", "flush_interval soon"))
    result = caddy(
        ["validate", "--config", str(broken / "Caddyfile"), "--adapter", "caddyfile"],
        tmp_path,
        PROD_ENV,
    )
    assert result.returncode != 0


def test_caddy_production_security_headers_on_every_response(tmp_path: Path) -> None:
    config = adapt(DEPLOY / "Caddyfile", tmp_path, PROD_ENV)
    header_handlers = [o for o in walk(config) if o.get("handler") == "headers" and "response" in o]
    site = [
        h for h in header_handlers if "Strict-Transport-Security" in h["response"].get("set", {})
    ]
    # The site's routes, its error routes (a 413 or a 502/503/504 Caddy makes itself) and the
    # catch-all sites that refuse unknown hosts (https:// and http://).
    assert len(site) == 5
    assert all(h["response"] == site[0]["response"] for h in site)
    response = site[0]["response"]
    for name, value in EXPECTED_HEADERS.items():
        assert response["set"][name] == [value]
    csp = response["set"]["Content-Security-Policy"][0]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert "object-src 'none'" in csp
    perms = response["set"]["Permissions-Policy"][0]
    assert "camera=()" in perms and "microphone=()" in perms and "geolocation=()" in perms
    json_errors = [
        h
        for h in header_handlers
        if h["response"].get("set") == {"Content-Type": ["application/json"]}
    ]
    # Caddy's own 413s and unknown-host 421s answer in the services' {"error"} shape.
    assert len(json_errors) == 4
    upstream_errors = [
        h
        for h in header_handlers
        if h["response"].get("set") == {"Content-Type": ["application/json"], "Retry-After": ["2"]}
    ]
    assert len(upstream_errors) == 1  # and so do its 502/503/504 for a service that is down
    others = [h for h in header_handlers if h not in json_errors + upstream_errors]
    # Deleted from the site, its error routes, the HTTP redirect, the catch-alls and the artwork.
    assert all("Server" in h["response"].get("delete", []) for h in others)
    assert len(others) == 7
    # Pages may show Spotify's artwork and our own (/art/demo/), no data: images any more.
    assert "img-src 'self' https://i.scdn.co https://*.scdn.co;" in csp


ART_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
ENCODED = {
    "application/json*",
    "text/html*",
    "text/css*",
    "text/javascript*",
    "application/javascript*",
    "image/svg+xml*",
}


def _site_routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The routes of the site's subroute: the one list that holds the artwork's matcher."""
    lists = [
        o["routes"]
        for o in walk(config)
        if isinstance(o.get("routes"), list)
        and any(r.get("match") == [{"path": ["/art/*"]}] for r in o["routes"])
    ]
    assert len(lists) == 1
    return lists[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("which", ["production", "local"])
def test_caddy_encode_json_pages_and_svg_never_event_stream(which: str, tmp_path: Path) -> None:
    path = DEPLOY / "Caddyfile" if which == "production" else local_caddyfile(tmp_path)
    env = PROD_ENV if which == "production" else {"ANDRE_HTTPS_PORT_SUFFIX": ":8443"}
    config = adapt(path, tmp_path, env)
    encoders = [o for o in walk(config) if o.get("handler") == "encode"]
    assert len(encoders) == 1  # the site only: Caddy's own small error answers stay as they are
    encoder = encoders[0]
    assert set(encoder["encodings"]) == {"zstd", "gzip"} and encoder["prefer"] == ["zstd", "gzip"]
    types = set(encoder["match"]["headers"]["Content-Type"])
    assert types == ENCODED
    # SSE is never compressed (docs/decisions.md): an event must leave the moment it is written.
    assert not any(t.startswith(("text/event-stream", "text/*", "*")) for t in types)


@pytest.mark.parametrize("which", ["production", "local"])
def test_caddy_artwork_gets_its_own_strict_csp_written_last(which: str, tmp_path: Path) -> None:
    path = DEPLOY / "Caddyfile" if which == "production" else local_caddyfile(tmp_path)
    env = PROD_ENV if which == "production" else {"ANDRE_HTTPS_PORT_SUFFIX": ":8443"}
    routes = _site_routes(adapt(path, tmp_path, env))
    csps = [
        (i, r.get("match"), h["response"])
        for i, r in enumerate(routes)
        for h in r.get("handle", [])
        if h.get("handler") == "headers"
        and "Content-Security-Policy" in h["response"].get("set", {})
    ]
    assert len(csps) == 2
    (art_at, art_match, art), (site_at, site_match, site) = sorted(csps, key=lambda c: c[0])
    assert art_match == [{"path": ["/art/*"]}] and site_match is None
    assert art["set"]["Content-Security-Policy"] == [ART_CSP]
    # Both apply as the response leaves; the earlier route's handler wraps the later one's, so
    # its value is the one written last and the SVG keeps the strict policy.
    assert art["deferred"] and site["deferred"] and art_at < site_at


def test_caddy_production_routes_api_and_web(tmp_path: Path) -> None:
    config = adapt(DEPLOY / "Caddyfile", tmp_path, PROD_ENV)
    proxies = [o for o in walk(config) if o.get("handler") == "reverse_proxy"]
    upstreams = sorted(p["upstreams"][0]["dial"] for p in proxies)
    assert upstreams == ["api:8000", "web:8000"]
    for proxy in proxies:
        assert proxy["flush_interval"] == -1, "SSE would be buffered"
        assert proxy["headers"]["request"]["set"]["X-Forwarded-For"] == [
            "{http.request.remote.host}"
        ]
    matchers = [o for o in walk(config) if "path" in o and isinstance(o["path"], list)]
    assert any(m["path"] == ["/api/*"] for m in matchers)
    limits = [o for o in walk(config) if o.get("handler") == "request_body"]
    assert limits and all(0 < lim["max_size"] <= 1_000_000 for lim in limits)


def test_caddy_production_acme_email_and_domain_from_settings(tmp_path: Path) -> None:
    config = adapt(DEPLOY / "Caddyfile", tmp_path, PROD_ENV)
    text = json.dumps(config)
    assert "ops@example.test" in text
    hosts = [o["host"] for o in walk(config) if "host" in o and isinstance(o["host"], list)]
    assert ["andre.example.test"] in hosts
    redirects = [o for o in walk(config) if o.get("handler") == "static_response"]
    assert any(
        r.get("status_code") == 308
        and r["headers"]["Location"] == ["https://{http.request.host}{http.request.uri}"]
        for r in redirects
    )


def test_caddy_image_paths_match_import(tmp_path: Path) -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY deploy/Caddyfile /etc/caddy/Caddyfile" in dockerfile
    assert "COPY deploy/caddy/andre.caddy /etc/caddy/caddy/andre.caddy" in dockerfile
    assert "import caddy/andre.caddy" in (DEPLOY / "Caddyfile").read_text()


@pytest.mark.parametrize("name", ["Caddyfile", "caddy/andre.caddy"])
def test_caddy_files_name_no_operator_host(name: str) -> None:
    text = (DEPLOY / name).read_text()
    for operator in ("dylanbochman", "192.81.213.152", "100.92.192.62"):
        assert operator not in text


def test_caddy_production_unknown_host_refused_with_headers(tmp_path: Path) -> None:
    config = adapt(DEPLOY / "Caddyfile", tmp_path, PROD_ENV)
    responders = [o for o in walk(config) if o.get("handler") == "static_response"]
    refusals = [r for r in responders if r.get("status_code") == 421]
    assert len(refusals) == 2  # the https:// and http:// catch-alls
    assert all(r["body"] == '{"error":"Unknown host"}' and r.get("close") for r in refusals)


def test_caddy_access_log_drops_csrf_header(tmp_path: Path) -> None:
    config = adapt(DEPLOY / "Caddyfile", tmp_path, PROD_ENV)
    encoders = [o for o in walk(config) if o.get("format") == "filter"]
    assert encoders
    for encoder in encoders:
        assert encoder["fields"]["request>headers>X-Csrf-Token"] == {"filter": "delete"}
