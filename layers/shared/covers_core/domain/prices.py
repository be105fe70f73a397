"""List prices (us-east-1, USD, on-demand, first pricing tier), each with its source and
the date it was read. ``confirmed``: the figure was read on the service's own AWS pricing page; False: it
comes from a third-party summary of that page (the AWS page's text at hand did not show the figure), so
check it before relying on it.

One place for every unit price: the per-cover cost estimate (``covers_core.domain.cost``, written on each
record by finalize) and the benches (``bench/load``, through ``bench/prices.py``) read them from here. Pure
data: nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    usd: float  # per ``unit``
    unit: str
    source: str
    read: str  # when the source was read (YYYY-MM, the machine's date when they were looked up)
    confirmed: bool = True


SFN = "https://aws.amazon.com/step-functions/pricing/"
LAMBDA = "https://aws.amazon.com/lambda/pricing/"
DYNAMODB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
S3 = "https://aws.amazon.com/s3/pricing/"
CLOUDFRONT = "https://aws.amazon.com/cloudfront/pricing/"
READ = "2026-11"

PRICES: dict[str, Price] = {
    # "$0.025 per 1,000 state transitions"; "each retry will be charged as an additional state transition".
    "sfn_standard_transition": Price(0.025 / 1e3, "state transition", SFN, READ),
    # Express: $1.00 per 1M requests (also in AWS's Compute Blog, "Building cost-effective AWS Step Functions
    # workflows"); duration rounded up to 100 ms, memory billed in 64 MB chunks (the pricing page's text).
    # The per-GB-second figure (first 1,000 GB-hours) is from third-party summaries of the same page.
    "sfn_express_request": Price(1.00 / 1e6, "execution", SFN, READ, confirmed=False),
    "sfn_express_gb_second": Price(0.00001667, "GB-second", SFN, READ, confirmed=False),
    # arm64, first 7.5 billion GB-seconds a month; requests $0.20 per 1M (both architectures).
    "lambda_request": Price(0.20 / 1e6, "request", LAMBDA, READ, confirmed=False),
    "lambda_arm_gb_second": Price(0.0000133334, "GB-second", LAMBDA, READ, confirmed=False),
    # On-demand after the November 2024 price cut: $0.625 per 1M write request units, $0.125 per 1M read
    # request units (third-party summaries; AWS's on-demand page was not at hand).
    "dynamodb_write": Price(0.625 / 1e6, "write request unit", DYNAMODB, READ, confirmed=False),
    "dynamodb_read": Price(0.125 / 1e6, "read request unit", DYNAMODB, READ, confirmed=False),
    # Custom events: $1.00 per 1M, each 64 KB chunk of a PutEvents entry counted as one event.
    "eventbridge_event": Price(
        1.00 / 1e6, "custom event", "https://aws.amazon.com/eventbridge/pricing/", READ, confirmed=False
    ),
    # Standard queues: $0.40 per 1M requests (first 100 billion a month), each 64 KB chunk one request.
    "sqs_request": Price(0.40 / 1e6, "request", "https://aws.amazon.com/sqs/pricing/", READ, confirmed=False),
    # $0.05 per 10,000 API calls (GetSecretValue); the $0.40 per secret-month is not per cover.
    "secrets_call": Price(
        0.05 / 1e4, "API call", "https://aws.amazon.com/secrets-manager/pricing/", READ, confirmed=False
    ),
    # Standard log class, "Collect (data ingestion)": $0.50 per GB.
    "logs_ingested_gb": Price(
        0.50, "GB ingested", "https://aws.amazon.com/cloudwatch/pricing/", READ, confirmed=False
    ),
    # S3 Standard: PUT/COPY/POST/LIST $0.005 per 1,000 requests; storage $0.023 per GB-month (first 50 TB).
    "s3_put": Price(0.005 / 1e3, "PUT request", "https://aws.amazon.com/s3/pricing/", READ, confirmed=False),
    "s3_gb_month": Price(0.023, "GB-month", "https://aws.amazon.com/s3/pricing/", READ, confirmed=False),
    # S3 Standard GET: $0.0004 per 1,000 requests; data transfer out to the internet $0.09 per GB (first 10 TB
    # a month, after the first 100 GB free across services); transfer from S3 to CloudFront is free.
    "s3_get": Price(0.0004 / 1e3, "GET request", S3, READ, confirmed=False),
    "s3_transfer_out_gb": Price(0.09, "GB to the internet", S3, READ, confirmed=False),
    # S3 Intelligent-Tiering storage (first 50 TB): Frequent Access $0.023, Infrequent Access (after 30
    # days unread) $0.0125, Archive Instant Access (after 90 days unread) $0.004 per GB-month.
    "s3_it_frequent_gb_month": Price(0.023, "GB-month", S3, READ, confirmed=False),
    "s3_it_infrequent_gb_month": Price(0.0125, "GB-month", S3, READ, confirmed=False),
    "s3_it_archive_instant_gb_month": Price(0.004, "GB-month", S3, READ, confirmed=False),
    # Monitoring and automation: $0.0025 per 1,000 objects a month, objects larger than 128 KB only (smaller
    # ones are neither monitored nor moved, and always billed at the Frequent Access rate).
    "s3_it_monitoring": Price(0.0025 / 1e3, "object-month", S3, READ, confirmed=False),
    # Lifecycle transition requests into Intelligent-Tiering: $0.01 per 1,000 requests.
    "s3_it_transition": Price(0.01 / 1e3, "transition request", S3, READ, confirmed=False),
    # CloudFront, United States, Mexico and Canada (and Europe: the same first-tier rates): data transfer out
    # to the internet $0.085 per GB (first 10 TB a month), HTTPS requests $0.0100 per 10,000. The always-free
    # tier (1 TB out and 10 million requests a month) is not deducted.
    "cloudfront_transfer_out_gb": Price(0.085, "GB to the internet", CLOUDFRONT, READ, confirmed=False),
    "cloudfront_https_request": Price(0.01 / 1e4, "HTTPS request", CLOUDFRONT, READ, confirmed=False),
}


def usd(name: str) -> float:
    return PRICES[name].usd
