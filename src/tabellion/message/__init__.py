"""Messages, per-recipient deliveries, and their lifecycles."""
