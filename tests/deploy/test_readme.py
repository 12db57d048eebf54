import re

import pytest

from tests.deploy.compose_model import DEPLOY, ROOT

README = DEPLOY / "README.md"
LINE_REF = re.compile(r"`([\w./-]+):(\d+)` `([^`]+)`")
TEST_REF = re.compile(r"`(tests/[\w./]+\.py)::(test_\w+)`")
ROW_REF = re.compile(r"`((?:SECURITY|DESIGN|STYLE)-[^`*]+?)-?\*?`")


def table_rows() -> list[str]:
    text = README.read_text()
    table = text.split("## Each SECURITY.md measure")[1].split("\n\n## ")[0]
    return [ln for ln in table.splitlines() if ln.startswith("| ") and not ln.startswith("| §")]


def test_readme_measure_table_covers_every_section() -> None:
    sections = {row.split("|")[1].strip() for row in table_rows()}
    assert {str(n) for n in range(1, 16)} <= sections


@pytest.mark.parametrize("row", table_rows(), ids=lambda r: r.split("|")[2].strip()[:40])
def test_readme_measure_row_references_resolve(row: str) -> None:
    refs = LINE_REF.findall(row)
    assert refs, "row names no file:line"
    for path, line, anchor in refs:
        lines = (ROOT / path).read_text().splitlines()
        assert anchor in lines[int(line) - 1], (
            f"{path}:{line} no longer holds {anchor!r}: run python deploy/readme_lines.py"
        )
    tests = TEST_REF.findall(row)
    rows = ROW_REF.findall(row)
    assert tests or rows, "row names no test"
    for path, name in tests:
        assert f"def {name}(" in (ROOT / path).read_text(), f"{path}::{name} does not exist"
    if rows:
        from tests.deploy.test_compose_policy import ROWS

        ids = [p.id for p in ROWS]
        for prefix in rows:
            assert any(i.startswith(prefix) for i in ids), f"no policy row {prefix}*"


@pytest.mark.parametrize("name", ["README.md", "compose.yaml", "env.example", "Dockerfile"])
def test_readme_deploy_files_name_no_operator(name: str) -> None:
    text = (DEPLOY / name).read_text()
    for operator in ("dylanbochman", "192.81.213.152", "100.92.192.62", "op://"):
        assert operator not in text
