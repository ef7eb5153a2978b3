"""Cleaning arXiv's TeX-flavoured text for display and search; the original is kept elsewhere.

arXiv metadata carries accents as TeX (``Schr\\"odinger``, ``Bal\\'azs``,
``{\\o}``) and hard line breaks from the submission form. Search must match
"Schrödinger", and the page must not show backslashes, so accents become
Unicode (composed, NFC) and wrapped lines are joined. Maths (``$...$``,
``\\(...\\)``, ``\\[...\\]``) is left untouched for KaTeX, which renders it in the paper pages.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_abstract", "clean_name", "clean_title", "split_authors", "tex_to_unicode"]

_COMBINING = {
    '"': "\u0308",
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "k": "\u0328",
    "r": "\u030a",
    "d": "\u0323",
    "b": "\u0331",
}
_LETTERS = {
    "ss": "ß",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "aa": "å",
    "AA": "Å",
    "o": "ø",
    "O": "Ø",
    "l": "ł",
    "L": "Ł",
    "i": "ı",
    "j": "ȷ",
}
_BASE = r"(?:\\[ij](?![A-Za-z])|[A-Za-z])"
# \"o  \"{o}  \" o  {\"o}  \'{\i}
_SYMBOL_ACCENT_RE = re.compile(r"\\([\"'`^~=.])\s*(?:\{\s*(" + _BASE + r")\s*\}|(" + _BASE + r"))")
# \v{c}  \c c  \H{o}  (a letter accent needs braces or a space, else it is a macro name)
_LETTER_ACCENT_RE = re.compile(r"\\([uvHckrdb])(?:\s*\{\s*(" + _BASE + r")\s*\}|\s+(" + _BASE + r"))")
_SPECIAL_RE = re.compile(r"\\(ss|ae|AE|oe|OE|aa|AA|o|O|l|L|i|j)(?![A-Za-z])(?:\{\}| (?=[A-Za-z]))?")
_BRACED_CHAR_RE = re.compile(r"\{([^\x00-\x7f])\}")
_MATH_RE = re.compile(r"(\$\$.*?\$\$|\$.*?\$|\\\(.*?\\\)|\\\[.*?\\\])", re.DOTALL)
_WS_RE = re.compile(r"\s+")
_PARA_RE = re.compile(r"\n[ \t]+")
_SPLIT_RE = re.compile(r"\s*[,;\n]\s*|\s+and\s+", re.IGNORECASE)


def _accent(m: re.Match[str]) -> str:
    base = m.group(2) or m.group(3)
    if base in ("\\i", "\\j"):
        base = base[1]  # an accent on a dotless i is just an accented i
    return unicodedata.normalize("NFC", base + _COMBINING[m.group(1)])


def _text_part(s: str) -> str:
    if "\\" not in s:
        return s
    s = _SYMBOL_ACCENT_RE.sub(_accent, s)
    s = _LETTER_ACCENT_RE.sub(_accent, s)
    s = _SPECIAL_RE.sub(lambda m: _LETTERS[m.group(1)], s)
    return _BRACED_CHAR_RE.sub(r"\1", s)


def tex_to_unicode(text: str) -> str:
    """TeX accent commands outside maths become composed Unicode letters."""
    if "\\" not in text:
        return text
    parts = _MATH_RE.split(text)
    # odd indexes are maths, kept verbatim
    return "".join(p if i % 2 else _text_part(p) for i, p in enumerate(parts))


def _one_line(text: str) -> str:
    if "\\" in text:
        text = tex_to_unicode(text)
    if "  " in text or "\n" in text or "\t" in text or "\r" in text:
        text = _WS_RE.sub(" ", text)
    return text.strip()


def clean_title(text: str) -> str:
    """A title on one line: accents decoded, hard wraps and runs of spaces collapsed."""
    return _one_line(text)


def clean_abstract(text: str) -> str:
    """An abstract with wrapped lines joined; arXiv's indented lines start new paragraphs."""
    text = tex_to_unicode(text).strip()
    paragraphs = (_WS_RE.sub(" ", p).strip() for p in _PARA_RE.split(text))
    return "\n".join(p for p in paragraphs if p)


def clean_name(text: str) -> str:
    """One author's name for display and search."""
    return _one_line(text)


def split_authors(raw: str) -> list[str]:
    """arXiv's author string ("A, B and C (Inst)") as an ordered list of cleaned names.

    Commas and a final "and" separate authors; parenthesised affiliations are dropped;
    commas inside braces or parentheses do not split.
    """
    if "(" not in raw and "{" not in raw:  # the common case, done by one regex
        return _clean_names(_SPLIT_RE.split(raw))
    names: list[str] = []
    buf: list[str] = []
    depth = 0
    paren = 0
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        elif ch == "(" and depth == 0:
            paren += 1
            i += 1
            continue
        elif ch == ")" and depth == 0 and paren:
            paren -= 1
            i += 1
            continue
        if paren:
            i += 1
            continue
        if depth == 0 and (ch in ",;\n" or _is_and(raw, i)):
            names.append("".join(buf))
            buf = []
            i += 1 if ch in ",;\n" else 5
            continue
        buf.append(ch)
        i += 1
    names.append("".join(buf))
    return _clean_names(names)


def _clean_names(names: list[str]) -> list[str]:
    out = []
    for name in names:
        cleaned = clean_name(name)
        if cleaned.lower().startswith("and "):
            cleaned = cleaned[4:].strip()
        if cleaned and cleaned.lower() not in ("et al", "et al.", "and"):
            out.append(cleaned)
    return out


def _is_and(raw: str, i: int) -> bool:
    return raw[i].isspace() and raw[i + 1 : i + 5].lower() == "and " and i + 5 <= len(raw)
