"""One segmented, fsync'd, checksummed log under the spool and every outbox (README.md)."""

from collector.log.cursors import Position
from collector.log.format import frame
from collector.log.segments import LogError, LogFull, Record, SegmentLog

__all__ = ["LogError", "LogFull", "Position", "Record", "SegmentLog", "frame"]
