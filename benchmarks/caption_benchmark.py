"""Captioning throughput of the video language model adapters (not a test: prints figures, writes JSON).

    .venv/bin/python benchmarks/caption_benchmark.py --model tiny            # CPU, tiny random weights
    .venv/bin/python benchmarks/caption_benchmark.py --model idefics3-2.2b   # GPU, SmolVLM-2.2B size, random weights
    .venv/bin/python benchmarks/caption_benchmark.py --model apollo --snapshot /models/Apollo-3B-t32   # GPU
    .venv-apollo/bin/python benchmarks/caption_benchmark.py --model tiny-apollo   # Apollo's code path, tiny random
    .venv-apollo/bin/python benchmarks/caption_benchmark.py --model apollo-1.5b-shape   # GPU, Apollo-1.5B size
(the Apollo ones run in Apollo's own environment: scripts/setup.sh --apollo)

Random-weight models generate a fixed number of tokens (end-of-turn disabled), so the figure is the
cost of the architecture at that size, not of what a trained model chooses to say. Reports windows per
second and video seconds captioned per second of the captioning stage (GPU seconds on a GPU)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.models.tiny_vlm

import torch

from vidsearch.config import Settings
from vidsearch.media.frames import iter_window_frames, open_frames, sample_grid
from vidsearch.media.probe import probe
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.media.windows import plan_windows
from vidsearch.models.apollo import load_apollo
from vidsearch.models.base import WindowClip
from vidsearch.models.hf_video import load_transformers_video_lm

PHOTOS = ["rocket", "astronaut", "coffee", "chelsea", "camera", "coins", "hubble_deep_field", "page"]


def build_real_size_idefics3(folder: Path) -> Path:
    """SmolVLM-Instruct (2.2B) dimensions with random weights: Llama 2048x24 text, SigLIP-SO400M vision."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor

    from tests.models.tiny_vlm import build_tiny_vlm

    build_tiny_vlm(folder)  # tokenizer, processor and chat template
    processor = Idefics3Processor.from_pretrained(folder)
    processor.image_processor.size = {"longest_edge": 384}
    processor.image_processor.max_image_size = {"longest_edge": 384}
    processor.image_seq_len = 81
    tokenizer = processor.tokenizer
    config = Idefics3Config(
        text_config={
            "model_type": "llama",
            "vocab_size": len(tokenizer),
            "hidden_size": 2048,
            "intermediate_size": 8192,
            "num_hidden_layers": 24,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 1152,
            "intermediate_size": 4304,
            "num_hidden_layers": 27,
            "num_attention_heads": 16,
            "image_size": 384,
            "patch_size": 14,
        },
        scale_factor=3,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )
    model = Idefics3ForConditionalGeneration(config)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", choices=["tiny", "idefics3-2.2b", "apollo", "tiny-apollo", "apollo-1.5b-shape"], default="tiny"
    )
    parser.add_argument("--snapshot", help="Apollo snapshot folder (for --model apollo)")
    parser.add_argument("--windows", type=int, default=12)
    parser.add_argument("--window-seconds", type=float, default=10.0)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/caption_benchmark.json"))
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    settings = Settings(
        device="cuda" if cuda else "cpu",
        captioner_allow_cpu=True,
        caption_batch_size=args.batch_size,
        caption_max_new_tokens=args.new_tokens,
        caption_max_frames=8,
    )
    work = Path(tempfile.mkdtemp(prefix="vidsearch-caption-bench-"))
    if args.model == "apollo":
        if not args.snapshot:
            sys.exit("--model apollo needs --snapshot PATH (Apollo's code and weights exist only as snapshots)")
        model = load_apollo(args.snapshot, settings)
    elif args.model in ("tiny-apollo", "apollo-1.5b-shape"):
        from tests.models.tiny_apollo import APOLLO_1_5B_SHAPE, TINY_SHAPE, build_tiny_apollo

        shape = TINY_SHAPE if args.model == "tiny-apollo" else APOLLO_1_5B_SHAPE
        model = load_apollo(str(build_tiny_apollo(work / args.model, shape=shape)), settings)
        llm = model.model.llm
        llm.generation_config.eos_token_id = None  # random weights: always generate new_tokens
        llm.generation_config.min_new_tokens = args.new_tokens
    else:
        from tests.models.tiny_vlm import build_tiny_vlm

        folder = build_tiny_vlm(work / "tiny") if args.model == "tiny" else build_real_size_idefics3(work / "real")
        model = load_transformers_video_lm(str(folder), settings)
        model.model.generation_config.eos_token_id = None  # random weights: always generate new_tokens
        model.model.generation_config.min_new_tokens = args.new_tokens

    video = Path("benchmarks/results") / f"caption_{args.windows}x{args.window_seconds:g}.mp4"
    if not video.exists():
        scenes = [Scene(PHOTOS[i % len(PHOTOS)], args.window_seconds, title=f"SCENE {i}") for i in range(args.windows)]
        make_video(scenes, video, size=(1280, 720), audio=False)
    info = probe(video)
    windows = plan_windows(info.duration, args.window_seconds, args.window_seconds)
    source = open_frames(video, info, settings.caption_max_side)
    clips = [
        WindowClip(video, w, f)
        for w, f in iter_window_frames(source.iter_frames(sample_grid(info.duration, model.sample_fps)), windows)
    ]

    model.caption(clips[: args.batch_size])  # warm-up: kernels, caches
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    captions = model.caption(clips)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    video_seconds = sum(c.window.duration for c in clips)
    result = {
        "model": args.model,
        "model_id": model.spec.model_id,
        "random_weights": args.model != "apollo",
        "transformers": __import__("transformers").__version__,
        "device": torch.cuda.get_device_name(0) if cuda else f"CPU x{os.cpu_count()} ({platform.machine()})",
        "windows": len(clips),
        "window_seconds": args.window_seconds,
        "frames_per_window": round(sum(len(c.frames) for c in clips) / len(clips), 1),
        "new_tokens_per_window": args.new_tokens,
        "batch_size": args.batch_size,
        "caption_seconds": round(seconds, 3),
        "windows_per_second": round(len(clips) / seconds, 3),
        "video_seconds_per_second": round(video_seconds / seconds, 2),
        "failed_windows": sum(1 for c in captions if c.error),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
