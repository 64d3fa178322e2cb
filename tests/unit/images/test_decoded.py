"""clipvec.images.decoded: the header size check and EXIF orientation every decoder applies."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from clipvec.errors import DecodeError, ImageTooLarge
from clipvec.images.decoded import ORIENTATION, check_size, upright


def test_check_size() -> None:
    check_size(100, 100, 10_000, "PNG")  # exactly the limit is fine
    with pytest.raises(ImageTooLarge) as info:
        check_size(100, 101, 10_000, "PNG")
    assert info.value.detail == "PNG image is 100x101 = 0.0 megapixels, more than the 0.01 megapixel limit"
    with pytest.raises(DecodeError) as info:
        check_size(0, 5, 10_000, "BMP")
    assert type(info.value) is DecodeError
    assert info.value.detail == "malformed BMP file: the header says 0x5 pixels"


def test_upright_turns_and_reports_the_displayed_size() -> None:
    image = Image.fromarray(np.arange(6, dtype=np.uint8).reshape(2, 3))  # 3 wide, 2 high
    for orientation in range(1, 9):
        turned, width, height = upright(image, orientation, 3, 2)
        assert (width, height) == turned.size == ((2, 3) if orientation >= 5 else (3, 2))
    assert upright(image, 1, 3, 2)[0] is image
    assert upright(image, 99, 3, 2)[0] is image  # unknown values are ignored
    # 6: the camera was turned clockwise; top-left of the stored image ends top-right
    assert np.asarray(upright(image, 6, 3, 2)[0])[0].tolist() == [3, 0]
    assert set(ORIENTATION) == set(range(2, 9))
