"""The REST API under /v1: parse, call one service, serialize."""

from kassa.api.app import create_app

__all__ = ["create_app"]
