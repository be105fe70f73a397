"""Delivery and storage of the archived images, read from the template as CloudFormation gets it (after the
SAM transform): a CloudFront distribution that alone reads the private bucket, through its origin access
control, and only the archived images (docs/security.md, "Archived images"); lifecycle rules that follow
their parameters (docs/operations.md, "Archive storage")."""

from __future__ import annotations

from typing import Any

import pytest

from covers_local.stack import transform
from tests.infra.test_template_ops import Resolved, as_list, statements

STACK = "covers-delivery"
DELIVERY = {"ArchiveImages": "true", "ArchiveDelivery": "true"}
#: What the distribution and its policies are: created with ArchiveDelivery=true, and only with the archive.
DELIVERY_RESOURCES = {
    "ArchiveOriginAccessControl",
    "ArchiveCachePolicy",
    "ArchiveResponseHeadersPolicy",
    "ArchiveDistribution",
}
YEAR = 365 * 24 * 3600


def resolved(parameters: dict[str, str]) -> tuple[dict[str, dict[str, Any]], Resolved]:
    """The resources the parameters create, resolved (``<LogicalId>`` / ``<Id.Attr>`` for what AWS names)."""
    template = transform(parameters)
    resolve = Resolved(template, STACK, parameters)
    created = {
        logical_id: resolve(resource)
        for logical_id, resource in template["Resources"].items()
        if "Condition" not in resource or resolve.condition(resource["Condition"])
    }
    return created, resolve


def variables(resources: dict[str, dict[str, Any]], function: str) -> dict[str, Any]:
    return dict(resources[function]["Properties"]["Environment"]["Variables"])


def test_the_distribution_reads_the_bucket_with_its_origin_access_control_only() -> None:
    resources, _ = resolved(DELIVERY)
    control = resources["ArchiveOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert control["OriginAccessControlOriginType"] == "s3"
    assert control["SigningBehavior"] == "always"  # every request to the bucket signed, whatever it carried
    assert control["SigningProtocol"] == "sigv4"
    config = resources["ArchiveDistribution"]["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]  # the bucket, and nothing else
    assert origin["DomainName"] == "<ArchiveBucket.RegionalDomainName>"
    assert origin["OriginAccessControlId"] == "<ArchiveOriginAccessControl.Id>"
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy origin access identity
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["TargetOriginId"] == origin["Id"]
    assert behaviour["ViewerProtocolPolicy"] == "https-only"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"] and behaviour["CachedMethods"] == ["GET", "HEAD"]
    assert behaviour["Compress"] is True
    assert not config.get("CacheBehaviors")  # one behaviour for every path
    assert config["HttpVersion"] == "http2and3" and config["PriceClass"] == "PriceClass_100"
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}


def test_archived_images_are_cached_for_a_year_by_cloudfront_and_by_browsers() -> None:
    """The keys are content-addressed (covers_core.adapters.archive): what a key names never changes."""
    resources, _ = resolved(DELIVERY)
    behaviour = resources["ArchiveDistribution"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    assert behaviour["CachePolicyId"] == "<ArchiveCachePolicy>"
    policy = resources["ArchiveCachePolicy"]["Properties"]["CachePolicyConfig"]
    assert policy["DefaultTTL"] == policy["MaxTTL"] == YEAR
    key = policy["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "none"}  # ?x=1 cannot bypass the cache
    assert key["CookiesConfig"] == {"CookieBehavior": "none"} and key["HeadersConfig"] == {
        "HeaderBehavior": "none"
    }
    assert behaviour["ResponseHeadersPolicyId"] == "<ArchiveResponseHeadersPolicy>"
    headers = resources["ArchiveResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    (cache_control,) = headers["CustomHeadersConfig"]["Items"]
    assert cache_control == {
        "Header": "Cache-Control",
        "Value": f"public, max-age={YEAR}, immutable",
        "Override": True,
    }


def test_the_bucket_is_private_and_only_the_distribution_may_read_only_the_archived_images() -> None:
    resources, _ = resolved(DELIVERY)
    block = resources["ArchiveBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    policy = resources["ArchiveBucketPolicy"]["Properties"]
    assert policy["Bucket"] == "<ArchiveBucket>"
    found = statements(policy["PolicyDocument"])
    allows = [s for s in found if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Sid": "CloudFrontReadsCovers",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": "<ArchiveBucket.Arn>/covers/*",
            "Condition": {
                "StringEquals": {
                    "AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/<ArchiveDistribution>"
                }
            },
        }
    ]
    assert not [s for s in allows if s.get("Principal") in ("*", {"AWS": "*"})]
    (deny,) = [s for s in found if s["Effect"] == "Deny"]
    assert deny["Sid"] == "DenyInsecureTransport" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    assert set(as_list(deny["Resource"])) == {"<ArchiveBucket.Arn>", "<ArchiveBucket.Arn>/*"}


def test_the_functions_get_the_distributions_url_and_the_stack_outputs_its_domain() -> None:
    resources, resolve = resolved(DELIVERY)
    url = "https://<ArchiveDistribution.DomainName>"
    assert variables(resources, "FinalizeCoverFunction")["DELIVERY_BASE_URL"] == url
    assert variables(resources, "CoverStatusApiFunction")["DELIVERY_BASE_URL"] == url
    assert variables(resources, "FinalizeCoverFunction")["THUMBNAIL_SIZE"] == "256"  # the default
    output = resolve.template["Outputs"]["ArchiveDeliveryDomain"]
    assert resolve.condition(output["Condition"])
    assert resolve(output["Value"]) == "<ArchiveDistribution.DomainName>"


@pytest.mark.parametrize(
    "parameters",
    [{"ArchiveImages": "true"}, {"ArchiveImages": "false", "ArchiveDelivery": "true"}, {}],
    ids=["archive-without-delivery", "delivery-without-archive", "defaults"],
)
def test_without_both_parameters_there_is_no_distribution_and_no_one_else_may_read(
    parameters: dict[str, str],
) -> None:
    resources, resolve = resolved(parameters)
    assert not DELIVERY_RESOURCES & set(resources)
    assert not resolve.condition(resolve.template["Outputs"]["ArchiveDeliveryDomain"]["Condition"])
    for function in ("FinalizeCoverFunction", "CoverStatusApiFunction"):
        assert variables(resources, function)["DELIVERY_BASE_URL"] == ""
    if "ArchiveBucketPolicy" in resources:
        found = statements(resources["ArchiveBucketPolicy"]["Properties"]["PolicyDocument"])
        assert [s["Effect"] for s in found] == ["Deny"]


def rules(parameters: dict[str, str]) -> dict[str, dict[str, Any]]:
    resources, _ = resolved({"ArchiveImages": "true", **parameters})
    found = resources["ArchiveBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    return {rule["Id"]: rule for rule in found}


def test_by_default_large_images_move_to_intelligent_tiering_at_once_and_nothing_expires() -> None:
    found = rules({})
    assert set(found) == {"Housekeeping", "IntelligentTiering"}
    housekeeping = found["Housekeeping"]
    assert housekeeping["Status"] == "Enabled" and "Prefix" not in housekeeping  # the whole bucket
    assert 1 <= housekeeping["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] <= 7
    assert housekeeping["NoncurrentVersionExpiration"] == {"NoncurrentDays": "30"}
    assert housekeeping["ExpiredObjectDeleteMarker"] is True
    tiering = found["IntelligentTiering"]
    assert tiering["Status"] == "Enabled" and tiering["Prefix"] == "covers/"
    assert tiering["Transitions"] == [{"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": "0"}]
    # Intelligent-Tiering never moves objects of 128 KiB or less: a transition would be a fee for nothing.
    assert tiering["ObjectSizeGreaterThan"] == str(128 * 1024)


@pytest.mark.parametrize(
    ("parameters", "tiering_days", "expire_days", "noncurrent_days"),
    [
        ({"ArchiveTieringDays": "30"}, "30", None, "30"),
        ({"ArchiveTieringDays": "-1"}, None, None, "30"),
        ({"ArchiveExpireDays": "365", "ArchiveNoncurrentDays": "7"}, "0", "365", "7"),
        ({"ArchiveTieringDays": "-1", "ArchiveExpireDays": "90"}, None, "90", "30"),
    ],
    ids=["tier-after-30", "no-tiering", "expire-after-365", "expire-only"],
)
def test_the_lifecycle_rules_follow_their_parameters(
    parameters: dict[str, str], tiering_days: str | None, expire_days: str | None, noncurrent_days: str
) -> None:
    found = rules(parameters)
    assert found["Housekeeping"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": noncurrent_days}
    if tiering_days is None:
        assert "IntelligentTiering" not in found
    else:
        assert found["IntelligentTiering"]["Transitions"][0]["TransitionInDays"] == tiering_days
    if expire_days is None:
        assert "Expire" not in found
    else:
        assert found["Expire"] == {
            "Id": "Expire",
            "Status": "Enabled",
            "Prefix": "covers/",
            "ExpirationInDays": expire_days,
        }
