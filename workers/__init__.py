"""Scheduler, RQ jobs, exchange gateway, market data and order execution."""
