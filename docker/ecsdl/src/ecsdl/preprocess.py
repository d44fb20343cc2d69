"""Images to model input: decode, central square crop, bilinear resize, float32 NCHW in [0, 255].

The ImageNet MobileNet checkpoints want RGB in [0, 255] (their normalisation is inside the graph),
a central 87.5 % square crop and a bilinear resize to their input size; models made by `train`
take one grey channel and carry their own input shape and crop in the symbol (see model.py).
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, UnidentifiedImageError

from ecsdl import EcsdlError

DEFAULT_CROP = 0.875


class ImageError(EcsdlError):
    """Bytes that are not an image Pillow can decode."""


def decode(data: bytes, name: str = "image") -> Image.Image:
    """Decode `data` (PNG, JPEG, ...) into a Pillow image; ImageError when it is not one."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
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
