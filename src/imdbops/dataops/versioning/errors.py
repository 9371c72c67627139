"""Versioning errors: each names the object (md5), where it was looked for, and the fix."""

from __future__ import annotations


class VersioningError(ValueError):
    pass


class MissingObjectError(VersioningError):
    def __init__(self, md5: str, where: str, hint: str = ""):
        self.md5, self.where = md5, where
        super().__init__(f"object {md5} is missing from {where}" + (f"; {hint}" if hint else ""))


class CorruptObjectError(VersioningError):
    def __init__(self, md5: str, where: str, actual: str):
        self.md5, self.where, self.actual = md5, where, actual
        super().__init__(
            f"object {md5} in {where} is corrupted ({actual}); "
            "the working file was left untouched. Delete the bad object and push it again "
            "from a copy that has the right content"
        )


class ChangedWhileReadingError(VersioningError):
    def __init__(self, path: str):
        super().__init__(
            f"{path} changed while it was being read; nothing was stored. "
            "Add it again once whatever writes it has finished"
        )
