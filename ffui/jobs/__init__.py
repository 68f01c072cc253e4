"""The job machinery: the manager (what the CLI and the TUI call), the queue, one detached
supervisor per job, job kinds (what a job does: ffui.jobs.kinds) and executors (where its
worker runs: ffui.jobs.executors). docs/jobs.md describes the whole.

Light to import (no torch): the CLI and the TUI call these functions directly.
"""
