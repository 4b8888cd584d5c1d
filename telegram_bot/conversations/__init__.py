"""Guided conversations, one per file: named states, one small function per step, one table."""
