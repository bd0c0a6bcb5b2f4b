"""The audio cache key: a SHA-256 over everything that changes the sound of a request."""

from __future__ import annotations

import hashlib
import json

from bot.speech.request import SpeechRequest

# Bump when the canonical encoding (or the meaning of a field) changes: old entries then
# simply stop matching and age out of the cache.
KEY_VERSION = 1

DEFAULT_OUTPUT_FORMAT = "pcm_s16le"


def canonical_fields(
    request: SpeechRequest, engine_name: str, *, output_format: str = DEFAULT_OUTPUT_FORMAT
) -> dict[str, object]:
    """The fields hashed by `cache_key`, in canonical form (see `cache_key` for the rules)."""
    req = request.validated()
    return {
        "v": KEY_VERSION,
        "engine": engine_name,
        "text": req.text,
        "voice": req.voice,
        "language": req.language,
        "instructions": req.instructions or "",
        "optimize_instructions": req.optimize_instructions,
        "format": output_format,
    }


def cache_key(request: SpeechRequest, engine_name: str, *, output_format: str = DEFAULT_OUTPUT_FORMAT) -> str:
    """Hex SHA-256 identifying the sound `engine_name` makes for `request`.

    The hash covers a versioned, sorted-key JSON encoding (so no text can imitate a field
    separator) of: the engine name (which carries endpoint style and model, e.g.
    "api:relay:qwen3-tts-instruct-flash" or "local:espeak-ng"), the input text after
    `request.validated()` (sanitised, Unicode NFC, surrounding whitespace stripped), voice
    (canonical spelling), language, instructions, optimize_instructions and the output format.

    Which spellings are the same request:
    - language unset/empty == "Auto", and language/voice names are case-insensitive;
    - instructions None == "" == whitespace only (all mean: no style);
    - text differing only in surrounding whitespace or Unicode normalisation (NFC vs NFD)
      is the same text; inner whitespace and letter case are NOT normalised.
    - optimize_instructions None means "not sent, server default". The relay does not
      document that default, so None, False and True are three different keys.

    Raises InputError when the request is not valid (empty text, unknown voice, ...).
    """
    fields = canonical_fields(request, engine_name, output_format=output_format)
    encoded = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def opus_key(key: str, profile: str) -> str:
    """Hex SHA-256 naming the Opus packets of the audio `key` for one encoder profile."""
    encoded = json.dumps({"v": KEY_VERSION, "audio": key, "opus": profile}, sort_keys=True)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
