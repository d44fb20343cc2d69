"""Images to model input: decode, central square crop, bilinear resize, float32 NCHW in [0, 255].

The ImageNet MobileNet checkpoints want RGB in [0, 255] (their normalisation is inside the graph),
a central 87.5 % square crop and a bilinear resize to their input size; models made by `train`
take one grey channel and carry their own input shape and crop in the symbol (see model.py).

A picture is refused before it is decoded when it has more than MAX_PIXELS pixels (the
ECSDL_MAX_IMAGE_PIXELS setting): its header says its size, and a PNG of 20,000 x 20,000 blank
pixels is a few hundred KB that decodes to 400 MB (1.2 GB as RGB).
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from ecsdl import EcsdlError

DEFAULT_CROP = 0.875
# The most pixels decode() decodes: 8192 x 6144 (48 Mi pixels; a 50-megapixel camera's 8160 x
# 6120 fits). Pillow's own limit (Image.MAX_IMAGE_PIXELS, 89.5 M) only warns up to twice itself,
# 179 M pixels: 537 MB as RGB, and to_array makes up to four copies of an RGBA picture. At 48 Mi
# pixels they stay under about 1 GB (measured: 0.99 GB for RGBA, half that for RGB), inside the
# predict task's hard memory limit (roles/task_definitions, 2 GiB) with MXNet and the model.
# Pillow's DecompressionBombWarning is an error here too, so a setting above Pillow's limit is
# held to Pillow's.
MAX_PIXELS = 8192 * 6144
PIXELS_SETTING = "ECSDL_MAX_IMAGE_PIXELS"


class ImageError(EcsdlError):
    """Bytes that are not an image Pillow can decode."""


def max_pixels() -> int:
    """The most pixels decode() decodes: ECSDL_MAX_IMAGE_PIXELS, else MAX_PIXELS."""
    text = os.environ.get(PIXELS_SETTING, "").strip()
    if not text:
        return MAX_PIXELS
    if not text.isdigit() or int(text) == 0:
        raise ImageError(f"{PIXELS_SETTING}={text!r}: not a positive whole number of pixels")
    return int(text)


def _too_many_pixels(name: str, pixels: int, size: str, limit: int) -> ImageError:
    return ImageError(
        f"{name}: {pixels:,} pixels{size}, more than the {limit:,} allowed ({PIXELS_SETTING}); "
        "refused before decoding"
    )


def decode(data: bytes, name: str = "image", limit: int | None = None) -> Image.Image:
    """Decode `data` (PNG, JPEG, ...) into a Pillow image; ImageError with one line when it is
    not one, or when its header gives it more than `limit` pixels (default max_pixels()):
    refused before its pixels are decoded."""
    limit = max_pixels() if limit is None else limit
    width = height = 0
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it: that is an error here
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
            width, height = image.size
            if width * height > limit:
                raise _too_many_pixels(name, width * height, f" ({width} x {height})", limit)
            image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else width * height
        pillow_limit = Image.MAX_IMAGE_PIXELS or limit
        raise _too_many_pixels(name, pixels, "", min(limit, pillow_limit)) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        detail = "not an image Pillow can read" if isinstance(exc, UnidentifiedImageError) else exc
        raise ImageError(f"{name}: cannot decode ({detail})") from None
    return image


def crop_box(width: int, height: int, fraction: float = DEFAULT_CROP) -> tuple[int, int, int, int]:
    """The central square of side `fraction` x the shorter side, rounded down, as (left, top,
    right, bottom): the crop the TFLite models' reference harness makes (int(side * 0.875)), so
    an imported model sees the pixels the TFLite runtime saw."""
    if not 0 < fraction <= 1:
        raise ValueError(f"crop fraction must be in (0, 1], got {fraction}")
    # the epsilon keeps 0.29 * 100 (28.999999999999996) at 29
    side = max(1, math.floor(min(width, height) * fraction + 1e-9))
    left = (width - side) // 2
    top = (height - side) // 2
    return left, top, left + side, top + side


def to_array(
    image: Image.Image, size: int | tuple[int, int], channels: int = 3, crop: float = DEFAULT_CROP
) -> np.ndarray:
    """One image as float32 (channels, height, width), values in [0, 255] (RGB or grey)."""
    if channels not in (1, 3):
        raise ValueError(f"models with {channels} input channels are not supported (1 or 3)")
    height, width = (size, size) if isinstance(size, int) else size
    mode = "RGB" if channels == 3 else "L"
    if image.mode in ("RGBA", "LA", "P") and mode == "RGB":
        # transparent pixels become white rather than whatever colour they hide
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert(mode)
    image = image.crop(crop_box(image.width, image.height, crop))
    image = image.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.float32)
    if channels == 1:
        return array[np.newaxis, :, :]
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def batch(arrays: list[np.ndarray]) -> np.ndarray:
    """Stack (C, H, W) arrays into one float32 NCHW batch."""
    if not arrays:
        raise ValueError("no images to batch")
    return np.stack(arrays).astype(np.float32, copy=False)
