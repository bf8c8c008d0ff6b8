"""`llmkit tokenize` against the reference tokenizers:
(a) llama.cpp's own ids (../shared/reference/tokenize.json) on the real SmolLM2 GGUF, both parse_special modes;
(b) Hugging Face `tokenizers` on >= 1 MB of mixed text (Python's own sources and package docs, synthesized
    Unicode in many scripts, CJK, emoji and ZWJ sequences, digit runs, whitespace runs, contractions, special
    tokens), generated deterministically from a seed, for the Llama 3 tokenizer.json and for SmolLM2 (its
    tokenizer.json rebuilt here from the GGUF metadata, independently of llmkit);
(c) decode(encode(x)) == x;
(d) the encode time of the bulk text (printed, not asserted; the test runs a debug build);
(e) SentencePiece-style BPE (`tokenizer.ggml.model = llama`) on a real-shaped vocab made here from SmolLM2's
    (~49k pieces, `▁` for spaces, scores, 256 byte-fallback tokens), written as a GGUF and as the equivalent
    Llama-2-style tokenizer.json (BPE with byte_fallback), both against `tokenizers` on that tokenizer.json;
(f) the other pre-tokenizers (llama-bpe, qwen2, gpt-2, starcoder, default, deepseek-coder, falcon) on SmolLM2's
    vocabulary against llama.cpp's ids, and, where the benchmarks' llama-cpp-python build exists, against
    live llama.cpp on 300 KB of the bulk text;
(g) bad model files: a one-line error, exit status 1.

Where Hugging Face and llama.cpp legitimately differ, llama.cpp is the reference for GGUF files. On this text
they agree; the known differences are noted where they would show:
- a tokenizer.json without a BOS-adding post-processor or tokenizer_config gets no BOS from llmkit (as from
  Hugging Face), though llama.cpp defaults add_bos to true for llama-bpe GGUFs;
- llama.cpp prefixes a space to the text after every special token in SPM models; the Llama-2-style
  tokenizer.json below uses a Prepend normalizer, which does the same (the newer Metaspace
  `prepend_scheme: first` would not);
- in an SPM vocab where a piece holds a character that is no piece by itself, llama.cpp can still merge into
  that piece while `tokenizers` has already byte-fallen-back the character; SentencePiece never makes such
  vocabularies, so the one built below keeps every character of its pieces as a piece.
"""
import glob
import json
import os
import random
import subprocess
import sysconfig
from pathlib import Path

import gguf
import pytest
from tokenizers import Tokenizer

from conftest import BIN, LLAMA3_TOKENIZER, REFERENCE, llmkit

BULK_BYTES = int(os.environ.get("LLMKIT_TOKENIZE_BYTES", 1_100_000))

# ---------------------------------------------------------------------------------------------------------
# the mixed text

SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyzàáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœšžł",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώΑΒΓΔΩ",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЯЖ",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "devanagari": "कखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसह" + "ािीुूेैोौ्ं",
    "thai": "กขคงจฉชซญดตถทธนบปผพฟภมยรลวศษสหอฮะาิีึืุู",
    "cjk": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空装",
    "hangul": "가나다라마바사아자차카타파하안녕하세요감사합니다한국어",
    "kana": "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコサシスセソ",
}
EMOJI = ["🙂", "😀", "🎉", "👍🏽", "👨\u200d👩\u200d👧\u200d👦", "🇫🇷", "🇯🇵", "❤️", "🔥", "✨", "🚀", "🤖", "🧠", "⭐", "☕",
         "🏳️\u200d🌈", "👩🏻\u200d💻", "🐍", "1️⃣", "©", "®", "™"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "    ", "\u00a0", "\u3000", "\u2028", " \n ", "\t\t", "\n\n\n",
          "        ", " \t\n", "\u2003", "\u202f", "\u0085"]
PUNCT = list(".,;:!?-—–()[]{}<>\"'`~@#$%^&*_+=|\\/") + ["...", "!!", "?!", "’", "“", "”", "«", "»", "。", "，", "、", "！",
                                                        "？", "·", "•", "…"]
CONTRACTIONS = ["don't", "I'll", "we've", "they're", "she's", "it'd", "I'm", "DON'T", "I'LL", "WE'VE", "THEY'RE", "SHE'S",
                "IT'D", "I'M", "Don'T", "'s", "'S", "'ll", "'Ll", "o'clock", "rock'n'roll", "'tis", "y'all"]


def _word(rng):
    script = rng.choice(list(SCRIPTS))
    n = rng.randint(1, 6) if script in ("cjk", "kana", "hangul") else rng.randint(1, 9)
    w = "".join(rng.choice(SCRIPTS[script]) for _ in range(n))
    if script == "latin" and rng.random() < 0.3:
        w = w.capitalize() if rng.random() < 0.7 else w.upper()
    return w


def _digits(rng):
    d = "".join(rng.choice("0123456789") for _ in range(rng.choice([1, 2, 3, 4, 5, 6, 7, 10, 16, 25])))
    r = rng.random()
    if r < 0.1:
        d = "٣٤٥" + d  # Arabic-Indic digits
    elif r < 0.15:
        d += "²½"
    elif r < 0.25:
        d = d[:2] + "." + d[2:]
    elif r < 0.3:
        d = "１２３" + d  # full-width
    return d


def _synthetic(rng, n_chars, specials):
    parts, total = [], 0
    while total < n_chars:
        r = rng.random()
        if r < 0.45:
            p = _word(rng)
        elif r < 0.55:
            p = _digits(rng)
        elif r < 0.65:
            p = rng.choice(PUNCT)
        elif r < 0.7:
            p = rng.choice(EMOJI)
        elif r < 0.75:
            p = rng.choice(CONTRACTIONS)
        elif r < 0.77 and specials:
            p = rng.choice(specials)
        else:
            p = rng.choice(SPACES)
        parts.append(p)
        if rng.random() < 0.6:
            parts.append(" ")
        total += len(p) + 1
    return "".join(parts)


def mixed_text(n_bytes, seed, specials=()):
    """Deterministic mixed text of at least n_bytes UTF-8 bytes: Python stdlib sources (code), package
    METADATA files (Markdown / reStructuredText docs) and synthesized Unicode with `specials` sprinkled in."""
    rng = random.Random(seed)
    py = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))
    md = sorted(glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "*.dist-info", "METADATA")))
    assert py and md, "no Python sources or package docs found to build the text from"
    chunks, size = [], 0
    while size < n_bytes:
        r = rng.random()
        if r < 0.4:
            src = open(rng.choice(py), encoding="utf-8", errors="replace").read()
            i = rng.randrange(max(1, len(src) - 4000))
            c = src[i:i + rng.randint(500, 4000)]
        elif r < 0.6:
            src = open(rng.choice(md), encoding="utf-8", errors="replace").read()
            i = rng.randrange(max(1, len(src) - 3000))
            c = src[i:i + rng.randint(300, 3000)]
        else:
            c = _synthetic(rng, rng.randint(200, 3000), list(specials))
        chunks.append(c)
        size += len(c.encode())
    return "".join(chunks)


# ---------------------------------------------------------------------------------------------------------
# helpers

def encode(model, text_file, special=True):
    """llmkit's ids for the text in text_file (BOS/EOS as the model asks) and its encode time line."""
    args = ["tokenize", model, "--file", text_file, "--ids", "--timing"] + ([] if special else ["--no-special"])
    p = llmkit(*args)
    return json.loads(p.stdout), p.stderr.strip()


def detokenized(*args):
    """stdout of `llmkit tokenize … --detokenize` as bytes (not text: "\r\n" must come back as written)."""
    p = subprocess.run([str(BIN), "tokenize", *map(str, args), "--detokenize"], capture_output=True, timeout=600)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def first_difference(got, want, tok):
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            lo = max(0, i - 8)
            return (f"first difference at token {i}: llmkit {got[lo:i + 8]} vs tokenizers {want[lo:i + 8]}; "
                    f"text there: {tok.decode(want[lo:i + 8])!r}; llmkit pieces {[tok.id_to_token(x) for x in got[i:i + 4]]}, "
                    f"tokenizers pieces {[tok.id_to_token(x) for x in want[i:i + 4]]}")
    return f"lengths differ: {len(got)} vs {len(want)}"


def write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="") as f:  # keep "\r\n" as written
        f.write(text)
    return path


def gguf_strings(reader, key):
    f = reader.fields[key]
    return [bytes(f.parts[j]).decode("utf-8") for j in f.data]


def smollm2_tokenizer_json(gguf_path):
    """SmolLM2's tokenizer.json rebuilt from its GGUF metadata (what HF's SmolLM2 ships: byte-level BPE,
    Digits(individual) + ByteLevel pre-tokenizer, the 17 control tokens as special added tokens)."""
    r = gguf.GGUFReader(str(gguf_path))
    tokens = gguf_strings(r, "tokenizer.ggml.tokens")
    merges = gguf_strings(r, "tokenizer.ggml.merges")
    f = r.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[j][0]) for j in f.data]
    assert gguf_strings(r, "tokenizer.ggml.pre") == ["smollm"]
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for i, (t, ty) in enumerate(zip(tokens, types)) if ty == 3]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level]},
        "post_processor": byte_level, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges},
    }


@pytest.fixture(scope="module")
def bulk(tmp_path_factory):
    specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|begin_of_text|>", "<|start_header_id|>",
                "<|end_header_id|>", "<repo_name>"]
    text = mixed_text(BULK_BYTES, seed=20261125, specials=specials)
    path = write_text(tmp_path_factory.mktemp("tok") / "mixed.txt", text)
    return text, path


@pytest.fixture(scope="module")
def smollm2_hf(smollm2, tmp_path_factory):
    d = tmp_path_factory.mktemp("smollm2-hf")
    with open(d / "tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(smollm2_tokenizer_json(smollm2), f, ensure_ascii=False)
    return d


# ---------------------------------------------------------------------------------------------------------
# (a) llama.cpp's ids

def test_reference_ids_from_llama_cpp(smollm2, tmp_path):
    ref = json.loads((REFERENCE / "tokenize.json").read_text())
    assert len(ref["cases"]) >= 30 and {c["parse_special"] for c in ref["cases"]} == {True, False}
    for i, case in enumerate(ref["cases"]):
        f = tmp_path / f"case{i}.txt"
        f.write_bytes(case["text"].encode())  # exact bytes, no newline added (as the reference was made)
        got, _ = encode(smollm2, f, special=case["parse_special"])
        assert got == case["ids"], (case["text"], case["parse_special"])


def test_default_output_is_like_llama_tokenize(smollm2):
    out = llmkit("tokenize", smollm2, "Hello world<|im_end|>").stdout
    assert out == " 19556 -> 'Hello'\n   905 -> ' world'\n     2 -> '<|im_end|>'\n"
    assert llmkit("tokenize", smollm2, "Hello world", "--ids").stdout == "[19556, 905]\n"


# ---------------------------------------------------------------------------------------------------------
# (b) Hugging Face tokenizers on >= 1 MB, (c) round trip, (d) timing

@pytest.mark.parametrize("special", [True, False], ids=["parse-special", "no-special"])
def test_llama3_tokenizer_json_equals_tokenizers(bulk, special, capsys):
    text, path = bulk
    assert len(text.encode()) >= 1_000_000 or BULK_BYTES < 1_000_000
    tok = Tokenizer.from_file(str(LLAMA3_TOKENIZER))
    tok.encode_special_tokens = not special  # tokenizers' switch for not splitting special tokens out
    want = tok.encode(text, add_special_tokens=True).ids
    got, timing = encode(LLAMA3_TOKENIZER, path, special)
    with capsys.disabled():  # (d) shown even when pytest captures output
        print(f"\n  Llama 3 tokenizer.json, {len(text.encode())} bytes (debug build): {timing}")
    assert got == want, first_difference(got, want, tok)


@pytest.mark.parametrize("source", ["gguf", "tokenizer.json"])
@pytest.mark.parametrize("special", [True, False], ids=["parse-special", "no-special"])
def test_smollm2_equals_tokenizers(bulk, smollm2, smollm2_hf, source, special, capsys):
    text, path = bulk
    tok = Tokenizer.from_file(str(smollm2_hf / "tokenizer.json"))
    tok.encode_special_tokens = not special
    want = tok.encode(text, add_special_tokens=True).ids
    got, timing = encode(smollm2 if source == "gguf" else smollm2_hf, path, special)
    with capsys.disabled():
        print(f"\n  SmolLM2 ({source}), {len(text.encode())} bytes (debug build): {timing}")
    assert got == want, first_difference(got, want, tok)


@pytest.mark.parametrize("model", ["smollm2", "llama3"])
def test_decode_of_encode_is_the_text(bulk, smollm2, model):
    text, path = bulk
    m = smollm2 if model == "smollm2" else LLAMA3_TOKENIZER
    assert detokenized(m, "--file", path) == text.encode()
    assert detokenized(m, "--file", path, "--no-special") == text.encode()


# ---------------------------------------------------------------------------------------------------------
# (e) SentencePiece-style BPE

def spm_vocab_from_smollm2(gguf_path):
    """A Llama-2-shaped SPM vocab made from SmolLM2's byte-level one: <unk> <s> </s>, <0x00>…<0xFF>, then every
    normal token spelled in UTF-8 with ▁ for spaces, scored by the rank of the merge that makes it (first
    merges score highest; single characters lowest), and every character of those as a piece too."""
    r = gguf.GGUFReader(str(gguf_path))
    tokens = gguf_strings(r, "tokenizer.ggml.tokens")
    merges = gguf_strings(r, "tokenizer.ggml.merges")
    f = r.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[j][0]) for j in f.data]
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    unbyte = {chr(c): b for b, c in zip(bs, cs)}

    def raw(t):
        try:
            return bytes(unbyte[ch] for ch in t).decode("utf-8").replace(" ", "▁")
        except (KeyError, UnicodeDecodeError):
            return None

    rank = {}
    for i, m in enumerate(merges):
        a, b = m.split(" ", 1)
        rank.setdefault(a + b, i)
    pieces, scores, seen = ["<unk>", "<s>", "</s>"], [0.0, 0.0, 0.0], set()
    ttypes = [2, 3, 3]
    for b in range(256):
        pieces.append("<0x%02X>" % b)
        scores.append(0.0)
        ttypes.append(6)
    for t, ty in zip(tokens, types):
        p = raw(t)
        if ty != 1 or not p or p in seen or p.startswith("<0x"):
            continue
        seen.add(p)
        pieces.append(p)
        scores.append(-float(rank[t]) if t in rank else -1e7)
        ttypes.append(1)
    # SentencePiece keeps every character of every piece as a piece of its own; so do we (lowest scores).
    for ch in sorted({ch for p in pieces[259:] for ch in p} - seen):
        pieces.append(ch)
        scores.append(-2e7)
        ttypes.append(1)
    return pieces, scores, ttypes


def spm_tokenizer_json(pieces, scores):
    """The Llama-2-style tokenizer.json for the SPM vocab: BPE with byte_fallback, merges for every split of
    a piece into two pieces, ordered by the merged piece's score (as tokenizers' SentencePiece converter
    makes them), and the Prepend("▁") + Replace(" ", "▁") normalizer."""
    vocab = {p: i for i, p in enumerate(pieces)}
    merges = []
    for i, p in enumerate(pieces[259:], start=259):
        for k in range(1, len(p)):
            a, b = p[:k], p[k:]
            if a in vocab and b in vocab:
                merges.append((-scores[i], vocab[a], vocab[b], a, b))
    merges.sort()
    special = [{"id": i, "content": pieces[i], "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True} for i in range(3)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                           {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                   {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"},
                                                     {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [[a, b] for _, _, _, a, b in merges]},
    }


@pytest.fixture(scope="module")
def spm(smollm2, tmp_path_factory):
    pieces, scores, types = spm_vocab_from_smollm2(smollm2)
    d = tmp_path_factory.mktemp("spm")
    w = gguf.GGUFWriter(str(d / "spm.gguf"), "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(pieces)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(d / "tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(spm_tokenizer_json(pieces, scores), f, ensure_ascii=False)
    return d


def test_spm_equals_tokenizers_with_byte_fallback(spm, tmp_path, capsys):
    assert (spm / "spm.gguf").stat().st_size > 500_000  # a real-sized vocab
    # SPM merges over whole texts (no pre-splitting); a third of the bulk size keeps the debug build quick.
    text = mixed_text(BULK_BYTES // 3, seed=7, specials=["<s>", "</s>"])
    path = write_text(tmp_path / "spm.txt", text)
    tok = Tokenizer.from_file(str(spm / "tokenizer.json"))
    want = tok.encode(text, add_special_tokens=True).ids
    got, timing = encode(spm / "spm.gguf", path)
    with capsys.disabled():
        print(f"\n  SPM (llama) GGUF, {len(text.encode())} bytes (debug build): {timing}")
    assert any(3 <= i <= 258 for i in got[1:]), "the text should need byte fallback somewhere"
    assert got == want, first_difference(got, want, tok)


def test_spm_tokenizer_json_equals_tokenizers(spm, tmp_path):
    """The same vocabulary given to llmkit as the Llama-2-style tokenizer.json (no GGUF): merges become scores."""
    text = mixed_text(BULK_BYTES // 6, seed=9, specials=["<s>", "</s>"])
    path = write_text(tmp_path / "spm.txt", text)
    tok = Tokenizer.from_file(str(spm / "tokenizer.json"))
    want = tok.encode(text, add_special_tokens=True).ids
    got, _ = encode(spm, path)
    assert got == want, first_difference(got, want, tok)


def test_spm_round_trip(spm, tmp_path):
    text = mixed_text(100_000, seed=8)
    path = write_text(tmp_path / "rt.txt", text)
    # No BOS: decoding drops the space the encoder prefixed only from the first token (as llama.cpp does).
    assert detokenized(spm / "spm.gguf", "--file", path, "--no-special", "--no-bos") == text.encode()


# ---------------------------------------------------------------------------------------------------------
# the other pre-tokenizers: SmolLM2's vocabulary under each `tokenizer.ggml.pre`, against llama.cpp

PRE_TEXTS = [
    "Hello, World! 1234567 don't I'LL\n\n  x\t\ty  ",
    'a+=b 12345 $$$ ...!!\n\nz ~`|^ <tag>',
    'Привет,мир 你好123 안녕 こんにちは',
    '🙂🙂 é \xa0b\u3000c\r\n\r\n end   ',
    'x  \n\n  y 3.14159 ٣٤٥ ²½ １２３',
    "<|im_start|>user\nHi 'S 'll<|im_end|>",
]

# llama.cpp's ids (add_special, parse_special) for PRE_TEXTS on SmolLM2's tokens/merges/types with
# tokenizer.ggml.pre replaced (llama-cpp-python 0.3.36's llama.cpp, vocab_only); llama-bpe adds BOS by default.
PRE_GOLDEN = {
    "llama-bpe": [
        [1, 19556, 28, 2260, 17, 216, 33, 34, 35, 36, 37, 38, 39, 1326, 982, 339, 23, 16421, 1116, 216, 1792, 197, 197, 105, 256],
        [1, 81, 32657, 82, 216, 33, 34, 35, 36, 37, 1885, 9212, 4563, 10095, 1116, 106, 11417, 80, 108, 78, 2067, 9204, 46],
        [1, 155, 249, 46879, 16464, 32547, 28, 17868, 7872, 9175, 216, 18645, 250, 48392, 138, 33, 34, 35, 18601, 239, 226, 182, 223, 239, 46673, 237, 10391, 237, 41152, 7365, 111, 7365, 124],
        [1, 10813, 38887, 10813, 38887, 297, 151, 219, 216, 15442, 82, 12109, 218, 83, 18682, 1112, 333],
        [1, 104, 256, 1116, 216, 329, 216, 35, 30, 33, 36, 33, 37, 41, 216, 164, 113, 164, 114, 164, 115, 216, 19133, 16738, 216, 8083, 235, 8083, 236, 8083, 237],
        [1, 1, 4093, 198, 26843, 637, 67, 637, 764, 2],
    ],
    "qwen2": [
        [19556, 28, 2260, 17, 216, 33, 34, 35, 36, 37, 38, 39, 1326, 982, 339, 23, 16421, 1116, 216, 1792, 197, 197, 105, 256],
        [81, 32657, 82, 216, 33, 34, 35, 36, 37, 1885, 9212, 4563, 10095, 1116, 106, 11417, 80, 108, 78, 2067, 9204, 46],
        [155, 249, 46879, 16464, 32547, 28, 17868, 7872, 9175, 216, 18645, 250, 48392, 138, 33, 34, 35, 18601, 239, 226, 182, 223, 239, 46673, 237, 10391, 237, 41152, 7365, 111, 7365, 124],
        [10813, 38887, 10813, 38887, 297, 151, 219, 216, 15442, 82, 12109, 218, 83, 18682, 1112, 333],
        [104, 256, 1116, 216, 329, 216, 35, 30, 33, 36, 33, 37, 41, 216, 164, 113, 164, 114, 164, 115, 216, 19133, 16738, 216, 8083, 235, 8083, 236, 8083, 237],
        [1, 4093, 198, 26843, 637, 67, 637, 764, 2],
    ],
    "gpt-2": [
        [19556, 28, 2260, 17, 216, 33, 34, 35, 36, 37, 38, 39, 1326, 982, 339, 23, 16421, 8866, 1792, 197, 197, 105, 256],
        [81, 32657, 82, 216, 33, 34, 35, 36, 37, 1885, 9212, 4563, 10095, 198, 198, 106, 11417, 80, 108, 78, 2067, 9204, 46],
        [155, 249, 46879, 16464, 32547, 28, 17868, 7872, 9175, 216, 18645, 250, 48392, 138, 33, 34, 35, 18601, 239, 226, 182, 223, 239, 46673, 237, 10391, 237, 41152, 7365, 111, 7365, 124],
        [10813, 38887, 10813, 38887, 297, 151, 219, 216, 15442, 82, 12109, 218, 83, 18682, 1112, 333],
        [104, 256, 8866, 329, 216, 35, 30, 33, 36, 33, 37, 41, 16936, 113, 164, 114, 164, 115, 3351, 127, 16738, 216, 8083, 235, 8083, 236, 8083, 237],
        [1, 4093, 198, 26843, 637, 67, 637, 764, 2],
    ],
    "starcoder": [
        [19556, 28, 2260, 17, 216, 33, 34, 35, 36, 37, 38, 39, 1326, 982, 339, 23, 16421, 8866, 1792, 197, 197, 105, 256],
        [81, 32657, 82, 216, 33, 34, 35, 36, 37, 1885, 9212, 4563, 10095, 198, 198, 106, 11417, 80, 108, 78, 2067, 9204, 46],
        [155, 249, 46879, 16464, 32547, 28, 17868, 7872, 9175, 216, 18645, 250, 48392, 138, 33, 34, 35, 18601, 239, 226, 182, 223, 239, 46673, 237, 10391, 237, 41152, 7365, 111, 7365, 124],
        [10813, 38887, 10813, 38887, 297, 151, 219, 216, 15442, 82, 12109, 218, 83, 18682, 1112, 333],
        [104, 256, 8866, 329, 216, 35, 30, 33, 36, 33, 37, 41, 216, 164, 113, 164, 114, 164, 115, 216, 19133, 16738, 216, 8083, 235, 8083, 236, 8083, 237],
        [1, 4093, 198, 26843, 637, 67, 637, 764, 2],
    ],
    "default": [
        [19556, 28, 2260, 17, 216, 33, 34, 35, 36, 37, 38, 39, 1326, 23, 100, 339, 23, 16421, 8866, 1792, 197, 197, 105, 256],
        [81, 32657, 82, 216, 33, 34, 35, 36, 37, 216, 9212, 20, 216, 2026, 10095, 198, 198, 106, 216, 110, 80, 108, 78, 216, 44, 9204, 46],
        [155, 249, 46879, 16464, 32547, 28, 17868, 7872, 9175, 216, 18645, 250, 48392, 138, 33, 34, 35, 18601, 239, 226, 182, 223, 239, 46673, 237, 10391, 237, 41152, 7365, 111, 7365, 124],
        [10813, 38887, 10813, 38887, 297, 151, 219, 216, 15442, 82, 12109, 218, 83, 18682, 1112, 333],
        [104, 256, 8866, 329, 216, 35, 30, 33, 36, 33, 37, 41, 216, 164, 113, 164, 114, 164, 115, 216, 19133, 16738, 216, 8083, 235, 8083, 236, 8083, 237],
        [1, 4093, 198, 26843, 216, 23, 67, 216, 23, 764, 2],
    ],
    "deepseek-coder": [
        [19556, 28, 2260, 17, 216, 33, 34, 35, 36, 37, 38, 39, 1326, 23, 100, 339, 23, 16421, 198, 198, 216, 1792, 197, 197, 105, 256],
        [81, 32657, 82, 216, 33, 34, 35, 36, 37, 1885, 9212, 4563, 10095, 198, 198, 106, 11417, 80, 108, 78, 2067, 9204, 46],
        [155, 249, 46879, 16464, 32547, 28, 17868, 7872, 9175, 216, 18645, 250, 48392, 138, 33, 34, 35, 216, 183, 239, 226, 182, 223, 239, 216, 7365, 237, 10391, 237, 41152, 7365, 111, 7365, 124],
        [10813, 38887, 10813, 38887, 297, 151, 219, 216, 15442, 82, 12109, 218, 83, 201, 198, 201, 198, 1112, 333],
        [104, 256, 198, 198, 216, 329, 216, 35, 30, 33, 36, 33, 37, 41, 216, 164, 113, 164, 114, 164, 115, 216, 19133, 16738, 216, 8083, 235, 8083, 236, 8083, 237],
        [1, 4093, 198, 26843, 637, 67, 637, 764, 2],
    ],
    "falcon": [
        [19556, 28, 2260, 17, 216, 33, 34, 35, 36, 37, 38, 39, 1326, 23, 100, 339, 23, 16421, 8866, 1792, 197, 197, 105, 256],
        [81, 32657, 82, 216, 33, 34, 35, 36, 37, 216, 9212, 20, 216, 2026, 10095, 198, 198, 106, 216, 110, 80, 108, 78, 216, 44, 9204, 46],
        [155, 249, 46879, 16464, 32547, 28, 17868, 7872, 9175, 216, 18645, 250, 48392, 138, 33, 34, 35, 18601, 239, 226, 182, 223, 239, 46673, 237, 10391, 237, 41152, 7365, 111, 7365, 124],
        [10813, 38887, 10813, 38887, 297, 151, 219, 216, 15442, 82, 12109, 218, 83, 18682, 1112, 333],
        [104, 256, 8866, 329, 216, 35, 30, 33, 36, 33, 37, 41, 16936, 113, 164, 114, 164, 115, 3351, 127, 16738, 216, 8083, 235, 8083, 236, 8083, 237],
        [1, 4093, 198, 26843, 216, 23, 67, 216, 23, 764, 2],
    ],
}


@pytest.fixture(scope="module")
def smollm2_vocab(smollm2):
    r = gguf.GGUFReader(str(smollm2))
    f = r.fields["tokenizer.ggml.token_type"]
    return (gguf_strings(r, "tokenizer.ggml.tokens"), [int(f.parts[j][0]) for j in f.data],
            gguf_strings(r, "tokenizer.ggml.merges"))


def write_pre_variant(vocab, pre, out):
    tokens, types, merges = vocab
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_feed_forward_length(8)
    w.add_head_count(1)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


@pytest.mark.parametrize("pre", sorted(PRE_GOLDEN))
def test_pre_tokenizers_match_llama_cpp(smollm2_vocab, tmp_path, pre):
    model = write_pre_variant(smollm2_vocab, pre, tmp_path / f"{pre}.gguf")
    # One run: the texts joined by <|endoftext|> (a control token, so each text is pre-tokenized on its own, as
    # in a separate call); BOS, where the model adds it, only once at the start.
    want, bos = [], PRE_GOLDEN[pre][0][:1] if pre == "llama-bpe" else []
    for k, ids in enumerate(PRE_GOLDEN[pre]):
        want += ([0] if k else bos) + ids[len(bos):]
    got, _ = encode(model, write_text(tmp_path / "t.txt", "<|endoftext|>".join(PRE_TEXTS)))
    assert got == want, pre


BENCH_PYTHON = Path(__file__).resolve().parents[2] / ".venv-bench" / "bin" / "python"


@pytest.mark.parametrize("pre", sorted(PRE_GOLDEN) + ["dbrx", "stablelm2", "ufakzeka"])
def test_pre_tokenizers_bulk_against_llama_cpp_when_built(bulk, smollm2_vocab, tmp_path, pre):
    """Live llama.cpp (the benchmarks' llama-cpp-python build, `make bench-kernels` makes it) on 300 KB of the
    bulk text; skipped where that build is absent (as in CI)."""
    if not BENCH_PYTHON.exists() or subprocess.run([str(BENCH_PYTHON), "-c", "import llama_cpp"]).returncode != 0:
        pytest.skip("llama-cpp-python is not built here (.venv-bench)")
    text, _ = bulk
    path = write_text(tmp_path / "t.txt", text[:300_000])
    model = write_pre_variant(smollm2_vocab, pre, tmp_path / f"{pre}.gguf")
    script = ("import sys, json, llama_cpp\n"
              "m = llama_cpp.Llama(sys.argv[1], vocab_only=True, verbose=False)\n"
              "t = open(sys.argv[2], 'rb').read()\n"
              "print(json.dumps([m.tokenize(t, add_bos=True, special=s) for s in (True, False)]))\n")
    p = subprocess.run([str(BENCH_PYTHON), "-c", script, str(model), str(path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    want = json.loads(p.stdout.strip().splitlines()[-1])
    for special, w in zip((True, False), want):
        got, _ = encode(model, path, special)
        assert got == w, (pre, special)


# ---------------------------------------------------------------------------------------------------------
# bad input: one line on stderr, exit 1

def run_bad(*args):
    p = llmkit(*args, check=False)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert p.stderr.startswith("llmkit: error:") and p.stderr.count("\n") == 1, p.stderr
    return p.stderr


def test_bad_models_are_one_line_errors(smollm2, tmp_path):
    assert "nope.gguf" in run_bad("tokenize", tmp_path / "nope.gguf", "x")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(smollm2.read_bytes()[:5000])
    assert "cut.gguf" in run_bad("tokenize", cut, "x")
    # A valid GGUF without a tokenizer, and one whose tokenizer is malformed.
    w = gguf.GGUFWriter(str(tmp_path / "notok.gguf"), "llama")
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    assert "tokenizer.ggml.model" in run_bad("tokenize", tmp_path / "notok.gguf", "x")
    w = gguf.GGUFWriter(str(tmp_path / "badtok.gguf"), "llama")
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["a", "b"])
    w.add_token_types([1])
    w.add_token_merges(["a b"])
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    assert "token_type" in run_bad("tokenize", tmp_path / "badtok.gguf", "x")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "tokenizer.json").write_text("{ not json")
    assert "tokenizer.json" in run_bad("tokenize", tmp_path / "hf", "x")
