"""OpenTelemetry is optional: without its SDK (or without any of it) tracing stays off quietly."""

from __future__ import annotations

import sys
from typing import Any

import httpx
import pytest
from opentelemetry import _logs as otel_logs
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace

from tabellion.kit import tracing
from tabellion.kit.metrics import ObservedFastAPI

SDK_PRESENT = tracing.available()


@pytest.mark.skipif(SDK_PRESENT, reason="the OpenTelemetry SDK is installed here")
def test_without_the_sdk_configure_does_nothing_even_with_an_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing.configure() is False


def test_without_an_endpoint_configure_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.configure() is False


def test_without_any_opentelemetry_package_spans_are_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A None entry makes ``import opentelemetry`` raise ImportError, as if not installed.
    for name in [m for m in sys.modules if m.startswith("opentelemetry")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing.available() is False
    assert tracing.configure() is False
    ran = []
    with tracing.job_span("notification.send_notice", 7, "req-1"):
        ran.append(True)
    tracing.annotate_current_span("tabellion.request_id", "req-1")
    assert ran == [True]


def test_a_job_span_lets_the_job_run_and_raise() -> None:
    with pytest.raises(KeyError), tracing.job_span("evidence.seal", 1, None):
        raise KeyError("boom")


# ---- FastAPI's own telemetry --------------------------------------------------------------


class _RecordingTracer(otel_trace.NoOpTracer):
    def __init__(self) -> None:
        self.spans: list[str] = []

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> otel_trace.Span:
        self.spans.append(name)
        return super().start_span(name, *args, **kwargs)


class _RecordingProvider(otel_trace.TracerProvider):
    """A provider someone set (an SDK's or an agent's), recording the spans started."""

    def __init__(self) -> None:
        self.tracer = _RecordingTracer()

    def get_tracer(self, *args: Any, **kwargs: Any) -> otel_trace.Tracer:
        return self.tracer


def _app() -> ObservedFastAPI:
    app = ObservedFastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"pong": True}

    return app


async def _get(app: ObservedFastAPI, times: int) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        for _ in range(times):
            assert (await client.get("/ping")).json() == {"pong": True}


async def test_fastapis_telemetry_is_decided_when_the_app_is_made_not_at_each_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FASTAPI_OTEL_AUTO_CONFIGURE", raising=False)
    app = _app()
    asked: list[str] = []
    for module, name in (
        (otel_trace, "get_tracer_provider"),
        (otel_metrics, "get_meter_provider"),
        (otel_logs, "get_logger_provider"),
    ):
        original = getattr(module, name)

        def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
            asked.append(_name)
            return _original(*args)

        monkeypatch.setattr(module, name, counted)
    await _get(app, 3)
    # FastAPI's default asked for all three providers at every request.
    assert asked == []


async def test_a_tracer_provider_set_before_the_app_is_made_traces_each_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FASTAPI_OTEL_AUTO_CONFIGURE", raising=False)
    provider = _RecordingProvider()
    with monkeypatch.context() as while_made:
        while_made.setattr(otel_trace, "get_tracer_provider", lambda: provider)
        app = _app()
    # Handed over when the app was made: the global look-up no longer finds it, the app
    # still traces with it (FastAPI's per-request look-up would find nothing now).
    assert not isinstance(otel_trace.get_tracer_provider(), _RecordingProvider)
    await _get(app, 2)
    # A server span a request (FastAPI adds spans of its own inside each).
    assert provider.tracer.spans.count("GET") == 2


def test_fastapis_own_set_up_at_startup_keeps_its_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # FASTAPI_OTEL_AUTO_CONFIGURE: FastAPI sets the providers up when the app starts, after
    # it is made; deciding before would turn its telemetry off.
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    assert tracing.fastapi_telemetry() == {}
    monkeypatch.delenv("FASTAPI_OTEL_AUTO_CONFIGURE")
    assert tracing.fastapi_telemetry() == {
        "tracing": False,
        "tracer_provider": None,
        "metrics": False,
        "meter_provider": None,
        "logs": False,
        "logger_provider": None,
    }
