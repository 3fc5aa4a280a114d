"""Scheduled and queued work, as plain functions of the services."""
