"""Fixtures shared by the indexer's tests."""

from pathlib import Path

import pytest

from vidsearch.media.synthesize import Scene, make_video


@pytest.fixture(scope="session")
def two_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of synthesised video: a rocket under a title (0-4 s), then a cup of coffee (4-8 s); no sound."""
    path = tmp_path_factory.mktemp("two-scenes") / "two.mp4"
    make_video(
        [Scene("rocket", 4, title="LAUNCH DAY"), Scene("coffee", 4)],
        path,
        size=(960, 540),
        audio=False,
        subtitles=False,
    )
    return path
