"""Verification of a running cluster built by this project (`make verify INVENTORY=...`)."""
