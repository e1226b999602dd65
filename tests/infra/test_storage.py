"""Buckets: encryption, public access, TLS, versioning, lifecycle, access logs, retention."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.config import DeploymentConfig
from tests.infra.conftest import Synthesized

DEFAULTS = DeploymentConfig()


def _buckets(s: Synthesized) -> dict[str, Any]:
    storage = s.stack.storage
    return {
        "raw": storage.raw_bucket,
        "models": storage.models_bucket,
        "logs": storage.log_bucket,
    }


def _rules(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rules = resource["Properties"]["LifecycleConfiguration"]["Rules"]
    return {rule["Id"]: rule for rule in rules}


def test_three_buckets(prod: Synthesized) -> None:
    prod.template.resource_count_is("AWS::S3::Bucket", 3)


@pytest.mark.parametrize("name", ["raw", "models", "logs"])
def test_bucket_is_encrypted_private_and_versioned(prod: Synthesized, name: str) -> None:
    props = prod.resource(_buckets(prod)[name])["Properties"]
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


@pytest.mark.parametrize("name", ["raw", "models", "logs"])
def test_bucket_policy_denies_plain_http(prod: Synthesized, name: str) -> None:
    bucket_id = prod.logical_id(_buckets(prod)[name])
    policies = prod.template.find_resources(
        "AWS::S3::BucketPolicy", {"Properties": {"Bucket": {"Ref": bucket_id}}}
    )
    assert len(policies) == 1
    statements = next(iter(policies.values()))["Properties"]["PolicyDocument"]["Statement"]
    deny_http = [
        s
        for s in statements
        if s["Effect"] == "Deny"
        and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert deny_http, f"{name} bucket policy does not deny aws:SecureTransport=false"


@pytest.mark.parametrize(("name", "prefix"), [("raw", "raw/"), ("models", "models/")])
def test_data_buckets_log_access_to_log_bucket(prod: Synthesized, name: str, prefix: str) -> None:
    props = prod.resource(_buckets(prod)[name])["Properties"]
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": prod.logical_id(prod.stack.storage.log_bucket)},
        "LogFilePrefix": prefix,
    }


def test_raw_uploads_expire_and_old_versions_age_out(prod: Synthesized) -> None:
    rules = _rules(prod.resource(prod.stack.storage.raw_bucket))
    uploads = rules["expire-raw-uploads"]
    assert uploads["Prefix"] == "uploads/"
    assert uploads["ExpirationInDays"] == DEFAULTS.raw_upload_retention_days
    assert uploads["Status"] == "Enabled"
    noncurrent = rules["expire-noncurrent-versions"]
    assert noncurrent["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": DEFAULTS.noncurrent_version_retention_days
    }
    assert noncurrent["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_models_never_expire_current_objects(prod: Synthesized) -> None:
    rules = _rules(prod.resource(prod.stack.storage.models_bucket))
    assert set(rules) == {"expire-noncurrent-versions"}
    assert "ExpirationInDays" not in rules["expire-noncurrent-versions"]
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": DEFAULTS.noncurrent_version_retention_days
    }


def test_buckets_are_retained_by_default(prod: Synthesized) -> None:
    for bucket in _buckets(prod).values():
        resource = prod.resource(bucket)
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"
    prod.template.resource_count_is("Custom::S3AutoDeleteObjects", 0)


def test_dev_stack_may_destroy_buckets(dev: Synthesized) -> None:
    for bucket in _buckets(dev).values():
        assert dev.resource(bucket)["DeletionPolicy"] == "Delete"
    dev.template.resource_count_is("Custom::S3AutoDeleteObjects", 3)


def test_retention_comes_from_context() -> None:
    from aws_cdk import App

    config = DeploymentConfig.from_node(
        App(context={"rawUploadRetentionDays": "7", "noncurrentVersionRetentionDays": 3}).node
    )
    assert (config.raw_upload_retention_days, config.noncurrent_version_retention_days) == (7, 3)


def test_log_bucket_expires_logs(prod: Synthesized) -> None:
    rules = _rules(prod.resource(prod.stack.storage.log_bucket))
    assert rules["expire-access-logs"]["ExpirationInDays"] == DEFAULTS.access_log_retention_days
    prod.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                                "Action": "s3:PutObject",
                            }
                        )
                    ]
                )
            }
        },
    )
