"""Optional OpenTelemetry tracing: on when its SDK and OTLP exporter are installed and an
OTLP endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``..._TRACES_ENDPOINT``).

Nothing here is a dependency of Tabellion: ``pip install opentelemetry-sdk
opentelemetry-exporter-otlp-proto-http`` turns it on. FastAPI then traces each HTTP request
by itself (with the tracer provider set here, before the application is made:
``fastapi_telemetry``); the worker adds one span per job.
Without the packages every function below does nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

# The API, not the SDK: installed with FastAPI; looked up once, not at each request.
try:
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - FastAPI depends on it
    _trace = None  # type: ignore[assignment]

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_SDK_MODULES = ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def available() -> bool:
    """Whether the OpenTelemetry SDK and its OTLP/HTTP exporter are installed."""
    return all(_installed(module) for module in _SDK_MODULES)


# The API's stand-ins for a provider nobody has set (FastAPI's own list of them, by name).
_UNSET_PROVIDERS = frozenset({"ProxyTracerProvider", "_ProxyMeterProvider", "ProxyLoggerProvider"})


def _is_set(provider: object) -> bool:
    """Whether a tracer, meter or logger provider was set (by ``configure`` or an agent)."""
    return type(provider).__name__ not in _UNSET_PROVIDERS


def _tracer() -> Any | None:
    """Tabellion's tracer, or None when no tracer provider is set (nothing would record)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    if not _is_set(trace.get_tracer_provider()):
        # No provider set (by ``configure`` or an agent): a span would be a no-op, and making
        # one costs ~20 µs, a tenth of a notice job's own work outside its e-mail.
        return None
    return trace.get_tracer("tabellion")


def recording() -> bool:
    """Whether a span made now would be recorded (a tracer provider is set)."""
    return _tracer() is not None


def configure(service_name: str = "tabellion") -> bool:
    """Export spans over OTLP/HTTP when the SDK is installed and an endpoint is set.

    Returns whether tracing is on. A provider configured by someone else (an agent, a
    wrapper) is kept.
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if not any(os.environ.get(name) for name in _ENDPOINT_VARIABLES) or not available():
        return False
    from opentelemetry import trace

    # Imported by name: the SDK is optional, so neither installed nor typed here.
    exporter = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    resources = importlib.import_module("opentelemetry.sdk.resources")
    sdk = importlib.import_module("opentelemetry.sdk.trace")
    export = importlib.import_module("opentelemetry.sdk.trace.export")

    if _is_set(trace.get_tracer_provider()):
        return True
    name = os.environ.get("OTEL_SERVICE_NAME", service_name)
    provider = sdk.TracerProvider(resource=resources.Resource.create({"service.name": name}))
    provider.add_span_processor(export.BatchSpanProcessor(exporter.OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    log.info("OpenTelemetry: exporting traces over OTLP as %s", name)
    return True


def fastapi_telemetry() -> dict[str, Any]:
    """FastAPI's own OpenTelemetry settings (``FastAPI(telemetry=...)``), decided once.

    Left to its defaults, FastAPI asks the API at every request whether a tracer, meter or
    logger provider has been set: three look-ups of environment variables, each raising and
    catching a ``KeyError`` when unset (37,000 instructions, 3 % of a ``GET`` of a delivery,
    counted with ``bench/read_instructions.py``). The providers are set before the
    application is made (``configure`` runs when a command starts, an agent when the
    interpreter does), so each is looked up here once: one that is set is handed to FastAPI,
    which then traces or measures each request as before; one that is not turns that part
    off. With ``FASTAPI_OTEL_AUTO_CONFIGURE=true`` FastAPI sets providers up itself when the
    application starts, later than this: its defaults are kept.
    """
    if os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true" or _trace is None:
        return {}
    from opentelemetry import _logs, metrics

    chosen: dict[str, Any] = {}
    for part, key, provider in (
        ("tracing", "tracer_provider", _trace.get_tracer_provider()),
        ("metrics", "meter_provider", metrics.get_meter_provider()),
        ("logs", "logger_provider", _logs.get_logger_provider()),
    ):
        chosen[part] = _is_set(provider)
        chosen[key] = provider if chosen[part] else None
    return chosen


@contextmanager
def job_span(kind: str, job_id: int, request_id: str | None) -> Iterator[None]:
    """A span around one job run (a no-op span without a configured SDK)."""
    tracer = _tracer()
    if tracer is None:
        yield
        return
    attributes: dict[str, Any] = {"tabellion.job.kind": kind, "tabellion.job.id": job_id}
    if request_id:
        attributes["tabellion.request_id"] = request_id
    with tracer.start_as_current_span(f"job {kind}", attributes=attributes):
        yield


def annotate_current_span(key: str, value: str) -> None:
    """Set an attribute on the current span, if one is recording (every request calls it)."""
    if _trace is None:
        return
    span = _trace.get_current_span()
    if span.is_recording():
        span.set_attribute(key, value)
