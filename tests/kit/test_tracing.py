"""OpenTelemetry is optional: without its SDK (or without any of it) tracing stays off quietly."""

from __future__ import annotations

import sys

import pytest

from tabellion.kit import tracing

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
