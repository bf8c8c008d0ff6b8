"""Bad input through the CLI: a one-line error naming the file, exit status 1, never a crash, and no
partial output file."""
import os

import pytest

from conftest import llmkit


def run_bad(*args):
    p = llmkit(*args, check=False)
    assert p.returncode == 1, (p.returncode, p.stderr)  # not a signal, not 0
    assert p.stderr.startswith("llmkit: error:") and p.stderr.count("\n") == 1, p.stderr
    return p.stderr


@pytest.mark.parametrize("cut", [0, 3, 7, 20, 100, 5000, 1_785_000, 2_000_000])
def test_truncated_real_file(smollm2, tmp_path, cut):
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(smollm2.read_bytes()[:cut])
    err = run_bad("inspect", bad)
    assert "cut.gguf" in err


def test_garbage_and_missing(tmp_path):
    g = tmp_path / "garbage.bin"
    g.write_bytes(os.urandom(4096))
    run_bad("inspect", g)
    assert "nope" in run_bad("inspect", tmp_path / "nope.gguf")
    empty = tmp_path / "empty"
    empty.mkdir()
    run_bad("inspect", empty)
    run_bad("convert", empty, "-o", tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_convert_to_unwritable_place_leaves_nothing(smollm2, tmp_path):
    run_bad("convert", smollm2, "-o", "/proc/llmkit-cannot-write-here")
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
