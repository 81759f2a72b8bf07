"""On-screen text with RapidOCR (PP-OCR detection + recognition, ONNX); its models ship in the package."""

from __future__ import annotations

import importlib.metadata
import logging

import numpy as np

from vidsearch.config import Settings
from vidsearch.models.base import ModelSpec, TextLine, text_readers
from vidsearch.models.device import cpu_threads

log = logging.getLogger(__name__)


class RapidOCRReader:
    def __init__(self, *, min_score: float = 0.6, detect_side: int = 640, threads: int = 0) -> None:
        from rapidocr import RapidOCR

        n = cpu_threads(threads)
        self._engine = RapidOCR(
            params={
                "Global.log_level": "error",
                "EngineConfig.onnxruntime.intra_op_num_threads": n,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                "Det.limit_type": "max",
                "Det.limit_side_len": detect_side,
            }
        )
        self.min_score = min_score
        det, rec = self._engine.cfg.Det, self._engine.cfg.Rec
        self.spec = ModelSpec(
            kind="ocr",
            name="rapidocr",
            model_id=f"PP-OCR {det.ocr_version.value} det/rec {det.model_type.value}",
            revision=f"rapidocr=={importlib.metadata.version('rapidocr')}",
            settings={"min_score": min_score, "detect_side": detect_side, "lang": str(rec.lang_type.value)},
        )

    def read(self, image: np.ndarray) -> list[TextLine]:
        from rapidocr.utils.output import RapidOCROutput

        result = self._engine(np.ascontiguousarray(image[..., ::-1]))  # RapidOCR expects BGR
        assert isinstance(result, RapidOCROutput)  # det + rec configured: the full-pipeline output
        txts, scores = result.txts or (), result.scores or ()
        return [
            TextLine(t.strip(), float(s))
            for t, s in zip(txts, scores, strict=True)
            if t.strip() and s >= self.min_score
        ]


@text_readers.register("rapidocr")
def _rapidocr(settings: Settings) -> RapidOCRReader:
    return RapidOCRReader(
        min_score=settings.ocr_min_score, detect_side=settings.ocr_detect_side, threads=settings.threads
    )
