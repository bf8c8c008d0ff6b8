"""`llmkit tokenizer train` (byte-level BPE) against Hugging Face `tokenizers`:
(a) the tokenizer.json we write loads with `Tokenizer.from_file`, and HF's ids equal `llmkit tokenize
    tokenizer.json --ids` on held-out strings (Unicode, emoji, ZWJ, CJK, code, whitespace runs, digits, the
    special token) and on ~300 KB of mixed held-out text (test_tokenize's generator: stdlib code, package docs,
    synthesized Unicode); decode(encode(x)) == x;
(b) HF's own BpeTrainer (same vocabulary size, min_frequency, special token, the 256-byte initial alphabet, the
    ByteLevel pre-tokenizer with the GPT-2 regex) on the same corpus learns the same merges in the same order and
    the same vocabulary — our trainer follows its algorithm and tie-break. One intended difference: we never learn
    across or from special-token text in the corpus (HF's trainer does not split it out, though its encoder
    does), so HF is given the corpus cut at "<|endoftext|>"; given the uncut text it learns different merges
    around "<|…|>", and the compression of both is printed;
(c) the CLI's figures (vocabulary, chars/token) and its errors.
The corpus is this repository's own docs and comments, collected by `llmkit corpus collect`.
"""
import json
import re

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from conftest import ROOT, llmkit
from test_tokenize import mixed_text

HELD_OUT = [
    "Hello, world! It's a test: don't, won't, we'll, I'd, they've.",
    "naïve café — résumé, Ünïcödé, Ελληνικά, русский, עברית, العربية, हिन्दी",
    "中文汉字とひらがな、カタカナ 한국어 ｆｕｌｌｗｉｄｔｈ",
    "emoji 🙂🚀 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 skin 👍🏽 keycap 1️⃣",
    "func f(x: Int) -> Int {\n\treturn x &* 31 + 0x7F // comment\n}\n",
    "for (let i = 0; i < n; i++) { s += `${a[i]}\\n`; }",
    "    indented\n\n\n\t\ttabs   spaces    \r\n  trailing   ",
    "digits 1234567890 3.14159 1e-10 -42 0b1010 1_000_000",
    "<|endoftext|>after the special<|endoftext|>",
    "a" * 300 + " " + "ab" * 100,
    "\u0000\u0001\u007f\u00a0\u00ad\u200b\ufeff",
    "",
]


def ids_of(tokenizer_json, text, tmp_path):
    f = tmp_path / "text.txt"
    f.write_bytes(text.encode("utf-8"))
    return json.loads(llmkit("tokenize", tokenizer_json, "--file", f, "--ids").stdout)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    out = d / "corpus.txt"
    llmkit("corpus", "collect", ROOT / "Sources", ROOT / "Tests", ROOT / "README.md", "-o", out)
    text = out.read_text(encoding="utf-8")
    assert len(text) > 100_000
    return out, text


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    path, _ = corpus
    d = tmp_path_factory.mktemp("bpe")
    out = d / "tokenizer.json"
    p = llmkit("tokenizer", "train", "--vocab-size", 2000, path, "-o", out)
    return out, p.stdout


def hf_trained(pieces, vocab_size, min_frequency=2):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(pieces, trainer)
    return tok


def merges_of(tok):
    m = json.loads(tok.to_str())["model"]["merges"]
    return [" ".join(x) if isinstance(x, list) else x for x in m]


def test_cli_reports_vocabulary_and_compression(trained, corpus):
    out, stdout = trained
    assert re.search(r"vocabulary: 2000 tokens \(1 special, 256 bytes, \d+ merges\)", stdout), stdout
    m = re.search(r"→ (\d+) tokens: ([\d.]+) characters/token", stdout)
    assert m, stdout
    hf = Tokenizer.from_file(str(out))
    n = len(hf.encode(corpus[1]).ids)
    assert int(m.group(1)) == n
    assert abs(float(m.group(2)) - len(corpus[1]) / n) < 1e-3


def test_hf_loads_and_encodes_the_same_ids(trained, tmp_path):
    out, _ = trained
    hf = Tokenizer.from_file(str(out))
    assert hf.get_vocab_size() == 2000
    for text in HELD_OUT:
        want = hf.encode(text).ids
        assert ids_of(out, text, tmp_path) == want, text
        assert hf.decode(want, skip_special_tokens=False) == text


def test_bulk_held_out_text(trained, tmp_path):
    out, _ = trained
    text = mixed_text(300_000, seed=6, specials=["<|endoftext|>"])
    hf = Tokenizer.from_file(str(out))
    want = hf.encode(text).ids
    got = ids_of(out, text, tmp_path)
    assert len(got) == len(want)
    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
    assert first is None, f"first difference at token {first}: ours {got[first:first + 5]} HF {want[first:first + 5]}"
    print(f"\nheld-out mixed text: {len(text)} chars → {len(want)} tokens ({len(text) / len(want):.3f} chars/token)")


@pytest.mark.parametrize("vocab_size", [400, 2000, 6000])
def test_same_merges_as_hf_bpe_trainer(corpus, tmp_path, vocab_size):
    path, text = corpus
    out = tmp_path / "tokenizer.json"
    llmkit("tokenizer", "train", "--vocab-size", vocab_size, path, "-o", out)
    ours = Tokenizer.from_file(str(out))
    hf = hf_trained(text.split("<|endoftext|>"), vocab_size)
    assert merges_of(ours) == merges_of(hf)
    assert ours.get_vocab() == hf.get_vocab()
    # Given the corpus whole, HF also learns from the special token's text: a few merges differ.
    hf_whole = hf_trained([text], vocab_size)
    held = mixed_text(100_000, seed=7)
    n_ours, n_hf, n_whole = (len(t.encode(held).ids) for t in (ours, hf, hf_whole))
    first = next((i for i, (a, b) in enumerate(zip(merges_of(ours), merges_of(hf_whole))) if a != b), None)
    common = len(set(merges_of(ours)) & set(merges_of(hf_whole)))
    print(f"\nvocab {vocab_size}: held-out chars/token ours {len(held) / n_ours:.4f}, HF (corpus cut at specials) "
          f"{len(held) / n_hf:.4f}, HF (corpus whole) {len(held) / n_whole:.4f}; vs HF-whole: first different merge at "
          f"rank {first}, {common}/{len(merges_of(ours))} merges in common")


def test_stops_below_min_frequency(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("low lower lowest " * 3 + "unique words only once", encoding="utf-8")
    out = tmp_path / "tokenizer.json"
    p = llmkit("tokenizer", "train", "--vocab-size", 5000, "--min-frequency", 3, corpus, "-o", out)
    assert "stopped early" in p.stdout
    ours = Tokenizer.from_file(str(out))
    hf = hf_trained([corpus.read_text(encoding="utf-8")], 5000, min_frequency=3)
    assert merges_of(ours) == merges_of(hf)


def test_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe")
    ok = tmp_path / "ok.txt"
    ok.write_text("some text")
    cases = [
        (["tokenizer", "train", "--vocab-size", 1000, tmp_path / "missing.txt", "-o", tmp_path / "t.json"], "cannot read"),
        (["tokenizer", "train", "--vocab-size", 1000, empty, "-o", tmp_path / "t.json"], "empty"),
        (["tokenizer", "train", "--vocab-size", 1000, bad, "-o", tmp_path / "t.json"], "UTF-8"),
        (["tokenizer", "train", "--vocab-size", 100, ok, "-o", tmp_path / "t.json"], "below"),
    ]
    for args, msg in cases:
        p = llmkit(*args, check=False)
        assert p.returncode != 0
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and msg in lines[0], p.stderr
