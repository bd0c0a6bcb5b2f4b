"""One exception type per failure kind, carrying the API code and request id.

Every error has `user_message()` (a short sentence for a Discord member, with the code and
request id) and `log_form()` (one line for the logs). Messages are scrubbed of secrets.
"""

from __future__ import annotations

from typing import ClassVar

from bot.base.errors import ParlaError
from bot.base.i18n import join, say
from bot.base.secrets import redact


class TTSError(ParlaError):
    """A failure of the speech endpoint (or of reaching it)."""

    sentence: ClassVar[str] = say("error.tts.failed")
    retryable_default: ClassVar[bool] = False
    # Whether the failure is the user's to fix (no fallback engine, no retry).
    user_fault: ClassVar[bool] = False

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        audio_delivered: bool = False,
    ) -> None:
        self.message = redact(message or self.sentence)
        super().__init__(self.message)
        self.status = status
        self.code = code or None
        self.request_id = request_id or None
        self.retryable = self.retryable_default if retryable is None else retryable
        self.retry_after = retry_after
        self.audio_delivered = audio_delivered

    def details(self) -> str:
        """The code (or HTTP status) and request id, as a Text in the reader's language."""
        parts = []
        if self.code:
            parts.append(say("error.detail.code", code=self.code))
        elif self.status is not None:
            parts.append(say("error.detail.http", status=self.status))
        if self.request_id:
            parts.append(say("error.detail.request_id", request_id=self.request_id))
        return join(say("list.separator"), parts)

    def user_message(self) -> str:
        details = self.details()
        return (
            say("error.with_details", sentence=self.sentence, details=details) if details else self.sentence
        )

    def log_form(self) -> str:
        return (
            f"{type(self).__name__} status={self.status} code={self.code} "
            f"request_id={self.request_id} retryable={self.retryable} message={self.message!r}"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.log_form()})"


class AuthError(TTSError):
    sentence = say("error.tts.auth")


class AccessDeniedError(TTSError):
    sentence = say("error.tts.access_denied")


class ModelNotFoundError(TTSError):
    sentence = say("error.tts.model_not_found")


class BadRequestError(TTSError):
    sentence = say("error.tts.bad_request")
    user_fault = True


class ContentRefusedError(TTSError):
    sentence = say("error.tts.content_refused")
    user_fault = True


class BillingError(TTSError):
    sentence = say("error.tts.billing")


class ThrottledError(TTSError):
    sentence = say("error.tts.throttled")
    retryable_default = True


class QuotaExhaustedError(ThrottledError):
    sentence = say("error.tts.quota_exhausted")
    retryable_default = False


class ServerError(TTSError):
    sentence = say("error.tts.server")
    retryable_default = True


class BadResponseError(TTSError):
    sentence = say("error.tts.bad_response")


class NetworkError(TTSError):
    sentence = say("error.tts.network")
    retryable_default = True


class FirstByteTimeoutError(NetworkError):
    sentence = say("error.tts.first_byte_timeout")


class StreamStalledError(TTSError):
    sentence = say("error.tts.stream_stalled")


class StreamIncompleteError(TTSError):
    sentence = say("error.tts.stream_incomplete")


_BY_CODE: dict[str, type[TTSError]] = {
    "InvalidApiKey": AuthError,
    "Arrearage": BillingError,
    "DataInspectionFailed": ContentRefusedError,
    "DataInspection": ContentRefusedError,
    "ModelNotFound": ModelNotFoundError,
    "Model.NotFound": ModelNotFoundError,
    "InvalidParameter": BadRequestError,
    "Throttling": ThrottledError,
    "Throttling.RateQuota": ThrottledError,
    "Throttling.AllocationQuota": QuotaExhaustedError,
    "Throttling.FreeTierOnly": QuotaExhaustedError,
}

_BY_STATUS: dict[int, type[TTSError]] = {
    400: BadRequestError,
    401: AuthError,
    403: AccessDeniedError,
    404: ModelNotFoundError,
    429: ThrottledError,
}


def error_for(
    status: int | None,
    code: str | None,
    message: str | None,
    request_id: str | None,
    *,
    retry_after: float | None = None,
) -> TTSError:
    """Map an endpoint error (HTTP status and DashScope code) to its exception."""
    cls: type[TTSError] | None = None
    if code:
        cls = _BY_CODE.get(code)
        if cls is None:
            if code.startswith("BadRequest"):
                cls = BadRequestError
            elif code.startswith("AccessDenied") or code.endswith("AccessDenied"):
                cls = AccessDeniedError
            elif code.startswith("InternalError"):
                cls = ServerError
            elif code.startswith("Throttling"):
                cls = ThrottledError
            elif code.startswith("DataInspection"):
                cls = ContentRefusedError
    if cls is None and status is not None:
        cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else None)
    if cls is None:
        cls = ServerError if status is None else BadResponseError
    return cls(message or "", status=status, code=code, request_id=request_id, retry_after=retry_after)
