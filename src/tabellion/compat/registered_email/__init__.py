"""The Registered E-mail dialect (the Dutch registered e-mail API)."""
