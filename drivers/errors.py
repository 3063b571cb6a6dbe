"""FAIL or ERROR: which side of the cable is wrong.

A `DutError` means the board answered, and answered wrongly: a NACK to a valid request, a reply
of another type, an echo that differs, an identity that does not parse. The board is out of its
specification, and the step is FAIL, as an assertion on a measurement would make it.

Anything else that stops a step (a port that vanished, an instrument that timed out, a bug) is
ERROR: the bench could not test, and the board's verdict is unknown.
"""

from __future__ import annotations


class DutError(Exception):
    """The board answered out of its specification (the step FAILs)."""


class NackError(DutError):
    """The board refused a valid request; `code` is the board's own refusal code."""

    def __init__(self, message: str, code: int | str) -> None:
        super().__init__(message)
        self.code = code


class ReplyMismatchError(DutError):
    """The reply paired with a request is not its answer (another type, a wrong echo)."""


class IdentityError(DutError):
    """The board's identity does not parse into the kit's identity schema."""


class ResourceLostError(Exception):
    """A port, an instrument or a radio link the bench needs has gone: the run stops, since every
    later step would fail for the same reason and say nothing about the board."""
