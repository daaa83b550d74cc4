"""Unified test format: createChangeStream on client/database/collection and changeStream entity operations."""

from __future__ import annotations

from typing import Any


def create_change_stream(run: Any, target: Any, args: dict) -> Any:
    from tests.spec.unified.entities import ClientEntity
    from tests.spec.unified.operations import kwargs

    target = target.client if isinstance(target, ClientEntity) else target
    return target.watch(args.get("pipeline", []), **kwargs(run, args, "pipeline"))


def _next(run: Any, stream: Any, args: dict) -> Any:
    return next(stream)


def _try_next(run: Any, stream: Any, args: dict) -> Any:
    return stream.try_next()


def _close(run: Any, stream: Any, args: dict) -> None:
    stream.close()


CHANGE_STREAM_OPS = {"iterateUntilDocumentOrError": _next, "iterateOnce": _try_next, "close": _close}
