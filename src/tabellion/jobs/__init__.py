"""Durable jobs: rows written in the same transaction as their cause, run after commit."""
