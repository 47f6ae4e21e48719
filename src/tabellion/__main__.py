"""``python -m tabellion`` is the ``tabellion`` command."""

from tabellion.cli.main import app

app()
