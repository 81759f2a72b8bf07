"""The kinds of text a window can say, in one place: the indexer writes them, the search filters check
them, and the CLI, the API and the web page list them. A module of its own so that listing them imports
nothing else (the CLI's help is built before any storage code loads)."""

from __future__ import annotations

from typing import Literal, get_args

# Every kind of text, in the order people are shown them.
TextKindName = Literal["speech", "ocr", "subtitle", "caption", "annotation", "name", "objects", "description"]
TEXT_KINDS: tuple[str, ...] = get_args(TextKindName)
# What a result can match: a kind of text, or the picture itself (frame vectors under an image-text
# model). The API validates its `kind` parameter against this type.
KindName = Literal["speech", "ocr", "subtitle", "caption", "annotation", "name", "objects", "description", "visual"]
MATCH_KINDS: tuple[str, ...] = get_args(KindName)
VISUAL = "visual"


class TextKind:
    CAPTION = "caption"
    SPEECH = "speech"
    OCR = "ocr"
    SUBTITLE = "subtitle"
    ANNOTATION = "annotation"  # imported timestamped descriptions
    NAME = "name"  # the video's file name and folders, on its first window: "bunny" finds bunny.mp4
    OBJECTS = "objects"  # what the frames show, as words: "cat, Egyptian cat, tabby; coffee, espresso"
    # The whole video described (written from its window texts, citing their times), on its first window.
    DESCRIPTION = "description"
