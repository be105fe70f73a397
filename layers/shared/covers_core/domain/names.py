"""Step Functions execution names derived from music task ids (one execution per music task)."""

from __future__ import annotations

import hashlib
import re

_VALID_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_HASH_CHARS = 16


def execution_name(music_task_id: str) -> str:
    """A Step Functions execution name derived from the music task id.

    Ids made only of ``[A-Za-z0-9_-]`` and at most 80 characters are used as they are. Any other id is
    reduced to its allowed characters, cut, and suffixed with a hash of the whole id, so two different
    ids never share a name."""
    if _VALID_NAME.match(music_task_id):
        return music_task_id
    digest = hashlib.sha256(music_task_id.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    prefix = _INVALID_CHARS.sub("_", music_task_id)[: 80 - _HASH_CHARS - 1]
    return f"{prefix}-{digest}"


def resumed_execution_name(music_task_id: str, resume_count: int) -> str:
    """The execution name of the ``resume_count``-th operator resume (Standard names cannot be reused):
    ``<execution_name>-r<n>``, shortened (with the whole id's hash) to stay within 80 characters."""
    suffix = f"-r{resume_count}"
    base = execution_name(music_task_id)
    if len(base) + len(suffix) > 80:
        digest = hashlib.sha256(music_task_id.encode("utf-8")).hexdigest()[:_HASH_CHARS]
        base = f"{base[: 80 - len(suffix) - _HASH_CHARS - 1]}-{digest}"
    return base + suffix
