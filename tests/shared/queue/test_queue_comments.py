from __future__ import annotations

import pytest

from shared.queue.errors import InvalidInput
from shared.queue.queue import clean_comment


@pytest.mark.parametrize(
    "hidden",
    ["\u061c", "\u200b", "\u200d", "\ufeff", "\u180e", "\U000e0041\U000e007f", "\u2066", "\u3164"],
)
def test_clean_comment_invisible_characters_dropped(hidden: str) -> None:
    assert clean_comment(f"go{hidden}od song", 500) == "good song"


@pytest.mark.parametrize(
    "text",
    ["\u200b\u200d\ufeff", "\u061c \u180e", "\U000e0068\U000e0069", " \u2800 ", "\u0301" * 200],
)
def test_clean_comment_only_invisible_or_marks_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        clean_comment(text, 500)


def test_clean_comment_stacked_marks_capped() -> None:
    assert clean_comment("q" + "\u0303" * 200, 500) == "q" + "\u0303" * 4


def test_clean_comment_accents_and_emoji_kept() -> None:
    assert clean_comment("Café ñ 🎶 ệ", 500) == "Café ñ 🎶 ệ"
