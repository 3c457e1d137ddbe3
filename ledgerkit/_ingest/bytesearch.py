"""Is a byte string in a page body: the C library's ``memmem``, which lets other threads run meanwhile.

``needle in body`` holds the GIL for the whole search -- about a millisecond
over a 2.6 MB page, while the pull's other threads wait to hand their pages
to Arrow. The C library's ``memmem`` (glibc, the BSDs, macOS), called
through :mod:`ctypes`, searches three times as fast and without the GIL
(ctypes lets go of it for the call). Where there is none (Windows), ``in``
it is.

Examples
--------
>>> contains(b'{"alternative": null}', b'"alternative"'), contains(b"{}", b'"alternative"')
(True, False)
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

__all__ = ["contains"]


def _libc_memmem() -> Callable[..., int | None] | None:
    try:
        memmem = ctypes.CDLL(None).memmem
    except (OSError, AttributeError, TypeError):
        return None
    memmem.restype = ctypes.c_void_p
    memmem.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    return memmem


_MEMMEM = _libc_memmem()


def contains(body: bytes, needle: bytes) -> bool:
    """Whether ``needle`` occurs in ``body`` (as ``needle in body``)."""
    if _MEMMEM is None:
        return needle in body
    return _MEMMEM(body, len(body), needle, len(needle)) is not None
