"""Presigned S3 GET URLs for the archive's images (the status API's ``?urls=presigned``; docs/contracts.md,
"Status API").

Signing is local: no request is made. The URL carries the function's role credentials (a session token):
S3 honours it until ``X-Amz-Expires`` seconds after signing, or until those credentials expire, whichever
comes first (docs/security.md, "Archived images")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from covers_core.adapters.aws import aws_call
from covers_core.domain.delivery import SignedUrl
from covers_core.logic.ports import UrlSigner


class S3UrlSigner(UrlSigner):
    """Signs with ``s3``, a client that signs SigV4 (:func:`covers_core.adapters.aws.signing_s3`)."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def presign_get(self, bucket: str, key: str, seconds: int) -> SignedUrl:
        url = str(
            aws_call(
                "S3 presign GetObject",
                self.s3.generate_presigned_url,
                ClientMethod="get_object",
                Params={"Bucket": bucket, "Key": key},
                ExpiresIn=seconds,
            )
        )
        # The expiry the URL itself states: its signing time (X-Amz-Date) plus X-Amz-Expires.
        query = parse_qs(urlsplit(url).query)
        signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return SignedUrl(url, signed_at + timedelta(seconds=int(query["X-Amz-Expires"][0])))
