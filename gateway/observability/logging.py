"""Structured logs: JSON for machines, a readable line for people, never a secret.

The gateway logs through the standard library (``logging.getLogger("gateway....")`` with
``extra=`` fields); so do aiohttp, websockets and grpc. :func:`configure_logging` puts one
handler on the root logger whose formatter is structlog's ``ProcessorFormatter``: every record,
ours or a library's, comes out as one JSON object (``timestamp``, ``level``, ``logger``,
``event``, the ``extra`` fields, ``exception``) or one console line.

Redaction (:class:`Redactor`) runs inside that formatter at every level, twice: on the fields
before rendering (so a field named ``token`` or ``signature`` is masked whatever its value), and
on the rendered line (so a traceback or a library's message that quotes a URL is masked too).
It masks the configured ServerSecrets wherever they appear, ``Signature=``/``Token=``-style
``key=value`` pairs (:func:`gateway.upstream.redact_text`) and a 32-hex digest written next to
the word Signature (``"Signature": "…"``).

A line logged in the tasks of a traced drive carries its ``trace_id`` and ``span_id``
(:func:`add_trace_ids`; :mod:`gateway.observability.drive_trace` says whose they are).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, Literal, TextIO

import structlog

from gateway.config import GatewayConfig, ObservabilityConfig
from gateway.observability.drive_trace import log_ids
from gateway.upstream.redact import MASK, SENSITIVE_KEYS, redact_text

__all__ = ["Redactor", "add_trace_ids", "configure_logging", "make_formatter"]

LogFormat = Literal["auto", "json", "console"]

#: A secret shorter than this is not masked as a literal: masking "a" everywhere would make
#: every line unreadable. (The vendor's ServerSecrets are 32 characters.)
MIN_SECRET_LENGTH = 6

# An md5 digest written next to "Signature" in any notation: JSON, a dict repr, "Signature abc…".
_SIGNATURE_DIGEST = re.compile(r"(?i)(signature\W{0,6})[0-9a-f]{32}(?![0-9a-f])")

_HANDLER_MARK = "_dhgw_handler"


class Redactor:
    """Masks secrets in log text; usable as two structlog processors.

    Args:
        secrets: literal values to mask wherever they appear (ServerSecrets).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                forms.add(secret)
                # As a JSON renderer would escape it.
                forms.add(json.dumps(secret)[1:-1])
        # Longest first, so that a secret containing another is masked whole.
        self._literals = sorted(forms, key=len, reverse=True)

    def text(self, text: str) -> str:
        """``text`` with every secret, signature and token masked."""
        for literal in self._literals:
            if literal in text:
                text = text.replace(literal, MASK)
        text = redact_text(text)
        return _SIGNATURE_DIGEST.sub(lambda m: m.group(1) + MASK, text)

    def value(self, value: Any) -> Any:
        """``value`` with its strings redacted, through dicts, lists and tuples."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: MASK if _sensitive(k) else self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        return value

    def fields(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        """structlog processor: redact every field of the event before rendering."""
        for key, value in list(event_dict.items()):
            if key.startswith("_") or key == "exc_info":
                continue  # the record itself and the exception: the rendered pass covers them
            event_dict[key] = MASK if _sensitive(key) else self.value(value)
        return event_dict

    def rendered(self, logger: Any, method_name: str, line: Any) -> str:
        """structlog processor, last in the chain: redact the rendered line."""
        return self.text(str(line))


def add_trace_ids(logger: Any, method_name: str, event_dict: Any) -> Any:
    """structlog processor: the ids of the traced drive the logging task works for (none
    when it works for none, or tracing is off)."""
    ids = log_ids()
    if ids is not None:
        event_dict.setdefault("trace_id", ids[0])
        event_dict.setdefault("span_id", ids[1])
    return event_dict


def _sensitive(key: object) -> bool:
    return isinstance(key, str) and key.lower() in SENSITIVE_KEYS


def make_formatter(
    log_format: LogFormat, *, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Formatter:
    """A formatter rendering any stdlib or structlog record, redacted.

    Args:
        log_format: ``json``, ``console``, or ``auto`` (JSON unless ``stream`` is a terminal).
        secrets: literal values to mask (ServerSecrets).
        stream: where the lines go (for ``auto`` and console colours); stderr by default.
    """
    out = stream or sys.stderr
    tty = _isatty(out)
    as_json = log_format == "json" or (log_format == "auto" and not tty)
    redactor = Redactor(secrets)
    pre_chain: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        add_trace_ids,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    processors: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    processors.append(redactor.fields)
    if as_json:
        processors += [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(default=repr),
        ]
    else:
        processors.append(
            structlog.dev.ConsoleRenderer(
                colors=tty, exception_formatter=structlog.dev.plain_traceback
            )
        )
    processors.append(redactor.rendered)
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=pre_chain, processors=processors)


def configure_logging(
    config: GatewayConfig | ObservabilityConfig,
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log record (ours and the libraries') to ``stream``, structured and redacted.

    Call it once at start-up, before anything logs. Calling it again replaces the handler it
    installed before; other handlers on the root logger are left alone.

    Args:
        config: the format and level (``config.observability``); a full
            :class:`GatewayConfig` also gives the ServerSecrets of every profile to mask.
        secrets: more literal values to mask.
        stream: where to write; stderr by default.

    Returns:
        The handler installed on the root logger.
    """
    observability = config.observability if isinstance(config, GatewayConfig) else config
    masked = list(secrets)
    if isinstance(config, GatewayConfig):
        masked += [c.server_secret for c in config.profiles.values()]
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        make_formatter(_log_format(observability.log_format), secrets=masked, stream=out)
    )
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(observability.log_level.upper())
    # structlog's own loggers (if any code uses them) end in the same handler.
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            add_trace_ids,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return handler


def _log_format(value: str) -> LogFormat:
    if value == "json":
        return "json"
    if value == "console":
        return "console"
    return "auto"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream
        return False
