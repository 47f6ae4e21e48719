"""The ``tabellion`` command."""
