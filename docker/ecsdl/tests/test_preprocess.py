from __future__ import annotations

import numpy as np
import pytest
from bombs import blank_png
from PIL import Image

from ecsdl.preprocess import (
    MAX_PIXELS,
    PIXELS_SETTING,
    ImageError,
    batch,
    crop_box,
    decode,
    max_pixels,
    to_array,
)


@pytest.mark.parametrize(
    ("width", "height", "fraction", "box"),
    [
        (100, 100, 0.875, (6, 6, 93, 93)),
        (451, 300, 0.875, (94, 19, 356, 281)),
        (640, 427, 0.875, (133, 27, 506, 400)),  # scikit-image's rocket: 373.625 -> 373
        (100, 100, 0.29, (35, 35, 64, 64)),
        (300, 451, 1.0, (0, 75, 300, 375)),
        (8, 8, 1.0, (0, 0, 8, 8)),
    ],
)
def test_crop_box_is_the_central_square(width, height, fraction, box):
    assert crop_box(width, height, fraction) == box


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5])
def test_crop_box_rejects_fractions_outside_0_1(fraction):
    with pytest.raises(ValueError):
        crop_box(10, 10, fraction)


@pytest.mark.parametrize(
    ("mode", "size", "channels", "shape"),
    [
        ("RGB", 160, 3, (3, 160, 160)),
        ("RGBA", 128, 3, (3, 128, 128)),
        ("L", 128, 3, (3, 128, 128)),
        ("P", 224, 3, (3, 224, 224)),
        ("RGB", 8, 1, (1, 8, 8)),
        ("RGB", (28, 20), 1, (1, 28, 20)),
    ],
)
def test_to_array_gives_float32_chw_in_0_255(mode, size, channels, shape):
    image = Image.new("RGB", (300, 200), (200, 100, 50)).convert(mode)
    array = to_array(image, size, channels)
    assert array.shape == shape
    assert array.dtype == np.float32
    assert 0.0 <= array.min() and array.max() <= 255.0


def test_to_array_keeps_rgb_order():
    array = to_array(Image.new("RGB", (50, 50), (255, 0, 0)), 16)
    assert array[0].mean() == pytest.approx(255)
    assert array[1].max() == 0 and array[2].max() == 0


def test_batch_stacks_nchw():
    arrays = [np.zeros((3, 8, 8), np.float32)] * 4
    assert batch(arrays).shape == (4, 3, 8, 8)


def test_decode_rejects_non_images_with_one_line():
    with pytest.raises(ImageError) as info:
        decode(b"not an image", "x.jpg")
    assert str(info.value) == "x.jpg: cannot decode (not an image Pillow can read)"
    assert "\n" not in str(info.value)


# -- decompression bombs: refused from their header, before their pixels are decoded --
@pytest.mark.parametrize(
    ("width", "height"),
    [
        (20_000, 20_000),  # 400 M pixels: over twice Pillow's limit
        (12_000, 12_000),  # 144 M: Pillow's limit to twice it, where Pillow only warns
        (8_192, 6_145),  # one row over this project's limit, under Pillow's
    ],
)
def test_a_decompression_bomb_is_refused_with_one_line(width, height, monkeypatch):
    monkeypatch.delenv(PIXELS_SETTING, raising=False)
    data = blank_png(width, height)
    assert len(data) < 500_000  # the attack: a small file
    with pytest.raises(ImageError) as info:
        decode(data, "bomb.png")
    pixels = width * height
    assert str(info.value) in (
        f"bomb.png: {pixels:,} pixels ({width} x {height}), more than the 50,331,648 allowed "
        "(ECSDL_MAX_IMAGE_PIXELS); refused before decoding",
        # Pillow refuses from twice its own limit in Image.open, before the size is known here
        f"bomb.png: {pixels:,} pixels, more than the 50,331,648 allowed "
        "(ECSDL_MAX_IMAGE_PIXELS); refused before decoding",
    )


def test_the_pixel_limit_is_8192_x_6144_and_a_setting(monkeypatch):
    monkeypatch.delenv(PIXELS_SETTING, raising=False)
    assert max_pixels() == MAX_PIXELS == 8192 * 6144 < Image.MAX_IMAGE_PIXELS
    monkeypatch.setenv(PIXELS_SETTING, "10000")
    assert decode(blank_png(100, 100)).size == (100, 100)
    with pytest.raises(
        ImageError, match=r"^x.png: 10,100 pixels \(100 x 101\), more than the 10,000"
    ):
        decode(blank_png(100, 101), "x.png")


@pytest.mark.parametrize("value", ["many", "0", "-1", "1e6"])
def test_a_bad_pixel_limit_is_one_line(monkeypatch, value):
    monkeypatch.setenv(PIXELS_SETTING, value)
    with pytest.raises(ImageError) as info:
        decode(blank_png(10, 10))
    assert (
        str(info.value)
        == f"ECSDL_MAX_IMAGE_PIXELS={value!r}: not a positive whole number of pixels"
    )


def test_pillows_warning_band_is_refused_even_with_a_higher_setting(monkeypatch):
    """A setting above Pillow's own limit is held to it: its DecompressionBombWarning is an
    error here, not a line on stderr while 144 M pixels are decoded."""
    monkeypatch.setenv(PIXELS_SETTING, str(200_000_000))
    with pytest.raises(ImageError) as info:
        decode(blank_png(12_000, 12_000), "bomb.png")
    assert str(info.value) == (
        f"bomb.png: 144,000,000 pixels, more than the {Image.MAX_IMAGE_PIXELS:,} allowed "
        "(ECSDL_MAX_IMAGE_PIXELS); refused before decoding"
    )
