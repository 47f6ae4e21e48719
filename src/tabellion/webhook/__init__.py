"""Webhooks and the events feed: at-least-once, signed (Standard Webhooks), observable."""
