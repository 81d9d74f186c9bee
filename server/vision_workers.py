"""Vision analysis in worker processes, so that it never waits on the server's GIL.

Measured at 8 live interviews on 2 cores (bench/live.py, /proc/<pid>/task/*/schedstat): with the
vision pipelines on threads of the server process, the two vision threads switched ~4,000 times
a second (numpy and ONNX Runtime drop and retake the GIL around every call, and the event loop,
8 Vosk and 24 decoder threads take it in between), and vision fell to 2-2.7 analysed frames/s
while a quarter of a core stayed idle (the machine 170-175 % busy of 200 %;
bench/results/n8-vision-threads-schedstat.txt). In a process of its own each pipeline has a GIL to itself.

:meth:`VisionWorkers.stream` gives a stream's frame function (frame -> VisionSample), called on
the server's vision executor threads as the in-process one is (server/peer.py: recording and
thumbnails stay there); it waits for the stream's worker process. A stream is pinned to one
worker (the one with the fewest streams), which keeps its
:class:`analyzers.vision.VisionAnalyzer` (the tracking state) across frames. One dispatcher
thread per worker takes that worker's frames first in, first out, converts each to RGB, sends
it (header, then the raw pixels) and waits for the sample. Worker processes start on first use
(a server that never sees video pays nothing), run at the analysis priority (nice 10: the
event loop and speech recognition come first), and a worker that dies is started again
on the next frame (its streams' tracking starts over; the frame in flight fails and is skipped).
"""
from __future__ import annotations

import itertools
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import weakref
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.executors import ANALYSIS_NICE

if TYPE_CHECKING:  # the analyzers (numpy, ONNX Runtime) load in the model loader and workers
    from analyzers.vision import VisionOptions

logger = logging.getLogger(__name__)

# A worker that has not answered one frame in this long is stuck (a frame takes ~25 ms).
FRAME_TIMEOUT_S = 30.0
# Start-up: a fresh interpreter importing numpy and ONNX Runtime, then the models.
START_TIMEOUT_S = 120.0
# After a failure the worker is started again at once, then after 2, 4, ... 60 s while it keeps
# failing (frames meanwhile fail at once): a broken model file must not cost a Python start-up
# per frame.
RETRY_MAX_S = 60.0
# A worker whose socket broke is dying; this long is given for its exit code.
EXIT_WAIT_S = 1.0


class VisionWorkerError(RuntimeError):
    """The worker process failed on a frame (it is restarted on the next one)."""


@dataclass(frozen=True, slots=True)
class WorkerStats:
    processes: int  # running now
    streams: int  # video streams assigned (each forgotten when its connection is gone)
    starts: int  # processes started so far: more than `processes` means restarts
    resident_bytes: int  # the running processes' resident memory, summed


def _resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # gone, or not Linux
        return 0


class VisionStream:
    """One video stream's frame function: ``stream(frame)`` -> VisionSample, computed by its
    worker process (blocks the calling thread; raises VisionWorkerError when the worker
    failed)."""

    def __init__(self, stream_id: int, options: VisionOptions, worker: _Worker) -> None:
        self.id = stream_id
        self.options = options
        self.kwargs = asdict(options)  # sent with each frame: the worker makes the analyzer from it
        self.worker = worker

    def __call__(self, frame: Any) -> Any:
        if self.worker.closed:
            raise VisionWorkerError("vision workers are shut down")
        future: Future[Any] = Future()
        self.worker.requests.put(("frame", self, frame, future))
        # bounded: a frame queued just as the workers shut down is never answered
        return future.result(timeout=START_TIMEOUT_S + FRAME_TIMEOUT_S)


class _Worker:
    """The parent's side of one worker process: its request queue and dispatcher thread."""

    def __init__(self, index: int, onnx_paths: dict[str, Path], nice: int) -> None:
        self.index = index
        self.onnx_paths = onnx_paths
        self.nice = nice
        self.streams = 0
        self.closed = False
        self.requests: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self.process: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.failures = 0  # in a row
        self.starts = 0
        self.retry_at = 0.0
        self.last_error = ""
        self.thread = threading.Thread(target=self._dispatch, name=f"vision-dispatch-{index}",
                                       daemon=True)
        self.thread.start()

    # -- the dispatcher thread ----------------------------------------------------------------

    def _dispatch(self) -> None:
        forgotten: list[int] = []
        while True:
            item = self.requests.get()
            if item is None:
                return
            if item[0] == "forget":
                forgotten.append(item[1])
            elif self._one(item[1], item[2], item[3], forgotten):
                forgotten = []  # the worker has dropped them
            del item  # hold no stream or frame while waiting for the next request

    def _one(self, stream: VisionStream, frame: Any, future: Future[Any], forgotten: list[int]) -> bool:
        """One frame to the worker and its sample (or error) to `future`; whether the worker
        got the message (with `forgotten`)."""
        if not future.set_running_or_notify_cancel():
            return False
        try:
            rgb = frame.to_ndarray(format="rgb24")
            ok, value = self._call((stream.id, stream.kwargs, rgb.shape, forgotten), rgb)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting pump
            future.set_exception(exc)
            return False
        if ok:
            future.set_result(value)
        else:
            future.set_exception(VisionWorkerError(value))
        return True

    def _call(self, header: tuple[Any, ...], rgb: Any) -> tuple[bool, Any]:
        if self.conn is None:
            wait = self.retry_at - time.monotonic()
            if wait > 0:
                raise VisionWorkerError(f"{self.last_error} (next try in {wait:.0f} s)")
            try:
                self._start()
            except VisionWorkerError as exc:
                self._failed(str(exc))
                raise
        assert self.conn is not None
        try:
            self.conn.send(header)
            self.conn.send_bytes(memoryview(rgb).cast("B"))
            if not self.conn.poll(FRAME_TIMEOUT_S):
                raise TimeoutError(f"no answer in {FRAME_TIMEOUT_S:.0f} s")
            reply: tuple[bool, Any] = self.conn.recv()
        except (OSError, EOFError, TimeoutError) as exc:
            # a hung worker (timeout) is not waited for; a dead one is, as its exit code says why
            code = None if self.process is None or isinstance(exc, TimeoutError) else _exit_code(self.process)
            self._stop()
            self._failed(f"vision worker {self.index} failed: {exc or type(exc).__name__} "
                         f"(exit code {code})")
            raise VisionWorkerError(self.last_error) from exc
        self.failures = 0
        return reply

    def _failed(self, error: str) -> None:
        delay = 0.0 if self.failures == 0 else min(RETRY_MAX_S, 2.0 ** self.failures)
        self.failures += 1
        self.last_error = error
        self.retry_at = time.monotonic() + delay
        logger.error("%s; starting it again %s", error, f"in {delay:.0f} s" if delay else "on the next frame")

    def _start(self) -> None:
        # A fresh interpreter (`python -m server.vision_workers FD`), not multiprocessing's
        # spawn, which would re-run whatever script started the server as its __main__.
        ours, theirs = socket.socketpair()
        root = Path(__file__).resolve().parents[1]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p))
        with theirs:
            process = subprocess.Popen(
                [sys.executable, "-m", "server.vision_workers", str(theirs.fileno()), str(self.nice)],
                pass_fds=(theirs.fileno(),), cwd=root, env=env, stdin=subprocess.DEVNULL)
        conn = Connection(ours.detach())
        try:
            # absolute: the worker runs in the project's folder, the server maybe elsewhere
            conn.send({name: Path(path).resolve() for name, path in self.onnx_paths.items()})
            if not conn.poll(START_TIMEOUT_S):
                raise VisionWorkerError(f"vision worker {self.index} did not start in {START_TIMEOUT_S:.0f} s")
            ready = conn.recv()
        except (OSError, EOFError) as exc:
            ready = f"exited ({exc}; exit code {_exit_code(process)})"
        except VisionWorkerError:
            process.kill()
            conn.close()
            raise
        if ready != "ready":
            process.kill()
            process.wait(5)
            conn.close()
            raise VisionWorkerError(f"vision worker {self.index} could not start: {ready}")
        self.process, self.conn = process, conn
        self.starts += 1
        logger.info("vision worker %d started (pid %d)", self.index, process.pid)

    def _stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
        self.process = self.conn = None

    def close(self) -> None:
        self.closed = True
        self.requests.put(None)
        self.thread.join(FRAME_TIMEOUT_S)
        self._stop()


def _exit_code(process: subprocess.Popen[bytes]) -> int | None:
    """The exit code of a worker whose socket just broke, or None if it is still running."""
    # Its socket closes before the process can be reaped (a multi-threaded process is reapable
    # only once its last thread has exited), so poll alone often reads None here.
    try:
        return process.wait(EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        return None


class VisionWorkers:
    """`processes` worker processes shared by every video stream of this server process."""

    def __init__(self, onnx_paths: dict[str, Path], processes: int, nice: int = ANALYSIS_NICE) -> None:
        if processes < 1:
            raise ValueError("processes must be >= 1")
        self.onnx_paths = onnx_paths  # the model bank's: filled in when its models load
        self._count = processes
        self._nice = nice
        self._workers: list[_Worker] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = False

    def stream(self, options: VisionOptions) -> VisionStream:
        """A new stream, on the worker with the fewest streams; its analyzer is dropped when
        the handle is garbage (the peer connection is gone)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("vision workers are shut down")
            if not self._workers:
                self._workers = [_Worker(i, self.onnx_paths, self._nice) for i in range(self._count)]
            worker = min(self._workers, key=lambda w: w.streams)
            worker.streams += 1
            handle = VisionStream(next(self._ids), options, worker)
        weakref.finalize(handle, self._forget, worker, handle.id)
        return handle

    def _forget(self, worker: _Worker, stream_id: int) -> None:
        with self._lock:
            worker.streams -= 1
        worker.requests.put(("forget", stream_id))

    def problem(self) -> str | None:
        """What is wrong while a worker keeps failing (None once its frames succeed again):
        /api/health shows it as the vision analyser's error."""
        return next((w.last_error for w in self._workers if w.failures), None)

    def stats(self) -> WorkerStats:
        """For /metrics: what runs, what it holds, how often it had to start."""
        running = [w for w in self._workers if w.process is not None]
        return WorkerStats(processes=len(running), streams=sum(w.streams for w in self._workers),
                           starts=sum(w.starts for w in self._workers),
                           resident_bytes=sum(_resident_bytes(w.process.pid) for w in running if w.process))

    def pids(self) -> list[int]:
        """The running worker processes (for tests and diagnostics)."""
        return [w.process.pid for w in self._workers if w.process is not None]

    def shutdown(self, wait: bool = True) -> None:
        """Stop every worker: frames still queued fail (their pumps are stopping too)."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
        for w in workers:
            while True:
                try:
                    item = w.requests.get_nowait()
                except queue.Empty:
                    break
                if item is not None and item[0] == "frame":
                    item[3].set_exception(RuntimeError("vision workers are shut down"))
        closers = [threading.Thread(target=w.close, daemon=True) for w in workers]
        for t in closers:
            t.start()
        if wait:
            for t in closers:
                t.join()


# -- the worker process -------------------------------------------------------------------------


def serve(conn: Connection, nice: int) -> None:
    """A worker process's main loop: the model paths, then one frame in, one sample out, until
    the server's end of the socket closes."""
    import numpy as np

    from analyzers.vision import VisionAnalyzer, load_pipelines

    try:
        os.nice(nice)
    except OSError:
        pass
    try:
        onnx_paths = conn.recv()
        face, pose = load_pipelines(onnx_paths)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which logs it
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    conn.send("ready")
    analyzers: dict[int, VisionAnalyzer] = {}
    while True:
        try:
            stream_id, options, shape, forgotten = conn.recv()
            pixels = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the server is gone
        for gone in forgotten:
            analyzers.pop(gone, None)
        analyzer = analyzers.get(stream_id)
        if analyzer is None:
            analyzer = analyzers[stream_id] = VisionAnalyzer(**options)
        try:
            rgb = np.frombuffer(pixels, dtype=np.uint8).reshape(shape)
            reply: tuple[bool, Any] = (True, analyzer.analyse(rgb, face, pose))
        except Exception as exc:  # noqa: BLE001 - one bad frame, reported and skipped
            reply = (False, f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])), int(sys.argv[2]))
