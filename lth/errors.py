"""The one mark of a failure whose message says everything (bad data, impossible settings, a diverged
training, an unreachable cluster): it is reported as that one line, never with a traceback. Any other
exception is a defect and keeps its traceback in the run's log."""


class Explained(Exception):
    """A failure the user can act on from its message alone."""


class ExportError(Explained, RuntimeError):
    """A figure, table or model that cannot be written (format, missing browser, the converter's message)."""


class naming:
    """`with naming(path):` an OSError raised inside names `path` where it names no file (a write that fails on a
    full disk names none), so its one-line message says where."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, OSError) and error.filename is None:
            error.filename = str(self.path)
        return False
