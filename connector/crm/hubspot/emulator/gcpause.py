"""Pause the cyclic garbage collector around bulk allocation.

Building 100k tuples while 100k record dicts are alive makes CPython's
generational GC rescan the whole heap repeatedly; none of these objects form
cycles, so pausing it is safe and makes search and seeding several times faster.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def gc_paused():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
