"""`llmkit inspect --json` against gguf-py's GGUFReader, field by field, on the real SmolLM2 file and on
every file llama.cpp's quantizer made in shared/reference/quant."""
import json

import numpy as np
import pytest
from gguf import GGUFReader, GGUFValueType

from conftest import REFERENCE, SMOLLM2, llmkit

FILES = [SMOLLM2] + sorted((REFERENCE / "quant").glob("*.gguf"))


def same_value(ours, theirs, vtype):
    if vtype in (GGUFValueType.FLOAT32,):
        return np.float32(ours) == np.float32(theirs)
    if vtype == GGUFValueType.FLOAT64:
        return float(ours) == float(theirs)
    if isinstance(theirs, list):
        return len(ours) == len(theirs) and all(same_value(a, b, None) for a, b in zip(ours, theirs))
    if isinstance(theirs, (float, np.floating)):
        return np.float32(ours) == np.float32(theirs)
    return ours == theirs


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_inspect_matches_gguf_reader(path):
    ours = json.loads(llmkit("inspect", "--json", path).stdout)
    r = GGUFReader(str(path))
    assert ours["format"] == "gguf"
    assert ours["version"] == int(r.fields["GGUF.version"].contents())
    assert ours["alignment"] == r.alignment
    assert ours["data_offset"] == r.data_offset

    fields = [f for f in r.fields.values() if not f.name.startswith("GGUF.")]
    assert [m["key"] for m in ours["metadata"]] == [f.name for f in fields]
    for m, f in zip(ours["metadata"], fields):
        assert m["type"] == f.types[0].name.lower(), f.name
        if f.types[0] == GGUFValueType.ARRAY:
            assert m["element_type"] == f.types[-1].name.lower(), f.name
            assert m["count"] == len(f.data), f.name
        assert same_value(m["value"], f.contents(), f.types[-1]), f.name

    assert len(ours["tensors"]) == len(r.tensors)
    for t, rt in zip(ours["tensors"], r.tensors):
        assert t["name"] == rt.name
        assert t["type"] == rt.tensor_type.name
        assert t["shape"] == [int(d) for d in rt.shape]
        assert t["offset"] == rt.data_offset
        assert t["bytes"] == rt.n_bytes
    assert ours["totals"]["parameters"] == sum(int(t.n_elements) for t in r.tensors)
    assert ours["totals"]["bytes"] == sum(int(t.n_bytes) for t in r.tensors)


def test_inspect_text_summarises(smollm2):
    out = llmkit("inspect", smollm2).stdout
    assert "tokenizer.ggml.tokens" in out and "(49144 more)" in out
    assert "blk.29.ffn_down.weight" in out
    assert "134.52 M parameters" in out


def test_inspect_safetensors_file_and_folder(tmp_path):
    """A safetensors file and a sharded HF folder: names, dtypes and shapes as the safetensors package reads them."""
    from safetensors import safe_open
    d = tmp_path / "hf"
    llmkit("dev", "make-checkpoint", "--shape", "llama3-tiny", "--vocab", "1000", "--shard-size", "300KB", "-o", d, "--quiet")
    folder = json.loads(llmkit("inspect", "--json", d).stdout)
    assert folder["format"].startswith("safetensors (") and folder["config"]["hidden_size"] == 64
    want = {}
    for f in sorted(d.glob("*.safetensors")):
        with safe_open(str(f), framework="numpy") as s:
            assert s.metadata() == {"format": "pt"}
            for k in s.keys():
                sl = s.get_slice(k)
                want[k] = (sl.get_dtype(), sl.get_shape())
        one = json.loads(llmkit("inspect", "--json", f).stdout)
        assert one["format"] == "safetensors"
        assert {t["name"] for t in one["tensors"]} == set(safe_open(str(f), framework="numpy").keys())
    assert {t["name"]: (t["type"], t["shape"]) for t in folder["tensors"]} == want
    assert folder["totals"]["parameters"] == sum(int(np.prod(s)) for _, s in want.values())
