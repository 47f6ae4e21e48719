"""Sealing and keys: the seal (key and chain), the JWS it signs, the batches that seal evidence."""
