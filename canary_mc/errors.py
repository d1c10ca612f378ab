"""Typed exceptions raised by the core; only the CLI turns them into exit codes.

Every user-facing problem is a :class:`CanaryMCError`. The CLI prints its message and
exits with code 2, without a traceback. Library code never exits or prints.
"""

from __future__ import annotations

from dataclasses import dataclass


class CanaryMCError(Exception):
    """Base class for errors caused by the user's input (files, values, options)."""


@dataclass(frozen=True)
class Problem:
    """One problem found in an experiment file.

    Attributes
    ----------
    file : str
        Path of the file, as given by the user.
    line, col : int or None
        1-based position of the offending key or value; ``None`` when unknown.
    path : str
        Dotted field path, e.g. ``policy.stages[1].traffic_pct``.
    message : str
        What is wrong, naming the rule and the bad value.
    """

    file: str
    line: int | None
    col: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.col if self.col is not None else 1}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ExperimentFileError(CanaryMCError):
    """An experiment file could not be read or is invalid; holds every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(CanaryMCError):
    """A value given outside a file (a CLI option, a function argument) breaks a rule."""


class ResultsError(CanaryMCError):
    """A results folder is missing, incomplete or unreadable (e.g. no ``summary.parquet``)."""


class FitInputError(CanaryMCError):
    """A metrics export given to ``fit`` cannot be read or fitted; names the file."""


class ManifestError(ExperimentFileError):
    """A Kubernetes manifest or a Kayenta config could not be read; every problem located."""


class OutputError(CanaryMCError):
    """An output file or folder cannot be written (not a folder, read-only, disk full)."""

    def __init__(self, path: object, exc: OSError) -> None:
        self.path = path
        reason = exc.strerror or str(exc) or type(exc).__name__
        super().__init__(f"cannot write {path}: {reason}")


class LockedError(CanaryMCError):
    """Another run holds the lock of a results folder."""


class WorkerLostError(CanaryMCError):
    """A worker process died mid-sweep; what it computed is lost, the rest is saved."""
