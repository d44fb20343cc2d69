from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ecsdl.preprocess import ImageError, batch, crop_box, decode, to_array


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
