# The webhook tests' settings (loopback receivers allowed) and receiver, for STAMPEE's format.
from tests.webhook.conftest import receiver, settings  # noqa: F401
