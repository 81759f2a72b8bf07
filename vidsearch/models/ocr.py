"""On-screen text with RapidOCR (PP-OCR detection + recognition, ONNX); its models ship in the package.

The detector and the recogniser can be called apart (`detect`, `recognise`), so a video reader spends the
recogniser only on lines that are new (vidsearch/indexer/signals.py). The detector sees the frame scaled
to `detect_side` on its long side; the recogniser reads each line from the frame as given (960 px by
default), so smaller detection costs little accuracy. `may_hold_text` is a glance: the same detector on the
frame scaled to `glance_side` (320 px: under half the cost), saying whether any pixel looks like text at
all. PP-OCR's angle classifier (which turns lines read upside down) is off by default: text burnt into
video is upright."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from vidsearch.config import Settings
from vidsearch.models.base import ModelSpec, TextLine, TextRegion, text_readers
from vidsearch.models.device import shared_threads

log = logging.getLogger(__name__)


class RapidOCRReader:
    def __init__(
        self,
        *,
        min_score: float = 0.6,
        detect_side: int = 480,
        threads: int = 1,
        angle_classifier: bool = False,
        glance_side: int = 320,
    ) -> None:
        from rapidocr import RapidOCR

        self._engine = RapidOCR(
            params={
                "Global.log_level": "error",
                "Global.use_cls": angle_classifier,
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                "Det.limit_type": "max",
                "Det.limit_side_len": detect_side,
            }
        )
        self.min_score = min_score
        self.angle_classifier = angle_classifier
        self.glance_side = glance_side
        # Load the networks now (RapidOCR loads them on first use) and let their threads sleep when idle:
        # ONNX Runtime's spinning threads take CPU from the other signals running beside OCR.
        for load in (self._engine._load_det_model, self._engine._load_rec_model):
            _quiet_session(load().session, threads)
        if angle_classifier:
            _quiet_session(self._engine._load_cls_model().session, threads)
        det, rec = self._engine.cfg.Det, self._engine.cfg.Rec
        self.spec = ModelSpec(
            kind="ocr",
            name="rapidocr",
            model_id=f"PP-OCR {det.ocr_version.value} det/rec {det.model_type.value}",
            revision=f"rapidocr=={importlib.metadata.version('rapidocr')}",
            settings={
                "min_score": min_score,
                "detect_side": detect_side,
                "lang": str(rec.lang_type.value),
                "angle_classifier": angle_classifier,
                "glance_side": glance_side,
            },
        )

    def read(self, image: np.ndarray) -> list[TextLine]:
        """Every line read in one RGB frame (detection, then recognition of every line found)."""
        return [line for line in self.recognise(self.detect(image)) if line.text]

    def may_hold_text(self, image: np.ndarray) -> bool:
        """False when the detector, on the frame scaled to `glance_side`, sees no pixel of text (its
        probability map stays below the threshold it draws text regions at); True otherwise, or when
        glancing is off (`glance_side` 0)."""
        if not self.glance_side:
            return True
        from rapidocr.ch_ppocr_det.utils import DetPreProcess

        detector = self._engine._load_det_model()
        bgr = np.ascontiguousarray(image[..., ::-1])
        prepared = DetPreProcess(self.glance_side, "max", detector.mean, detector.std)(bgr)
        if prepared is None:
            return True
        return float(np.max(detector.session(prepared))) >= float(detector.postprocess_op.thresh)

    def detect(self, image: np.ndarray) -> list[TextRegion]:
        from rapidocr.main import RapidOCRError
        from rapidocr.utils.process_img import map_boxes_to_original

        bgr = np.ascontiguousarray(image[..., ::-1])  # RapidOCR expects BGR
        prepared, record = self._engine.preprocess_img(bgr)
        try:
            crops, found = self._engine.detect_and_crop(prepared, record)
        except RapidOCRError:  # nothing detected
            return []
        assert found.boxes is not None
        quads = map_boxes_to_original(found.boxes, record, *bgr.shape[:2])
        if prepared.shape[:2] != bgr.shape[:2] or any(v.get("top") or v.get("left") for v in record.values()):
            # Frames outside RapidOCR's bounds (30-2000 px) or very wide ones were resized or padded
            # before detection: crop from the frame as given instead.
            from rapidocr.utils.process_img import get_rotate_crop_image

            crops = [get_rotate_crop_image(bgr, quad.astype(np.float32).copy()) for quad in quads]
        return [TextRegion(np.asarray(quad, dtype=np.float32), crop) for quad, crop in zip(quads, crops, strict=True)]

    def recognise(self, regions: Sequence[TextRegion]) -> list[TextLine]:
        if not regions:
            return []
        crops = [region.crop for region in regions]
        if self.angle_classifier:
            crops, _ = self._engine.cls_and_rotate(crops)
        result = self._engine.recognize_txt(crops)
        txts, scores = result.txts or (), result.scores or ()
        return [
            TextLine(t.strip(), float(s)) if t.strip() and s >= self.min_score else TextLine("", float(s))
            for t, s in zip(txts, scores, strict=True)
        ]


def _quiet_session(infer: Any, threads: int) -> None:
    """Rebuild RapidOCR's ONNX Runtime session with its threads sleeping when idle (no spin-waiting).
    Left as it is if RapidOCR's session object is not the one expected."""
    import onnxruntime as ort

    session = getattr(infer, "session", None)
    path = getattr(session, "_model_path", None)
    if not isinstance(session, ort.InferenceSession) or not isinstance(path, str):
        log.info("RapidOCR's session is not an ONNX Runtime session: its thread settings are RapidOCR's")
        return
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.enable_cpu_mem_arena = False
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    infer.session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


@text_readers.register("rapidocr")
def _rapidocr(settings: Settings) -> RapidOCRReader:
    return RapidOCRReader(
        min_score=settings.ocr_min_score,
        detect_side=settings.ocr_detect_side,
        threads=shared_threads(settings.threads),
        angle_classifier=settings.ocr_angle_classifier,
        glance_side=settings.ocr_glance_side,
    )
