"""Bytes to text as Ollama reads a Modelfile, but refusing what it would silently mangle.

Ollama decodes with a byte-order mark choosing UTF-8, UTF-16 LE or UTF-16 BE, and UTF-8
otherwise, replacing undecodable bytes with U+FFFD. lamina decodes the same way but raises
``ModelfileEncodingError`` instead of replacing: a U+FFFD written back by ``fmt`` or baked into a
model by ``create`` would lose the user's bytes without a word.

UTF-16 without a byte-order mark: Ollama reads it as UTF-8, so every other byte is a NUL, and its
parser stops at the first NUL after a keyword with "command must be one of ...". lamina
recognises such text (NULs in alternate bytes, the text decoding as UTF-16) and refuses it with
one message that names the encoding, instead of reading it as Ollama never would.
"""

from __future__ import annotations

import codecs

from .errors import ModelfileEncodingError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"),
)
_SAMPLE = 1024  # bytes looked at to recognise UTF-16 without a BOM
_SAVE_AS = "save it as UTF-8 (or UTF-16 with a byte-order mark)"


def decode(data: bytes, *, file: str | None = None) -> str:
    """Bytes to text: a BOM picks UTF-8 or UTF-16, otherwise UTF-8; invalid bytes raise."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            return _strict(data[len(bom) :], codec, name, file)
    guess = bomless_utf16(data)
    if guess is not None:
        raise ModelfileEncodingError(
            f"the file is {guess} without a byte-order mark, which Ollama cannot read "
            f"(it reads UTF-8 and stops at the first NUL byte); {_SAVE_AS}",
            1, 1, file=file,
        )
    return _strict(data, "utf-8", "UTF-8", file)


def bomless_utf16(data: bytes) -> str | None:
    """"UTF-16 LE" or "UTF-16 BE" when the bytes look like that encoding without a BOM.

    The test: in the first bytes, nearly every pair has exactly one NUL and always on the same
    side (text in the Latin range, as Modelfile keywords are), and the sample decodes.
    """
    sample = data[: min(len(data), _SAMPLE) & ~1]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    low_nul = sum(sample[i] == 0 and sample[i + 1] != 0 for i in range(0, len(sample), 2))
    high_nul = sum(sample[i + 1] == 0 and sample[i] != 0 for i in range(0, len(sample), 2))
    for count, codec, name in ((high_nul, "utf-16-le", "UTF-16 LE"),
                               (low_nul, "utf-16-be", "UTF-16 BE")):
        if count * 10 >= pairs * 9:
            try:
                sample.decode(codec)
            except UnicodeDecodeError:
                # A sample cut in a surrogate pair can fail only at its very end.
                if not _decodes_but_the_end(sample, codec):
                    return None
            return name
    return None


def _decodes_but_the_end(sample: bytes, codec: str) -> bool:
    try:
        sample[:-2].decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _strict(body: bytes, codec: str, name: str, file: str | None) -> str:
    try:
        return body.decode(codec)
    except UnicodeDecodeError as exc:
        line, column = _place(body[: exc.start].decode(codec))
        bad = " ".join(f"0x{byte:02X}" for byte in body[exc.start : exc.end][:4])
        raise ModelfileEncodingError(
            f"not valid {name}: {bad} cannot be decoded; lamina does not guess or rewrite "
            f"such bytes: {_SAVE_AS}",
            line, column, file=file,
        ) from None


def _place(before: str) -> tuple[int, int]:
    """1-based line and column just after ``before``, CRLF, CR and LF each ending a line."""
    lines = before.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return len(lines), len(lines[-1]) + 1


__all__ = ["bomless_utf16", "decode"]
