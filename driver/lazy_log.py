"""Loggers made on first use: importing `logging` costs start-up time and the driver only logs failures."""

from __future__ import annotations

from typing import Any


class LazyLogger:
    """Stands for logging.getLogger(name); the logging module is imported when a message is first logged."""

    __slots__ = ("_name", "_logger")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attribute: str) -> Any:
        if self._logger is None:
            import logging

            self._logger = logging.getLogger(self._name)
        return getattr(self._logger, attribute)
