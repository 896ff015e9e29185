#!/usr/bin/python3
"""Token compression maps computed independently of engramctl, with Python's
standard library only (unicodedata, re, json), for the compression-map tests.

It restates the reference (CompressedTokenizer._build_lookup_table in
DeepSeek's engram_demo_v1.py, which uses HF tokenizers):

  for tid in range(len(tokenizer)):
      text = tokenizer.decode([tid])          # byte-level decoder here
      if "\\ufffd" in text: key = tokenizer.convert_ids_to_tokens(tid)
      else: key = normalizer(text) or text
      the key's id: first-seen order

with the normaliser NFKC, NFD, StripAccents, Lowercase, Replace([ \\t\\r\\n]+,
" "), Replace(^ $, U+E000), Strip, Replace(U+E000, " ").

Where Python's obvious spelling differs from the HF normalisers, this script
follows HF (their Rust code), not the one-liner:
  * Lowercase is Rust's char::to_lowercase per code point: str.lower() on a
    whole string applies the final-sigma rule ("ΟΔΟΣ" -> "οδος"), HF does
    not ("οδοσ"); so lower() is applied one code point at a time.
  * Strip trims Rust's char::is_whitespace (the White_Space property):
    str.strip() also trims U+001C..U+001F, which are not White_Space; so the
    set is spelt out below.
  * StripAccents drops General_Category M* (Mn, Mc, Me), not only code
    points with a canonical combining class (unicodedata.combining()).
  * Unicode versions: unicodedata here is Unicode 14.0 (Python 3.11), ICU
    in the C++ build 15.0 (Debian 12's ICU 72), HF's crates their own. They
    can differ only on code points assigned after the older version; the
    fixtures below use none.

Usage:
  compression_map_reference.py --write-fixtures DIR
      writes DIR/<name>.tokenizer.json for each fixture and DIR/manifest.json
      ({"fixtures": [{"name", "tokenizer", "lookup", "tokenizer_vocab"}]})
  compression_map_reference.py --tokenizer tokenizer.json
      prints {"raw_vocab", "tokenizer_vocab", "lookup"} for any byte-level
      tokenizer.json (e.g. to check a real model's map by hand)
"""

import argparse
import json
import os
import re
import sys
import unicodedata

SENTINEL = "\ue000"

# The White_Space property (Unicode PropList.txt), what Rust's
# char::is_whitespace tests.
WHITE_SPACE = frozenset(
    [chr(c) for c in range(0x09, 0x0E)]
    + ["\u0020", "\u0085", "\u00a0", "\u1680"]
    + [chr(c) for c in range(0x2000, 0x200B)]
    + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"])


def bytes_to_unicode():
    """GPT-2's byte -> character alphabet of byte-level BPE."""
    bs = (list(range(ord("!"), ord("~") + 1))
          + list(range(ord("\u00a1"), ord("\u00ac") + 1))
          + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def byte_level(data):
    """The token string of byte-level BPE for bytes `data`."""
    return "".join(BYTE_TO_CHAR[b] for b in data)


def decode(token, decoder):
    """The bytes HF's decoder makes of one token."""
    if decoder is None:
        return token.encode("utf-8")
    if all(c in CHAR_TO_BYTE for c in token):
        return bytes(CHAR_TO_BYTE[c] for c in token)
    return token.encode("utf-8")  # HF keeps such a token as it is.


def strip_white_space(text):
    begin, end = 0, len(text)
    while begin < end and text[begin] in WHITE_SPACE:
        begin += 1
    while end > begin and text[end - 1] in WHITE_SPACE:
        end -= 1
    return text[begin:end]


def normalize(text):
    text = unicodedata.normalize("NFKC", text)
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if not unicodedata.category(c).startswith("M"))
    text = "".join(c.lower() for c in text)
    text = re.sub(r"[ \t\r\n]+", " ", text)
    if text == " ":
        text = SENTINEL
    text = strip_white_space(text)
    return text.replace(SENTINEL, " ")


def tokens_by_id(tokenizer):
    tokens = {}
    for token, tid in tokenizer["model"]["vocab"].items():
        tokens[tid] = token
    for added in tokenizer.get("added_tokens") or []:
        tokens[added["id"]] = added["content"]
    assert sorted(tokens) == list(range(len(tokens))), "ids must be 0..N-1"
    return [tokens[i] for i in range(len(tokens))]


def build_lookup(tokenizer):
    decoder = tokenizer.get("decoder")
    if decoder is not None:
        assert decoder["type"] == "ByteLevel", decoder
    key_to_new = {}
    lookup = []
    for token in tokens_by_id(tokenizer):
        text = decode(token, decoder).decode("utf-8", errors="replace")
        if "\ufffd" in text:
            key = token
        else:
            key = normalize(text) or text
        lookup.append(key_to_new.setdefault(key, len(key_to_new)))
    return lookup, len(key_to_new)


def tokenizer_json(texts, added=()):
    """A byte-level BPE tokenizer.json: token i spells texts[i] (str or
    bytes); `added` are (content, special) added tokens after them."""
    vocab = {}
    for text in texts:
        data = text.encode("utf-8") if isinstance(text, str) else text
        token = byte_level(data)
        assert token not in vocab, token
        vocab[token] = len(vocab)
    added_tokens = []
    for content, special in added:
        added_tokens.append({"id": len(vocab) + len(added_tokens),
                             "content": content, "single_word": False,
                             "lstrip": False, "rstrip": False,
                             "normalized": not special, "special": special})
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": added_tokens, "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                          "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True,
                    "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False,
                  "byte_fallback": False, "vocab": vocab, "merges": []},
    }


FIXTURES = {
    "accents": tokenizer_json([
        "caf\u00e9", "cafe", "Caf\u00e9", "CAF\u00c9", "e\u0301", "\u00e9",
        "e", "na\u00efve", "naive", "\u00c5ngstr\u00f6m", "angstrom",
        "\u0301", "\u0300", "\u0915\u093e", "\u0915", "\u1ec7", "\ud55c",
        "\u1112\u1161\u11ab"]),
    "fullwidth": tokenizer_json([
        "\uff21\uff22\uff23", "abc", "\uff11\uff12\uff13", "123", "\ufb01",
        "fi", "\u216b", "xii", "\u339e", "km", "\uff5c", "|", "\u2460", "1",
        "\u00bd", "1\u20442"]),
    "case": tokenizer_json([
        "Hello", "HELLO", "hello", " Hello", "\u03a3", "\u03c3", "\u03c2",
        "\u039f\u0394\u039f\u03a3", "\u03bf\u03b4\u03bf\u03c3", "\u0130",
        "i\u0307", "I", "i", "\u00df", "SS", "ss", "\u1e9e", "\u01c5"]),
    "whitespace": tokenizer_json([
        " ", "  ", "\t", "\n", "\r\n", " \t ", "\u00a0", "\u3000", "\u2028",
        "\u2029", "\x0b", "\x0c", "\x85", "\x1c", "a\x1c", "a", " a", "a ",
        "a b", "a  b", "a\tb", "a\n\nb", "a\u2028b", "\ue000", "a\ue000",
        ""]),
    "partial_utf8": tokenizer_json([
        b"\xc3", b"\xa9", b"\xc3\xa9", b"\xe4\xb8", b"\xad",
        b"\xe4\xb8\xad", b"\xef\xbf\xbd", b"\xff", b"\xf0\x9f",
        b"\xf0\x9f\x98\x80", b" \xc3", b"e", b"\xed\xa0\x80"]),
    "added_tokens": tokenizer_json(
        ["<s>", "hello", "caf"],
        added=[("<\uff5cbegin\u2581of\u2581sentence\uff5c>", True),
               ("<|endoftext|>", True), ("<S>", True), ("HELLO", False),
               ("caf\u00e9", False), ("  ", False),
               ("<|begin\u2581of\u2581sentence|>", True)]),
    # A GPT-2-like start: every byte alone, then a few merges.
    "all_bytes": tokenizer_json(
        [bytes([b]) for b in range(256)]
        + [" the", " The", "THE", "\u00e9t\u00e9", "ete", "\n\n", "  ",
           "\u4e2d\u6587"]),
}


def write_fixtures(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    manifest = []
    for name, tokenizer in FIXTURES.items():
        path = os.path.join(out_dir, name + ".tokenizer.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(tokenizer, f, ensure_ascii=False, indent=1)
        lookup, vocab = build_lookup(tokenizer)
        manifest.append({"name": name, "tokenizer": path, "lookup": lookup,
                         "tokenizer_vocab": vocab})
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump({"fixtures": manifest}, f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write-fixtures", metavar="DIR")
    group.add_argument("--tokenizer", metavar="FILE")
    args = parser.parse_args()
    if args.write_fixtures:
        write_fixtures(args.write_fixtures)
        return 0
    with open(args.tokenizer, encoding="utf-8") as f:
        tokenizer = json.load(f)
    lookup, vocab = build_lookup(tokenizer)
    json.dump({"raw_vocab": len(lookup), "tokenizer_vocab": vocab,
               "lookup": lookup}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
