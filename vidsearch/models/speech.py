"""Speech recognition with faster-whisper (CTranslate2). The default model is Whisper tiny.en from a
PyPI package; a local CTranslate2 folder or a model size / hub id works too."""

from __future__ import annotations

import logging
from pathlib import Path

from threadpoolctl import threadpool_limits

from vidsearch.config import Settings
from vidsearch.errors import DecodeError, ModelNotFoundError
from vidsearch.models.base import ModelSpec, SpokenWord, speech_recognizers
from vidsearch.models.device import cpu_threads, resolve_device, shared_threads
from vidsearch.models.resolve import PACKAGED_WHISPER, resolve

log = logging.getLogger(__name__)


class FasterWhisperRecognizer:
    def __init__(
        self,
        model: str = "",
        *,
        language: str = "en",
        device: str = "auto",
        compute_type: str = "int8",
        beam_size: int = 1,
        threads: int = 0,
    ) -> None:
        from faster_whisper import WhisperModel

        resolved = resolve(model, PACKAGED_WHISPER)
        device = resolve_device(device)
        self._threads = cpu_threads(threads)
        try:
            self._model = WhisperModel(
                resolved.location,
                device=device,
                compute_type=compute_type,
                cpu_threads=self._threads,
                local_files_only=resolved.is_local,
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelNotFoundError(f"cannot load Whisper model {resolved.location!r}: {exc}") from exc
        self.language = language or None
        self.beam_size = beam_size
        self.spec = ModelSpec(
            kind="speech",
            name="faster-whisper",
            model_id=resolved.model_id,
            revision=resolved.revision,
            settings={"language": language, "compute_type": compute_type, "beam_size": beam_size, "vad_filter": True},
        )

    def transcribe(self, path: Path) -> list[SpokenWord]:
        # The audio features are computed with numpy, whose BLAS and OpenMP pools would otherwise take
        # every core (or one, under Ray, which sets OMP_NUM_THREADS): held to the model's own thread
        # count, a file's words are the same whichever runner or process indexes it, and speech keeps
        # to its share of the cores.
        with threadpool_limits(self._threads):
            return self._transcribe(path)

    def _transcribe(self, path: Path) -> list[SpokenWord]:
        try:
            # VAD skips silence, which is most of the time saved on real footage.
            segments, _ = self._model.transcribe(
                str(path),
                language=self.language,
                beam_size=self.beam_size,
                word_timestamps=True,
                vad_filter=True,
                condition_on_previous_text=False,
            )
            words = [
                SpokenWord(float(w.start), float(w.end), w.word.strip())
                for segment in segments
                for w in (segment.words or [])
                if w.word.strip()
            ]
        except (ValueError, RuntimeError, OSError) as exc:
            raise DecodeError(path, f"audio cannot be transcribed: {exc}") from exc
        except Exception as exc:  # PyAV errors inside faster-whisper's decoder
            if type(exc).__module__.startswith("av"):
                raise DecodeError(path, f"audio cannot be decoded: {exc}") from exc
            raise
        return words


@speech_recognizers.register("faster-whisper")
def _faster_whisper(settings: Settings) -> FasterWhisperRecognizer:
    return FasterWhisperRecognizer(
        settings.speech_model,
        language=settings.speech_language,
        device=settings.device,
        compute_type=settings.speech_compute_type,
        beam_size=settings.speech_beam_size,
        # Speech runs beside the frames' readers while indexing: half the cores (one thread on 2).
        threads=shared_threads(settings.threads),
    )
