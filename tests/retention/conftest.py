"""Fixtures of the retention tests."""

from tests.fixtures.encryption import master_key  # noqa: F401
