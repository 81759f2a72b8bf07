"""A small demo library made from sample photos that ship with scikit-image, with narration,
burnt-in titles and soft subtitles. Each fact lives in one modality only (said, shown or subtitled),
so a search that finds it proves that signal works."""

from __future__ import annotations

import logging
from pathlib import Path

from vidsearch.media.synthesize import Scene, SceneSpan, make_video, write_truth

log = logging.getLogger(__name__)

DEMO_LIBRARY: dict[str, list[Scene]] = {
    "space/launch_day.mp4": [
        Scene(
            "rocket",
            12,
            title="LAUNCH PAD 39A",
            narration="The rocket stands fuelled on the pad while engineers run the final checks.",
        ),
        Scene(
            "astronaut",
            12,
            narration="The commander smiles for her official portrait before the flight.",
            subtitle="Weather officers report clear skies over the coast",
        ),
        Scene(
            "hubble_deep_field",
            12,
            title="DEEP FIELD",
            narration="Thousands of distant galaxies fill this small patch of the night sky.",
        ),
    ],
    "city/council_meeting.mp4": [
        Scene(
            "camera",
            12,
            narration="Good evening. The council met tonight to discuss the city budget.",
            subtitle="The orchestra tunes its instruments before the concert",
        ),
        Scene("page", 12, narration="Spending on public transport will rise by ten percent next year."),
        Scene(
            "coins",
            12,
            title="HARBOR BRIDGE CLOSED",
            narration="Residents lined up to ask questions after the session.",
        ),
    ],
    "home/kitchen.mp4": [
        Scene(
            "coffee",
            12,
            title="MORNING ROUTINE",
            narration="A cup of coffee steams on the table next to a silver spoon.",
        ),
        Scene(
            "chelsea",
            12,
            narration="The tabby cat watches the birds from the window sill.",
            subtitle="Grandma's apple pie recipe uses cinnamon and brown sugar",
        ),
    ],
}


def build_demo_library(folder: Path) -> dict[str, list[SceneSpan]]:
    """Write the demo videos (and a .truth.json beside each) unless they are already there."""
    built: dict[str, list[SceneSpan]] = {}
    for name, scenes in DEMO_LIBRARY.items():
        out = folder / name
        spans = []
        t = 0.0
        for scene in scenes:
            spans.append(SceneSpan(t, t + scene.seconds, scene))
            t += scene.seconds
        if not out.exists():
            log.info("making demo video %s", out)
            spans = make_video(scenes, out)
            write_truth(spans, out.with_suffix(".truth.json"))
        built[name] = spans
    return built
