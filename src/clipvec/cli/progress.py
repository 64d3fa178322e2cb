"""The import's progress bar: files/s and ETA on a terminal, nothing otherwise."""

from __future__ import annotations


class ProgressBar:
    """tqdm with files/s and ETA, or nothing when disabled or not on a terminal."""

    def __init__(self, disabled: bool) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=0, unit="file", disable=disabled or None, dynamic_ncols=True, smoothing=0.1)

    def set_total(self, total: int) -> None:
        self._bar.total = total
        self._bar.refresh()

    def update(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()
