"""Organisations, API keys (customers and users come with the accounts work)."""
