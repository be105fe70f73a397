"""Download cover images from hosts we do not control: never raise for what a host does, and only ever
connect to the address that was vetted.

One module per part (each module's docstring says why it is built the way it is):

* ``urls``: the URL grammar. ``validate_url`` refuses any URL that two parsers could read differently.
* ``addresses``: the address policy. Public addresses only (IPv4 inside IPv6 transition forms unwrapped
  and judged), loopback only in local mode; a host is resolved once per attempt and *every* address in
  the answer must pass.
* ``transport``: the pinned transport. Each request connects to one vetted IP, with the ``Host`` header,
  SNI and certificate check for the host name; a watchdog cuts the socket at the time budget.
* ``fetcher``: the retrying fetcher (``ImageFetcher``). Byte and time limits, redirects followed by hand
  (each hop validated, vetted and pinned again), retries for transient failures only.
* ``sniff``: content sniffing. PNG, JPEG or WebP by magic bytes, checked on the first bytes.
* ``results``: what a download comes to (``FetchResult``, ``FetchError`` and its ``FetchCode``).

This package exports what callers use; tests of one part import that part's module.
"""

from covers_core.adapters.image_fetch.fetcher import FetchSettings, ImageFetcher
from covers_core.adapters.image_fetch.results import FetchCode, FetchError, FetchResult

__all__ = ["FetchCode", "FetchError", "FetchResult", "FetchSettings", "ImageFetcher"]
