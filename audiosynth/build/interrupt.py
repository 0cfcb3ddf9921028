"""Ctrl-C during a build: a flag that the driver and the workers read between examples."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)


class StopFlag:
    """A request to stop, set by Ctrl-C (see `sigint_stops`), read between examples and shards."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


@contextlib.contextmanager
def sigint_stops(hard_exit: bool = True) -> Iterator[StopFlag]:
    """While the body runs, Ctrl-C (SIGINT) only sets the yielded flag, so no `KeyboardInterrupt` can
    land inside C code's callbacks (soundfile encodes FLAC through cffi callbacks, which print and
    swallow exceptions and leave a wrong file). With ``hard_exit`` a second Ctrl-C ends the process
    at once (status 130), as safe as kill -9. The previous handler is restored after. Outside the main
    thread no handler can be installed: the body runs as it is, and the flag stays unset."""
    stop = StopFlag()

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set() and hard_exit:
            os.write(2, b"interrupted again: stopping at once; the shard in progress is redone on resume\n")
            os._exit(130)
        if not stop.is_set() and hard_exit:
            os.write(2, b"interrupt: stopping after the example in progress (Ctrl-C again to stop at once)\n")
        stop.set()

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        yield stop
        return
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
