"""Fixtures of the retention tests: a master key, a real S3 server (moto) for the S3 store."""

from tests.fixtures.encryption import master_key  # noqa: F401
from tests.fixtures.s3 import boto_session, s3_bucket, s3_client, s3_endpoint  # noqa: F401
