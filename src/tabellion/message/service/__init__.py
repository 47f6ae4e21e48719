"""The message domain's rules."""
