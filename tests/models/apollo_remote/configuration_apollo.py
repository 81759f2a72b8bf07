"""TEST MODEL (remote code of a tiny Apollo-shaped snapshot; see tests/models/tiny_apollo.py)."""

from transformers import PretrainedConfig


class ApolloConfig(PretrainedConfig):
    model_type = "apollo"

    def __init__(
        self,
        clip_duration: float = 2,
        frames_per_clip: int = 4,
        model_max_length: int = 2048,
        mm_connector_cfg: dict | None = None,
        encode_batch_size: int = 15,
        use_mm_start_end: bool = False,
        **kwargs,
    ) -> None:
        self.clip_duration = clip_duration
        self.frames_per_clip = frames_per_clip
        self.model_max_length = model_max_length
        self.mm_connector_cfg = mm_connector_cfg or {"num_output_tokens": 4}
        self.encode_batch_size = encode_batch_size
        self.use_mm_start_end = use_mm_start_end
        super().__init__(**kwargs)
