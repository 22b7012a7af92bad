"""User-facing errors.

Every failure a user can cause (bad input file, corrupt stream, missing model, wrong
sample rate) raises a subclass of :class:`AvfrError`. Its message is a single line that says
what is wrong and what to do; the CLI prints exactly that line and exits non-zero, so no
traceback ever reaches a user for a problem they can fix.
"""


class AvfrError(Exception):
    """Base class: one line, what is wrong and what to do."""

    exit_code = 2


class InputError(AvfrError):
    """An input file cannot be read, has no video/audio we need, or has no face."""


class NoFaceError(InputError):
    """No face was found where one is required (the keyframe of a stream)."""


class StreamError(AvfrError):
    """A .avfr stream is corrupt, truncated, of another format or of an unsupported version."""


class ModelError(AvfrError):
    """A model file is missing, unreadable or does not match what the stream needs."""


class Interrupted(AvfrError):
    """The user stopped a long job (Ctrl-C); what it finished is kept, and the line says how to go on."""

    exit_code = 130  # the shell's code for a SIGINT stop


class OutputExistsError(AvfrError):
    """An output file exists and --force was not given."""
