"""Exceptions raised for bad inputs. Each message is one line that names the file and the problem."""

from __future__ import annotations

__all__ = [
    "InputFileError",
    "IrisPipelineError",
    "NoPipelineError",
    "ReferenceFileError",
    "first_line",
]


def first_line(err: BaseException | str) -> str:
    """The first line of an exception's message (or of a text), or its class name when empty."""
    text = str(err)
    return text.splitlines()[0] if text else type(err).__name__


class IrisPipelineError(Exception):
    """Base class of the errors the pipeline reports to users as one line."""


class InputFileError(IrisPipelineError, ValueError):
    """An input file is missing, unreadable or not a valid IRIS/Liger file."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ReferenceFileError(IrisPipelineError):
    """No suitable reference file, or a reference file that is unusable."""


class NoPipelineError(IrisPipelineError):
    """No pipeline is defined for an exposure type, or it is not implemented yet."""
