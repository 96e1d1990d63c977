"""The one mark of a failure whose message says everything (bad data, impossible settings, a diverged
training, an unreachable cluster): it is reported as that one line, never with a traceback. Any other
exception is a defect and keeps its traceback in the run's log."""


class Explained(Exception):
    """A failure the user can act on from its message alone."""


class ExportError(Explained, RuntimeError):
    """A figure, table or model that cannot be written (format, missing browser, the converter's message)."""
