"""Timestamping: RFC 3161 tokens, the job that asks a TSA for them, and a small TSA of our own."""
