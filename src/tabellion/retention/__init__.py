"""Retention, legal holds, erasure and export of an organisation's data (docs/data.md)."""
