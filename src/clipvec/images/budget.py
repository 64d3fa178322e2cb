"""A pixel budget shared by the threads that decode images at once.

Decoded pixels, not file bytes, are what costs memory: a 97 KB PNG can hold 100
megapixels. Each decode takes its image's pixel count from the budget once the header is
read and gives it back when the caller is done with the image; big images then wait for
each other instead of all landing in memory together.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import threading
from collections.abc import Iterator

__all__ = ["PixelBudget", "Reservation", "take_pixels"]

_TRIM_PIXELS = 4_000_000  # give memory back to the OS after images this large


class PixelBudget:
    """Bounds how many pixels are being decoded at once, across threads.

    Sixteen concurrent 100-megapixel PNGs (97 KB each) would need ~5 GB at once; with a
    budget they are decoded a few at a time and the others wait (they are not refused).
    An image larger than the whole budget still runs, alone.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self.used = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def reservation(self) -> Iterator[Reservation]:
        """Pixels taken through the reservation are given back when the block ends."""
        held = Reservation(self)
        try:
            yield held
        finally:
            held.release()


class Reservation:
    """One image's share of a :class:`PixelBudget` (taken once its size is known)."""

    def __init__(self, budget: PixelBudget) -> None:
        self.budget = budget
        self.weight = 0

    def take(self, pixels: int) -> None:
        """Wait until ``pixels`` more (capped at the whole budget) fit, then hold them."""
        budget = self.budget
        extra = min(int(pixels), budget.limit) - self.weight
        if extra <= 0:
            return
        with budget._cond:
            while budget.used > 0 and budget.used + extra > budget.limit:
                budget._cond.wait()
            budget.used += extra
            self.weight += extra

    def release(self) -> None:
        if self.weight <= 0:
            return
        budget, weight = self.budget, self.weight
        self.weight = 0
        with budget._cond:
            budget.used -= weight
            budget._cond.notify_all()
        if weight >= _TRIM_PIXELS:
            _malloc_trim()


def take_pixels(reservation: Reservation | None, width: int, height: int) -> None:
    """Decoders call this once the size is known, before decoding (no-op without a budget)."""
    if reservation is not None:
        reservation.take(width * height)


def _malloc_trim() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them per thread arena otherwise)."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC: ctypes.CDLL | bool | None = None
