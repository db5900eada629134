"""Failure knobs that tests turn at run time. Each knob answers ``times`` requests
and is then used up, so a test states exactly how many failures a client meets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Fault", "Faults"]

Endpoint = Literal["authorize", "token", "revoke"]
_ENDPOINTS = ("authorize", "token", "revoke")


@dataclass
class Fault:
    """One armed failure. ``kind`` is ``fail``, ``raw``, ``truncate`` or ``delay``."""

    kind: str
    endpoint: str
    times: int
    status: int = 500
    error: str = "server_error"
    description: str = ""
    error_code: str = "CMN-201"
    body: bytes = b""
    content_type: str = "text/plain"
    seconds: float = 0.0


class Faults:
    """The armed failures of one emulator app, kept as ``app[FAULTS]``."""

    def __init__(self) -> None:
        self._armed: list[Fault] = []
        self._invalid_grants = 0

    def fail(
        self,
        endpoint: Endpoint,
        *,
        status: int = 500,
        error: str = "server_error",
        description: str = "Internal server error",
        error_code: str = "CMN-201",
        times: int = 1,
    ) -> None:
        """Answer a RingCentral-style JSON error with ``status``."""
        self._arm(
            Fault(
                "fail",
                endpoint,
                times,
                status=status,
                error=error,
                description=description,
                error_code=error_code,
            )
        )

    def raw(
        self,
        endpoint: Endpoint,
        *,
        status: int,
        body: bytes,
        content_type: str = "text/html",
        times: int = 1,
    ) -> None:
        """Answer ``body`` as it is, e.g. a proxy's HTML 502 page."""
        self._arm(
            Fault(
                "raw",
                endpoint,
                times,
                status=status,
                body=body,
                content_type=content_type,
            )
        )

    def truncate(self, endpoint: Endpoint, times: int = 1) -> None:
        """Promise a longer body than is sent, then drop the connection."""
        self._arm(Fault("truncate", endpoint, times))

    def delay(self, endpoint: Endpoint, seconds: float, times: int = 1) -> None:
        """Wait ``seconds`` before answering (normally, or with another fault)."""
        self._arm(Fault("delay", endpoint, times, seconds=seconds))

    def invalid_grant(self, times: int = 1) -> None:
        """Refuse the next refresh with ``invalid_grant`` (the session is kept)."""
        _check_times(times)
        self._invalid_grants += times

    def take_delay(self, endpoint: str) -> float:
        """Seconds to wait before this request: 0 unless a delay is armed."""
        fault = self._take(endpoint, ("delay",))
        return fault.seconds if fault else 0.0

    def take_answer(self, endpoint: str) -> Fault | None:
        """The ``fail``, ``raw`` or ``truncate`` fault this request meets, if any."""
        return self._take(endpoint, ("fail", "raw", "truncate"))

    def take_invalid_grant(self) -> bool:
        if self._invalid_grants == 0:
            return False
        self._invalid_grants -= 1
        return True

    def _arm(self, fault: Fault) -> None:
        if fault.endpoint not in _ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(_ENDPOINTS)}")
        _check_times(fault.times)
        self._armed.append(fault)

    def _take(self, endpoint: str, kinds: tuple[str, ...]) -> Fault | None:
        for fault in self._armed:
            if fault.endpoint == endpoint and fault.kind in kinds:
                fault.times -= 1
                if fault.times == 0:
                    self._armed.remove(fault)
                return fault
        return None


def _check_times(times: int) -> None:
    if times < 1:
        raise ValueError("times must be at least 1")
