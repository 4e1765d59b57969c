"""The one error the backup tool reports to people: a sentence, no traceback."""


class BackupError(Exception):
    """A refused or failed backup step. Restores raise it before (or instead of) changing anything."""
