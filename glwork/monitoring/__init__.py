"""Pricing, cost ledger, provider health and cost alerts (Part 5)."""
