"""Errors of the job machinery that a user can act on."""

from ffui.errors import FfuiError


class JobError(FfuiError):
    """A run cannot be created, started or changed as asked; str() is one line saying why and what to do."""


class UnknownJob(JobError):
    """A row names a job kind or an executor this ffui does not have (a newer ffui made it):
    its supervisor fails it with this line instead of running it as something else."""

    def __init__(self, what: str, name: str, known: list[str]):
        super().__init__(f"this run is a job of {what} {name!r}, which this ffui does not know "
                         f"(it knows {', '.join(known)}); was it made by a newer ffui? upgrade ffui to run it")
