"""Errors of the job machinery that a user can act on."""

from ffui.errors import FfuiError


class JobError(FfuiError):
    """A run cannot be created, started or changed as asked; str() is one line saying why and what to do."""
