"""Evidence: records of each delivery event; sealing, chain and verification."""
