import logging

import pytest

from shared.logs import AUDIT_LOGGER, audit


@pytest.mark.parametrize("key", ["name", "msg", "args", "levelname", "message", "module"])
def test_audit_detail_named_like_a_record_attribute_is_kept_not_raised(
    caplog: pytest.LogCaptureFixture, key: str
) -> None:
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        audit("x", identity="a@b.c", client_ip="127.0.0.1", path="/p", outcome="ok", **{key: "v"})
    (record,) = [r for r in caplog.records if r.name == AUDIT_LOGGER]
    assert getattr(record, f"detail_{key}") == "v"
    assert record.name == AUDIT_LOGGER
