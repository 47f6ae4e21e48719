# Loopback webhook receivers allowed, and the receiver, for the webhooks in Documenso's format.
from tests.compat.test_documenso import key  # noqa: F401
from tests.webhook.conftest import receiver, settings  # noqa: F401
