"""`facemap-gui process DIR_OR_GLOB… --output-dir OUT`: many files, each by the same job function, in this
process, in local worker processes or as Ray tasks (see docs/batch.md)."""

from facemap_gui.batch.run import BatchSettings, run_batch

__all__ = ["BatchSettings", "run_batch"]
