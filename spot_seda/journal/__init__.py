"""The durable command journal (DESIGN.md section 7): `Journal` writes it (journal/writer.py: appends,
group commit, the fsync policies), journal/frames.py holds its file format and reads it back."""

from .frames import (HEADER_BYTES, POLICIES, FsyncPolicy, JournalCorruptError, JournalError, JournalLocked,
                     RecoveryReport, segment_name)
from .writer import Journal

__all__ = [
    "Journal",
    "RecoveryReport",
    "JournalError",
    "JournalCorruptError",
    "JournalLocked",
    "HEADER_BYTES",
    "POLICIES",
    "FsyncPolicy",
    "segment_name",
]
