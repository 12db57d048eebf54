import re

from deploy import repin

NEW = "sha256:" + "ab" * 32


def test_repin_rewrites_every_pin_and_stamps() -> None:
    seen: list[str] = []

    def resolve(ref: str) -> str:
        seen.append(ref)
        return NEW

    for path in repin.FILES:
        text = path.read_text()
        new, changes = repin.repin_text(text, resolve, "2030-01-02")
        pins = repin.PIN.findall(text)
        assert pins and len(changes) == len(pins)
        assert all(digest == NEW for _, digest in repin.PIN.findall(new))
        assert "# Last `make repin`: 2030-01-02, digests as served by the registry" in new
    assert {"python:3.11-slim-bookworm", "caddy:2.10.2-alpine", "redis:7-alpine"} == set(seen)


def test_repin_unchanged_digests_report_nothing() -> None:
    text = repin.FILES[0].read_text()
    current = dict(repin.PIN.findall(text))
    new, changes = repin.repin_text(text, lambda ref: current[ref], "2030-01-02")
    assert changes == []
    assert re.sub(r"# Last `make repin`: .*", "", new) == re.sub(
        r"# Last `make repin`: .*", "", text
    )
