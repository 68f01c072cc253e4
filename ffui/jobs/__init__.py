"""The job manager: runs as detached supervisor processes, a queue, cancel and resume.

Light to import (no torch): the CLI and the TUI call these functions directly.
"""
