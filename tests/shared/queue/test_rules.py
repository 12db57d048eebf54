from __future__ import annotations

from dataclasses import fields

from shared.queue.queue import DEFAULT_RULES, QueueRules
from shared.settings import AndreSettings


def test_queue_rules_defaults_are_the_settings_defaults() -> None:
    assert (
        DEFAULT_RULES == QueueRules() == QueueRules.from_settings(AndreSettings.model_construct())
    )


def test_queue_rules_from_settings_reads_every_setting_it_names() -> None:
    settings = AndreSettings.model_construct(
        queue_max_len=7,
        events_max_len=300,
        comment_max_chars=9,
        airhorn_max_per_window=1,
        airhorn_window_s=2,
        airhorn_free_jams=4,
        airhorn_free_max=6,
        bender_filter_s=120,
        moderation_skip_votes=0,
        moderation_remove_votes=8,
        moderation_vote_ttl_s=61,
        moderation_pause="admins",
    )

    rules = QueueRules.from_settings(settings)

    changed = {
        f.name
        for f in fields(QueueRules)
        if getattr(rules, f.name) != getattr(DEFAULT_RULES, f.name)
    }
    assert changed == {
        "max_len",
        "events_max_len",
        "comment_max_chars",
        "airhorn_max_per_window",
        "airhorn_window_s",
        "airhorn_free_jams",
        "airhorn_free_max",
        "bender_filter_s",
        "skip_votes",
        "remove_votes",
        "vote_ttl_s",
        "pause_policy",
    }
    assert rules.bender_filter_s == 120 and rules.pause_policy == "admins"
