"""Every error Kassa raises on purpose. The API maps these to HTTP statuses once, in `api/`."""

from __future__ import annotations


class KassaError(Exception):
    """Base of Kassa's own errors: a machine-readable code, a message and the parameter at fault."""

    type = "api_error"
    code = "error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(KassaError):
    """The request is malformed or asks for something impossible (HTTP 400)."""

    type = "invalid_request_error"
    code = "parameter_invalid"


class InvalidState(InvalidRequest):
    """The object is in a state that does not allow the operation (HTTP 400)."""

    code = "resource_invalid_state"


class NotFound(KassaError):
    """No such object in this organization (HTTP 404)."""

    type = "invalid_request_error"
    code = "resource_missing"


class Conflict(KassaError):
    """The request conflicts with another one, e.g. an idempotency key reused (HTTP 409)."""

    type = "idempotency_error"
    code = "idempotency_key_reused"


class ResourceConflict(Conflict):
    """The object is already bound by another change, e.g. an item already migrating (409)."""

    type = "invalid_request_error"
    code = "resource_conflict"


class AuthenticationFailed(KassaError):
    """No valid API key was given (HTTP 401)."""

    type = "authentication_error"
    code = "api_key_invalid"


class PayloadTooLarge(InvalidRequest):
    """The request body is larger than the endpoint accepts (HTTP 413)."""

    code = "request_too_large"


class ExchangeRateMissing(InvalidRequest):
    """No stored exchange rate converts between two currencies on a date (HTTP 400)."""

    code = "exchange_rate_missing"


class PaymentFailed(KassaError):
    """A charge was declined or needs the customer (HTTP 402); the attempt is recorded."""

    type = "card_error"
    code = "card_declined"
