"""Search filters that can never match are refused with a reason, before any SQL runs."""

from datetime import datetime

import pytest

from vidsearch.errors import InvalidQueryError
from vidsearch.kinds import TEXT_KINDS, TextKind
from vidsearch.storage.filters import SearchFilters


@pytest.mark.parametrize(
    "filters,reason",
    [
        (SearchFilters(kinds=("speech", "video")), "unknown kind of text 'video': the kinds are speech, ocr, subtitle"),
        (SearchFilters(min_duration=-5), "the minimum duration is negative"),
    ],
)
def test_filters_no_library_can_match_are_refused(filters, reason):
    with pytest.raises(InvalidQueryError) as caught:
        filters.check()
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "filters,reason",
    [
        (
            SearchFilters(recorded_after=datetime(2024, 1, 1), recorded_before=datetime(2023, 1, 1)),
            "recorded on or after 2024-01-01 and before 2023-01-01: that range is empty",
        ),
        (
            SearchFilters(modified_after=datetime(2024, 1, 1, 12), modified_before=datetime(2024, 1, 1, 12)),
            "modified on or after 2024-01-01T12:00:00 and before 2024-01-01T12:00:00: that range is empty",
        ),
        (
            SearchFilters(min_duration=60, max_duration=30),
            "the minimum duration (60 s) is more than the maximum (30 s)",
        ),
    ],
)
def test_filters_that_exclude_each_other_are_named(filters, reason):
    filters.check()  # each is fine alone
    assert filters.contradiction() == reason


def test_every_known_kind_and_sensible_ranges_pass():
    filters = SearchFilters(
        kinds=TEXT_KINDS,
        tags=("farm",),
        recorded_after=datetime(2020, 1, 1),
        recorded_before=datetime(2020, 1, 2),
        min_duration=0,
        max_duration=0,
    )
    filters.check()
    assert filters.contradiction() is None
    SearchFilters().check()


def test_the_kinds_are_listed_once():
    assert set(TEXT_KINDS) == {v for k, v in vars(TextKind).items() if k.isupper()}


def test_each_filter_alone_says_what_an_empty_match_means():
    filters = SearchFilters(path_prefix="/lib/x/", tags=("a", "b"), kinds=("ocr",), min_duration=60)
    assert [(reason, alone.describe()) for reason, alone in filters.each()] == [
        ("no video path starts with /lib/x/", {"path_prefix": "/lib/x/"}),
        ("no window is tagged 'a'", {"tags": ["a"]}),
        ("no window is tagged 'b'", {"tags": ["b"]}),
        ("no ocr text is indexed", {"kinds": ["ocr"]}),
        ("no video is at least 60 s long", {"min_duration": 60}),
    ]
