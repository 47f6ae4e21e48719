"""The transparency log: RFC 9162 Merkle hashing, the log and its tree heads, C2SP checkpoints."""
