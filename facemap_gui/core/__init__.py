"""Plumbing every stage uses: errors, option names, whole-file writes, digests, native-library quieting,
timing statistics, host checks, the one-slot mailbox and where files live. Imports nothing else of the app."""
