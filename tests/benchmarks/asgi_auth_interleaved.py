"""The authentication benchmark in one process: the example's item route against the open one.

``test_http_auth.py`` runs this script in a subprocess with the example's
settings in the environment. It reuses ``asgi_interleaved.py`` as it is:
that module's ``main`` calls the ASGI apps bound to its ``hexkernel`` and
``baseline`` names alternately, request by request, and takes the thread's
CPU time around each call. ``hexkernel`` there is already the taskboard
example (``taskboard.app.app``, built from these settings: the authenticated
side); this script binds ``baseline`` to ``taskboard_open.app`` (the same
route with no authentication), then runs ``main`` for ``GET /tasks/{id}``.

Usage::

    python asgi_auth_interleaved.py COUNT TOKEN IDS_FILE

It prints one JSON line, as ``asgi_interleaved.py`` does: the CPU seconds of
every request, under ``hexkernel`` (authenticated) and ``baseline`` (open).
"""

import asyncio
import sys
from pathlib import Path

import asgi_interleaved
from taskboard_open import app as open_app

if __name__ == "__main__":
    count, token, ids_file = sys.argv[1:4]
    asgi_interleaved.baseline = open_app
    ids = Path(ids_file).read_text().split()
    asyncio.run(asgi_interleaved.main("item", int(count), token, ids, b""))
