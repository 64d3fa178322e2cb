"""The import's model, loaded in a thread from the moment a file needs it, while that file decodes.

Loading a ViT-B/32 (torch, transformers, the weights) takes seconds that the import of a
few new photos used to spend before decoding the first one (issue 20.1). The stage starts
the load when it meets the first content it must encode and keeps decoding meanwhile; the
first batch to encode waits for it. A load that fails raises its own exception, unchanged,
where the encoder is first asked for (the import then stops: exit 2, its message once), and
the next ask loads again (a watcher's next pass, after the model was fixed).
The thread is not a daemon: the process never exits in the middle of an import of torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BackgroundLoad(Generic[T]):
    """``load()`` run in a thread of its own; ``result()`` waits for it and re-raises its error.

    A load that succeeded is kept; one that failed is forgotten once its error was raised.
    """

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._thread: threading.Thread | None = None
        self._value: T | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Begin loading (once; later calls do nothing)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="clipvec-model-load")
                self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._load()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the result
            self._error = exc

    def result(self) -> T:
        """The loaded value (starting the load if nobody did); the load's exception if it failed."""
        self.start()
        assert self._thread is not None
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            with self._lock:
                self._thread = None  # asked again: loaded again
            raise error
        return self._value  # type: ignore[return-value]
