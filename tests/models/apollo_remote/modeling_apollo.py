"""TEST MODEL: remote code for a tiny, random-weight, Apollo-shaped snapshot, written for vidsearch's
tests (not Apollo's code). It reproduces the behaviour of Apollo's published remote code that matters
to an adapter, as observed against the real code (../shared/notes/apollo.md):
- it imports transformers internals (ContextManagers, no_init_weights) that only 4.43-4.44 have where
  this code expects them, and its model class has no config_class (4.45+ refuse it at load);
- its parts load from the snapshot's llm/, vision_tower/ and mm_connector/ folders, the LLM with
  low_cpu_mem_usage (which needs accelerate), and the vision tower prints on standard output;
- generate() pairs batch row i with vision_input[i], asserts that the row's -200 placeholders match
  that input's feature count, strips padding by the attention mask and re-pads the merged embeddings
  on the side named by llm.config.tokenizer_padding_side ("right" unless told otherwise);
- it generates from input embeddings, so the output holds only the new tokens."""

import json
import os

import numpy as np
import torch
from PIL import Image
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, SiglipImageProcessor, SiglipVisionModel
from transformers.modeling_utils import ContextManagers, no_init_weights

X_TOKEN_INDEX = -200


class VideoClipProcessor:
    """(T, H, W, 3) uint8 frames -> {"pixel_values": (3, T, size, size)}, ImageNet-normalised."""

    image_mean = (0.485, 0.456, 0.406)
    image_std = (0.229, 0.224, 0.225)

    def __init__(self, size: int) -> None:
        self.size = size

    def preprocess(self, images, return_tensors="pt"):
        frames = []
        for image in images:
            resized = Image.fromarray(np.asarray(image)).resize((self.size, self.size), Image.BICUBIC)
            pixels = np.asarray(resized, dtype=np.float32) / 255.0
            frames.append((pixels - np.array(self.image_mean)) / np.array(self.image_std))
        stacked = torch.from_numpy(np.stack(frames).astype(np.float32))  # (T, S, S, 3)
        return {"pixel_values": stacked.permute(3, 0, 1, 2)}


class VideoClipEncoder(nn.Module):
    """A 4-frame tubelet convolution: (clips, 3, 4, S, S) -> (clips, hidden)."""

    def __init__(self, hidden: int, patch: int, frames: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, hidden, kernel_size=(frames, patch, patch), stride=(frames, patch, patch))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.conv(pixels).flatten(2).mean(-1)


class ApolloVisionTower(nn.Module):
    def __init__(self, folder: str) -> None:
        super().__init__()
        siglip = os.path.join(folder, "siglip")
        video = os.path.join(folder, "internvideo2")
        print(f"loading: {siglip}")  # the published vision tower prints as it loads
        self.siglip = SiglipVisionModel.from_pretrained(siglip)
        print(f"loading: {video}")
        with open(os.path.join(video, "config.json")) as f:
            self.video_config = json.load(f)
        self.video = VideoClipEncoder(self.video_config["hidden_size"], self.video_config["patch_size"], 4)
        self.video.load_state_dict(torch.load(os.path.join(video, "weights.pt"), weights_only=True))
        self.vision_processor = [
            SiglipImageProcessor.from_pretrained(siglip),
            VideoClipProcessor(self.video_config["image_size"]),
        ]
        self.hidden_size = self.siglip.config.hidden_size + self.video_config["hidden_size"]

    def forward(self, siglip_pixels: torch.Tensor, video_pixels: torch.Tensor) -> torch.Tensor:
        clips, frames = siglip_pixels.shape[:2]
        per_frame = self.siglip(pixel_values=siglip_pixels.flatten(0, 1)).pooler_output
        per_clip = per_frame.view(clips, frames, -1).mean(1)
        return torch.cat([per_clip, self.video(video_pixels)], dim=-1)


class MMConnector(nn.Module):
    """Projects each clip's features to num_output_tokens embeddings of the LLM."""

    def __init__(self, in_features: int, hidden: int, num_tokens: int) -> None:
        super().__init__()
        self.num_tokens, self.hidden = num_tokens, hidden
        self.proj = nn.Linear(in_features, num_tokens * hidden)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.proj(features).view(-1, self.hidden)


class ApolloForCausalLM(PreTrainedModel):
    # No config_class, like the published class: transformers 4.45+ refuse to load it.
    _supports_sdpa = True
    _supports_flash_attn_2 = True

    def __init__(self, config, llm=None, vision_tower=None, mm_connector=None, tokenizer=None) -> None:
        super().__init__(config)
        self.llm, self.vision_tower, self.mm_connector, self.tokenizer = llm, vision_tower, mm_connector, tokenizer

    @classmethod
    def from_pretrained(cls, path, *args, config=None, low_cpu_mem_usage=False, attn_implementation=None, **kwargs):
        llm_path = os.path.join(path, "llm")
        llm = AutoModelForCausalLM.from_pretrained(
            llm_path, low_cpu_mem_usage=low_cpu_mem_usage, attn_implementation=attn_implementation
        )
        tokenizer = AutoTokenizer.from_pretrained(llm_path, use_fast=False)
        tower = ApolloVisionTower(os.path.join(path, "vision_tower"))
        with ContextManagers([no_init_weights(_enable=True)]):
            connector = MMConnector(
                tower.hidden_size, llm.config.hidden_size, config.mm_connector_cfg["num_output_tokens"]
            )
        connector.load_state_dict(torch.load(os.path.join(path, "mm_connector", "weights.pt"), weights_only=True))
        return cls(config, llm, tower, connector, tokenizer)

    def encode_video(self, video) -> torch.Tensor:
        siglip_pixels, video_pixels = video
        return self.mm_connector(self.vision_tower(siglip_pixels, video_pixels))

    def merge(self, input_ids, attention_mask, vision_input):
        embed = self.llm.get_input_embeddings()
        rows = []
        for i, ids in enumerate(input_ids):
            ids = ids[attention_mask[i].bool()]  # padding stripped; re-added below
            features = self.encode_video(vision_input[i]).to(embed.weight.dtype)
            slots = ids == X_TOKEN_INDEX
            message = "not the same number of vision tokens in and vision embeddings"
            assert int(slots.sum()) == features.shape[0], message
            row = embed(ids.clamp(min=0))
            row[slots] = features
            rows.append(row)
        width = max(len(r) for r in rows)
        side = getattr(self.llm.config, "tokenizer_padding_side", "right")
        embeds = torch.zeros(len(rows), width, rows[0].shape[-1], dtype=rows[0].dtype, device=rows[0].device)
        mask = torch.zeros(len(rows), width, dtype=torch.long, device=rows[0].device)
        for i, row in enumerate(rows):
            span = slice(width - len(row), width) if side == "left" else slice(0, len(row))
            embeds[i, span], mask[i, span] = row, 1
        return embeds, mask

    @torch.no_grad()
    def generate(self, input_ids, attention_mask=None, vision_input=None, data_types=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        assert data_types is not None and len(data_types) == len(vision_input)
        embeds, mask = self.merge(input_ids, attention_mask, vision_input)
        return self.llm.generate(inputs_embeds=embeds, attention_mask=mask, **kwargs)
