"""The sender dashboard: pages at ``/app`` for an organisation's signed-in users."""
