"""The garbage collector in a server process that holds live queries.

A full collection follows every reference of every tracked object: in a Django process that is a hundred thousand
objects of start-up (modules, classes, functions, URL patterns) that never become garbage, and it stops every
thread for tens of milliseconds each time. Re-runs allocate enough for full collections to come every second or
so under load. :func:`freeze_start_up` moves what exists when the process starts serving live queries into the
collector's permanent generation (:func:`gc.freeze`), so full collections follow only what came after it.

The cost: a reference cycle that existed at that moment and becomes garbage later is never collected (objects
without cycles are still freed when their last reference goes). That is why it happens once, before any
session is attached, after one full collection.
"""

from __future__ import annotations

import gc
import threading

from ..conf import reactive_settings

_lock = threading.Lock()
_done = False


def freeze_start_up() -> None:
    """Freeze the start-up heap, once per process (``REACTIVE["GC_FREEZE"]``)."""
    global _done
    with _lock:
        if _done or not reactive_settings.GC_FREEZE:
            return
        _done = True
        gc.collect()
        gc.freeze()
