"""Cost per frame of the image-text embedders (not a test: prints figures, writes JSON).

    .venv/bin/python benchmarks/image_text_benchmark.py --family clip --runtime onnx --batch 8 --threads 2
    .venv/bin/python benchmarks/image_text_benchmark.py --family siglip --runtime torch --batch 1 --threads 2
    .venv/bin/python benchmarks/image_text_benchmark.py --family clip --setup-only   # build and export, then stop
    .venv/bin/python benchmarks/image_text_benchmark.py --family clip --once --frames 40  # one call, for outside timing

The models have RANDOM weights in the real architectures (openai/clip-vit-base-patch32: ViT-B/32 at
224 px, 512-d; google/siglip-base-patch16-224: ViT-B/16 at 224 px, 768-d), built once into --workdir and
loaded through the adapter's own loading code, so a frame costs what it costs with the trained weights.
Frames are 960x540 RGB (the size frames are decoded at for on-screen text), and the timed call is the
adapter's `embed_images`: the model's own image processor plus the image tower. Also timed: the
processor alone, and one query through `embed_texts` (a search's share). Medians of --repeats calls
after one warm-up call; "x realtime" is video seconds per second of work at one frame per second.

With --precision int8 it also reports the cosine of each frame's int8 vector to its exact one. On
random weights that says little about trained ones (their weights have outliers that 8-bit scales
handle worse), so it is shown, not used to pick a default."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.models.tiny_image_text

import numpy as np

from tests.models.tiny_image_text import build_clip, build_siglip
from vidsearch.models.image_text import TransformersImageTextEmbedder

PHOTOS = ["rocket", "astronaut", "coffee", "chelsea", "camera", "coins", "hubble_deep_field", "page"]
QUERY = "a red car parked on a street at night"


def frames(count: int, width: int = 960, height: int = 540) -> list[np.ndarray]:
    import skimage.data
    from PIL import Image

    out = []
    for i in range(count):
        image = np.asarray(getattr(skimage.data, PHOTOS[i % len(PHOTOS)])())
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        picture = Image.fromarray(image[..., :3].astype(np.uint8)).resize((width, height))
        out.append(np.asarray(picture))
    return out


def model_folder(family: str, workdir: Path) -> Path:
    folder = workdir / f"{family}-real-size"
    if not (folder / "config.json").exists():
        started = time.perf_counter()
        (build_clip if family == "clip" else build_siglip)(folder, real_size=True)
        print(f"built a random-weight {family} of the real size in {time.perf_counter() - started:.1f} s: {folder}")
    return folder


def median_seconds(call, repeats: int) -> float:
    return median_wall_and_cpu(call, repeats)[0]


def median_wall_and_cpu(call, repeats: int) -> tuple[float, float]:
    """Medians of wall and process CPU seconds a call. On a shared machine CPU seconds move less than
    wall seconds (waiting for a core costs wall time only), though idle threads that spin still count."""
    call()  # warm-up: first-call allocations, lazy initialisation
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", choices=["clip", "siglip"], default="clip")
    parser.add_argument("--runtime", choices=["torch", "onnx"], default="onnx")
    parser.add_argument("--precision", choices=["fp32", "int8"], default="fp32")
    parser.add_argument("--batch", type=int, default=8, help="frames per model call")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=16, help="frames per timed call (a multiple of --batch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vidsearch-image-text-bench")
    parser.add_argument("--setup-only", action="store_true", help="build the model and its ONNX export, then stop")
    parser.add_argument(
        "--once",
        action="store_true",
        help="load, embed --frames frames in one call and stop (for timing whole processes: the difference "
        "between two frame counts is the cost of the frames between them)",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)  # the torch runtime's threads; ONNX Runtime's are the adapter's
    folder = model_folder(args.family, args.workdir)
    started = time.perf_counter()
    model = TransformersImageTextEmbedder(
        str(folder),
        family=args.family,
        device="cpu",
        runtime=args.runtime,
        onnx_dir=args.workdir / "onnx",
        batch_size=args.batch,
        threads=args.threads,
        precision=args.precision,
    )
    load_seconds = time.perf_counter() - started
    if args.setup_only:
        print(f"loaded (and exported where needed) in {load_seconds:.1f} s")
        return

    images = frames(args.frames)
    if args.once:
        model.embed_images(images)
        return
    per_call, cpu_per_call = median_wall_and_cpu(lambda: model.embed_images(images), args.repeats)
    per_frame = per_call / len(images)
    processor = model._image_processor
    preprocess = median_seconds(
        lambda: [
            processor(images=images[i : i + args.batch], return_tensors="np") for i in range(0, len(images), args.batch)
        ],
        args.repeats,
    ) / len(images)
    query, query_cpu = median_wall_and_cpu(lambda: model.embed_texts([QUERY]), max(args.repeats, 10))
    result = {
        "family": args.family,
        "model": "openai/clip-vit-base-patch32" if args.family == "clip" else "google/siglip-base-patch16-224",
        "weights": "random, real architecture",
        "runtime": args.runtime,
        "precision": args.precision,
        "batch": args.batch,
        "threads": args.threads,
        "frame_size": [960, 540],
        "frames_per_call": len(images),
        "ms_per_frame": round(per_frame * 1000, 2),
        "cpu_ms_per_frame": round(cpu_per_call / len(images) * 1000, 2),
        "load_average_1min": os.getloadavg()[0],
        "ms_preprocess_per_frame": round(preprocess * 1000, 2),
        "x_realtime_at_1fps": round(1.0 / per_frame, 2),
        "ms_per_query_text": round(query * 1000, 2),
        "cpu_ms_per_query_text": round(query_cpu * 1000, 2),
        "load_seconds": round(load_seconds, 2),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.precision == "int8":
        exact = TransformersImageTextEmbedder(
            str(folder), family=args.family, device="cpu", runtime="onnx", onnx_dir=args.workdir / "onnx"
        )
        sample = images[: args.batch]
        cosine = np.sum(model.embed_images(sample) * exact.embed_images(sample), axis=1)
        texts = [QUERY, "a photo of a cat", "two people talking at a table"]
        text_cosine = np.sum(model.embed_texts(texts) * exact.embed_texts(texts), axis=1)
        result["min_cosine_to_fp32_images"] = round(float(cosine.min()), 5)
        result["min_cosine_to_fp32_texts"] = round(float(text_cosine.min()), 5)
    print(json.dumps(result, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"image_text-{args.family}-{args.runtime}-{args.precision}-b{args.batch}-t{args.threads}.json"
    (args.out / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
