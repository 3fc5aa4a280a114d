"""Kassa: open-source subscription billing and payments for SaaS companies."""

__version__ = "0.1.0"
