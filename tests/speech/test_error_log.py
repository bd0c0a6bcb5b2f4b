"""How endpoint failures are named to people: the backup notice's details, `parla synth`'s
source, and the last failure per server (`/server usage`)."""

from __future__ import annotations

from bot.speech.error_log import LastErrors, error_label, with_details
from bot.speech.errors import AuthError, NetworkError, ServerError
from bot.speech.stack import SpeechStack
from tests.standins.clock import ManualClock

NOTICE = "The main voice service is unavailable right now, so a backup voice is speaking."


def test_details_read_like_every_other_api_error() -> None:
    err = AuthError("bad key", status=401, code="InvalidApiKey", request_id="abc-123")
    text = with_details(NOTICE, err)
    assert text == f"{NOTICE} (code InvalidApiKey, request id abc-123)"
    # the same form as the error's own sentence
    assert err.user_message() == f"{err.sentence} (code InvalidApiKey, request id abc-123)"
    assert with_details(NOTICE, None) == NOTICE
    assert with_details(NOTICE, NetworkError("refused")) == f"{NOTICE} (NetworkError)"


def test_labels() -> None:
    assert error_label(AuthError(code="InvalidApiKey")) == "InvalidApiKey"
    assert error_label(ServerError(status=503)) == "HTTP 503"
    assert error_label(NetworkError()) == "NetworkError"


def test_last_error_per_server() -> None:
    clock = ManualClock(1_700_000_000.0)
    last = LastErrors(capacity=2, clock=clock)
    assert last.get(1) is None
    last.record(1, AuthError(code="InvalidApiKey", request_id="r1"))
    clock.advance(5)
    seen = last.record(1, ServerError(status=500, code="InternalError", request_id="r2"))
    assert last.get(1) == seen and seen.at == 1_700_000_005.0
    assert seen.describe() == "InternalError, request id r2"
    last.record(2, NetworkError())
    last.record(3, NetworkError())
    assert last.get(1) is None  # bounded


def test_synth_source_names_the_code_and_request_id() -> None:
    stack = SpeechStack(engine=None, cache=None, client=object())  # type: ignore[arg-type]
    assert stack.served_by(None) == "endpoint"  # type: ignore[arg-type]
    stack.note_fallback(AuthError(code="InvalidApiKey", request_id="rid-9"))
    assert stack.served_by(None) == "local engine (endpoint: InvalidApiKey, request id rid-9)"  # type: ignore[arg-type]
