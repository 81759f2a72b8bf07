"""Pictures people give to search by: decoded safely (Pillow, with a pixel limit against decompression
bombs, one frame of an animation, EXIF orientation applied) and scaled down to what the models look at."""

from __future__ import annotations

import io
import warnings

import numpy as np

from vidsearch.errors import InvalidQueryError

# What a search looks at: the models take 224-448 px; anything larger costs decoding time only.
MAX_SIDE = 1024
# Pillow refuses pictures over twice this many pixels as bombs; beyond it we refuse first, with a reason.
MAX_PIXELS = 40_000_000
_TOO_LARGE = f"more than {MAX_PIXELS // 1_000_000} million pixels"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff")


def decode_image(data: bytes, name: str = "the image") -> np.ndarray:
    """An RGB array (H, W, 3 uint8) no larger than MAX_SIDE, or InvalidQueryError naming what is wrong."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise InvalidQueryError(f"{name} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                width, height = probe.size
                if width * height > MAX_PIXELS:
                    raise InvalidQueryError(f"{name} is {width}x{height} pixels: {_TOO_LARGE}")
                probe.verify()  # structure and checksums, before any pixel is decoded
            with Image.open(io.BytesIO(data)) as picture:
                picture.seek(0)
                picture.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG decodes at a reduced scale directly
                upright = ImageOps.exif_transpose(picture)
                upright = upright.convert("RGB")
                upright.thumbnail((MAX_SIDE, MAX_SIDE))
                return np.asarray(upright, dtype=np.uint8).copy()
    except InvalidQueryError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # refused by Pillow first
        raise InvalidQueryError(f"{name} is too large a picture: {_TOO_LARGE}") from exc
    except UnidentifiedImageError as exc:
        raise InvalidQueryError(f"{name} is not a picture vidsearch can read ({type(exc).__name__})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidQueryError(f"{name} is damaged or truncated: {exc}") from exc
