"""Vision in worker processes (server/vision_workers.py), with the real ONNX models: the samples
equal the in-process pipeline's, streams are spread over the workers and forgotten with their
handles, a killed worker costs one frame, shutdown leaves no process behind."""
from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import skimage.data

from analyzers.vision import VisionAnalyzer, VisionOptions, load_pipelines
from models.registry import DEFAULT_MODELS_DIR, onnx_path
from server.settings import Settings, SettingsError
from server.vision_workers import VisionWorkers, VisionWorkerError, _exit_code

NAMES = ("face_detection_short_range", "face_detection_full_range", "face_landmark",
         "iris_landmark", "pose_detection", "pose_landmark_full")
PATHS = {name: onnx_path(DEFAULT_MODELS_DIR, name) for name in NAMES}
OPTIONS = VisionOptions(eye_contact=True, expression=True, posture=True, pose_every=3, iris_every=2)


def _frames(n: int) -> list[av.VideoFrame]:
    """The astronaut on a 640x480 canvas, moving a few pixels per frame, as a camera's
    yuv420p frames."""
    photo = skimage.data.astronaut()[..., :3]
    out = []
    for i in range(n):
        canvas = np.full((480, 640, 3), 120, np.uint8)
        x, y = 40 + 6 * i, 10 + 3 * i
        canvas[y:y + 440, x:x + 440] = photo[:440, :440]
        out.append(av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(format="yuv420p"))
    return out


def _alive(pid: int) -> bool:
    # a killed child not yet reaped is a zombie: gone for our purposes
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):  # reaped, maybe between the two looks
        return False


@pytest.fixture
def workers() -> VisionWorkers:
    pool = VisionWorkers(PATHS, 2)
    yield pool
    pool.shutdown(wait=True)


def test_samples_equal_the_in_process_pipeline_frame_by_frame(workers: VisionWorkers) -> None:
    frames = _frames(7)
    stream = workers.stream(OPTIONS)
    got = [stream(f) for f in frames]

    face, pose = load_pipelines(PATHS)
    analyzer = VisionAnalyzer(eye_contact=True, expression=True, posture=True, pose_every=3,
                              iris_every=2)
    expected = [analyzer.analyse(f.to_ndarray(format="rgb24"), face, pose) for f in frames]
    assert got == expected
    # the tracking state lives in the worker: only the first frame ran the face detector, and
    # the pose model ran on frames 0, 3 and 6
    assert [s.detected for s in got] == [True] + [False] * 6
    assert [s.pose_updated for s in got] == [True, False, False, True, False, False, True]
    assert got[0].faces == 1 and got[0].eye_contact is not None


def test_streams_are_spread_over_the_workers_and_forgotten_with_their_handles(
        workers: VisionWorkers) -> None:
    frame = _frames(1)[0]
    a, b = workers.stream(OPTIONS), workers.stream(OPTIONS)
    assert a.worker is not b.worker
    a(frame)
    b(frame)
    assert len(set(workers.pids())) == 2
    # each stream keeps its own tracking: c's first frame detects on the worker a is on
    c = workers.stream(OPTIONS)
    assert c.worker is a.worker
    assert c(frame).detected
    assert a(frame).detected is False
    assert workers.stats().streams == 3
    del a
    gc.collect()
    assert c.worker.streams == 1 and b.worker.streams == 1
    assert workers.stats().streams == 2
    assert workers.stream(OPTIONS).worker is c.worker  # the freed place is taken first


def test_model_paths_relative_to_the_servers_folder_work(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # the worker runs in the project's folder; a server started elsewhere with a relative
    # CANDOR_MODELS_DIR gives paths relative to its own folder
    (tmp_path / "onnx").symlink_to(Path(PATHS["face_landmark"]).parent)
    monkeypatch.chdir(tmp_path)
    pool = VisionWorkers({name: Path("onnx") / Path(p).name for name, p in PATHS.items()}, 1)
    try:
        assert pool.stream(OPTIONS)(_frames(1)[0]).faces == 1
    finally:
        pool.shutdown(wait=True)


def test_a_killed_worker_costs_the_frame_in_flight_and_is_started_again(
        workers: VisionWorkers) -> None:
    frames = _frames(2)
    stream = workers.stream(OPTIONS)
    assert stream(frames[0]).faces == 1
    (old,) = workers.pids()
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(old) and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(VisionWorkerError, match="vision worker 0 failed"):
        stream(frames[1])
    assert "exit code -9" in (workers.problem() or "")
    assert workers.stats().processes == 0
    again = stream(frames[1])
    (new,) = workers.pids()
    assert new != old and again.faces == 1 and again.detected  # tracking starts over
    assert workers.problem() is None
    stats = workers.stats()
    assert (stats.processes, stats.starts, stats.streams) == (1, 2, 1)
    assert stats.resident_bytes > 50 * 2**20


def test_a_worker_whose_socket_closed_before_it_exited_still_reports_its_exit_code() -> None:
    # What a killed worker looks like from our side: its socket is closed first and the
    # process is reapable only a moment later (once its last thread has gone), when a bare
    # poll() would still read "running". That made the failure message say "exit code None".
    # The child closes its end, waits for our word (so "still running" is certain, however
    # slow this machine), then takes 0.2 s to exit.
    process = subprocess.Popen(
        [sys.executable, "-c", "import os, sys, time; os.close(1); sys.stdin.read(); time.sleep(0.2); sys.exit(7)"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    assert process.stdout.read() == b""  # the pipe broke: the worker is on its way out
    assert process.poll() is None
    process.stdin.close()
    assert _exit_code(process) == 7
    process.stdout.close()


def test_shutdown_ends_every_worker_and_later_frames_fail_at_once() -> None:
    pool = VisionWorkers(PATHS, 2)
    frame = _frames(1)[0]
    streams = [pool.stream(OPTIONS), pool.stream(OPTIONS)]
    for s in streams:
        s(frame)
    pids = pool.pids()
    assert len(pids) == 2
    pool.shutdown(wait=True)
    assert pool.pids() == [] and not any(_alive(p) for p in pids)
    started = time.monotonic()
    with pytest.raises(VisionWorkerError, match="shut down"):
        streams[0](frame)
    assert time.monotonic() - started < 1
    with pytest.raises(RuntimeError, match="shut down"):
        pool.stream(OPTIONS)


def test_a_worker_that_cannot_load_its_models_says_why(tmp_path: Path) -> None:
    broken = dict(PATHS, face_landmark=tmp_path / "missing.onnx")
    pool = VisionWorkers(broken, 1)
    try:
        stream = pool.stream(OPTIONS)
        frame = _frames(1)[0]
        with pytest.raises(VisionWorkerError, match="could not start: FileNotFoundError.*missing.onnx"):
            stream(frame)
        assert pool.pids() == []
        # it is tried again on the next frame, then backs off: frames fail at once meanwhile
        # instead of each paying for a Python start-up
        with pytest.raises(VisionWorkerError, match="could not start"):
            stream(frame)
        started = time.monotonic()
        with pytest.raises(VisionWorkerError, match=r"missing.onnx.*\(next try in [12] s\)"):
            stream(frame)
        assert time.monotonic() - started < 0.2
        assert "missing.onnx" in (pool.problem() or "")  # /api/health shows it
    finally:
        pool.shutdown(wait=True)


def test_vision_processes_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().vision_processes is True
    monkeypatch.setenv("CANDOR_VISION_PROCESSES", "0")
    assert Settings.from_env().vision_processes is False
    monkeypatch.setenv("CANDOR_VISION_PROCESSES", "sometimes")
    with pytest.raises(SettingsError, match="CANDOR_VISION_PROCESSES='sometimes'"):
        Settings.from_env()


def test_workers_exit_when_the_server_is_killed(tmp_path: Path) -> None:
    # SIGKILL gives the server no chance to stop its workers: each notices its end of the
    # socket closing and exits by itself, so a killed server leaves no process behind.
    script = tmp_path / "server.py"
    script.write_text(
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from tests.test_vision_workers import OPTIONS, PATHS, _frames\n"
        "from server.vision_workers import VisionWorkers\n"
        "pool = VisionWorkers(PATHS, 2)\n"
        "streams = [pool.stream(OPTIONS), pool.stream(OPTIONS)]\n"
        "for s in streams:\n"
        "    s(_frames(1)[0])\n"
        "print(*pool.pids(), flush=True)\n"
        "sys.stdin.read()\n")
    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen([sys.executable, str(script), str(root)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        pids = [int(p) for p in server.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        server.kill()
        server.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)
    finally:
        server.kill()
        server.wait(10)


def test_health_shows_a_failing_worker_as_the_vision_analysers_error(tmp_path: Path) -> None:
    from server.model_bank import ModelBank

    bank = ModelBank(tmp_path, ("ko",))
    bank.onnx_paths.update(PATHS)
    bank._ready.set()
    assert bank.analyzers()["vision"] == {"status": "ready"}
    pool = VisionWorkers(dict(PATHS, iris_landmark=tmp_path / "gone.onnx"), 1)
    bank.vision_problem = pool.problem
    try:
        with pytest.raises(VisionWorkerError):
            pool.stream(OPTIONS)(_frames(1)[0])
        vision = bank.analyzers()["vision"]
        assert vision["status"] == "failed" and "gone.onnx" in vision["errors"][0]
    finally:
        pool.shutdown(wait=True)
