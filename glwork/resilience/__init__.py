"""Retries, rate limiting, provider fallback and budgets (workshop Part 4, Part 7 §5).

Import the parts directly (`glwork.resilience.limiter`); this package imports nothing heavy.
"""
