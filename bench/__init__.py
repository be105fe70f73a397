"""`make bench` (``python -m bench``): performance figures, as ratios measured side by side in one run.

Sections: ``coldstart`` (cold import per function vs a bare boto3 client), ``start`` (the start function,
parallel vs sequential batches), ``sizes`` (artifacts), ``local_scale`` (the local runner, small vs large
runs) and ``load`` (``bench/load``: covers arriving concurrently at several rates through the whole
pipeline, in virtual time, for STANDARD and EXPRESS deployments)."""
