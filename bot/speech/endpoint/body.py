"""The JSON body of one request to the endpoint, in the relay or the DashScope-native style."""

from __future__ import annotations

from typing import Any

from bot.base.config import ApiStyle
from bot.speech.request import SpeechRequest


def request_body(req: SpeechRequest, *, api_style: ApiStyle, model: str) -> dict[str, Any]:
    """The JSON body for one request (unset optional fields are omitted, never null)."""
    options: dict[str, Any] = {}
    if req.instructions:
        options["instructions"] = req.instructions
    if req.optimize_instructions is not None:
        options["optimize_instructions"] = req.optimize_instructions
    if api_style == "dashscope":
        body: dict[str, Any] = {
            "model": model,
            "input": {"text": req.text, "voice": req.voice, "language_type": req.language},
        }
        if options:
            body["parameters"] = options
        return body
    return {
        "model": model,
        "input": req.text,
        "voice": req.voice,
        "language_type": req.language,
        **options,
    }
