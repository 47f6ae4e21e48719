"""Verification: offline checks of proofs and documents, RFC 5280 paths, the chain check and
the public /verify page."""
