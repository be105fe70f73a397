"""Names derived from music task ids: Step Functions execution names and archive key prefixes.

Invariant 5 (docs/design.md): distinct music task ids never share a name, and no id shares one with a
resumed run. The three kinds of name live in disjoint sets, told apart by the dots they hold (a dot is
allowed in execution names and S3 keys, and never appears in a name used verbatim):

* **verbatim** (no dot): an id of 1-80 characters from ``[A-Za-z0-9_-]`` is its own name;
* **hashed** (one dot): any other id becomes ``<its allowed characters, cut>.<32 hex of SHA-256(id)>``;
* **resumed** (ends ``.r<n>``): the n-th operator or reconciler resume of an id's cover runs as
  ``<verbatim or hashed name>.r<n>``, the base hashed shorter when needed to fit 80 characters. A hashed
  name's part after its last dot is 32 hex digits, never ``r<n>``, so the sets cannot meet.

Within each set, equal names mean equal ids: verbatim names are the ids, hashed names carry 128 bits of the
id's hash (``tests/unit/test_requests_and_names.py`` checks all of this on ids that look like names).
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 80
_VERBATIM = re.compile(r"[A-Za-z0-9_-]{1,80}")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")
_HASH_HEX = 32


def _hashed(music_task_id: str, length: int) -> str:
    digest = hashlib.sha256(music_task_id.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX]
    prefix = _NOT_ALLOWED.sub("_", music_task_id)[: max(0, length - _HASH_HEX - 1)]
    return f"{prefix}.{digest}"


def execution_name(music_task_id: str) -> str:
    """The execution name of a music task's first run (at most 80 characters)."""
    if _VERBATIM.fullmatch(music_task_id):
        return music_task_id
    return _hashed(music_task_id, MAX_NAME)


def resumed_execution_name(music_task_id: str, resume_count: int) -> str:
    """The execution name of the ``resume_count``-th resume (Standard execution names cannot be reused)."""
    if resume_count < 1:
        raise ValueError("a resumed run counts from 1")
    suffix = f".r{resume_count}"
    base = execution_name(music_task_id)
    if len(base) + len(suffix) > MAX_NAME:
        base = _hashed(music_task_id, MAX_NAME - len(suffix))
    return base + suffix


def archive_prefix(music_task_id: str) -> str:
    """The key segment under which a music task's archived images are stored (same rules, same sets)."""
    return execution_name(music_task_id)
