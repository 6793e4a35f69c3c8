"""Running a learner's function so that nothing it does can hurt the session.

The checker calls the learner's code through this module. Whatever that code does — ``sys.exit()``,
an endless loop that swallows every exception, ``print`` a thousand lines, replace ``torch.exp``,
change the default dtype or the random state, call the very built-in it is meant to rebuild — the
result is a verdict, the kernel stays alive, and the session is left as it was found:

- **Its own process** (Linux): the checks run in a forked copy of the kernel. Nothing the learner's code
  changes can reach the session, a hang is ended by killing the copy, and a crash of the copy (even a
  segfault or ``os._exit``) is reported, not suffered. Elsewhere (macOS, Windows, or
  ``LMRL_EXERCISE_SANDBOX=inprocess``) the checks run in this process, guarded as below.
- **Time limits on CPU time**, so that a correct answer on a loaded 2-core machine is not called an
  endless loop: the copy's CPU time is read from ``/proc``; in-process, ``ITIMER_PROF`` measures CPU time
  and a line tracer makes the stop impossible to swallow with ``except:``. A wall-clock cap (several
  times longer) catches code that sleeps or waits.
- :class:`SessionState` snapshots and restores everything a function can change in passing: default
  dtype, grad mode, anomaly and determinism flags, RNG states, thread count, recursion limit,
  standard streams, trace functions, the working directory, and the attributes of ``torch``,
  ``torch.Tensor``, ``torch.nn.functional``, ``math``, ``numpy``, ``builtins`` and friends.
- :class:`CallMonitor` notices calls of *forbidden* functions (the built-in an exercise rebuilds) made
  from the learner's code, by name (a wrapper on the module attribute) and by identity (a profile hook).
"""
from __future__ import annotations

import builtins
import contextlib
import faulthandler
import io
import json
import math
import os
import random
import select
import signal
import sys
import tempfile
import threading
import time
import types
import warnings
from typing import Any, Callable, Iterable, Optional

import numpy as np
import torch

_THIS_FILE = __file__
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../lmrl_course


class TimeLimitExceeded(BaseException):
    """Raised inside the learner's function when it runs past its time limit (in-process mode).

    A ``BaseException`` so that ``except Exception:`` cannot swallow it; a bare ``except:`` can, once,
    so after the first one every new line raises it again (see :class:`time_limit`)."""


def is_package_code(obj: Any) -> bool:
    """True for functions whose code lives in the ``lmrl_course`` package (the course's references)."""
    code = getattr(obj, "__code__", None)
    if code is None:
        func = getattr(obj, "__func__", None) or getattr(obj, "func", None)
        code = getattr(func, "__code__", None)
    if code is None:
        return False
    return os.path.abspath(code.co_filename).startswith(_PACKAGE_DIR + os.sep)


# --------------------------------------------------------------------------- session state

def _patchable_namespaces() -> list:
    import torch.nn.functional as F
    spaces = [torch, torch.Tensor, torch.nn, F, torch.linalg, torch.special, torch.autograd, torch.fft,
              torch.distributions, torch.nn.init, torch.testing, math, builtins, np, np.random, np.linalg,
              random, sys, os, time, signal]
    return spaces


class SessionState:
    """A snapshot of the interpreter state that a learner's function could change in passing.

    ``restore()`` puts every item back; it is safe to call more than once."""

    def __init__(self):
        self.default_dtype = torch.get_default_dtype()
        self.grad_enabled = torch.is_grad_enabled()
        self.anomaly = (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled())
        self.deterministic = (torch.are_deterministic_algorithms_enabled(),
                              torch.is_deterministic_algorithms_warn_only_enabled())
        self.num_threads = torch.get_num_threads()
        self.torch_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        self.numpy_rng = np.random.get_state()
        self.python_rng = random.getstate()
        self.recursion_limit = sys.getrecursionlimit()
        self.streams = (sys.stdout, sys.stderr, sys.stdin)
        self.trace = (sys.gettrace(), sys.getprofile())
        self.threading_trace = (getattr(threading, "_trace_hook", None), getattr(threading, "_profile_hook", None))
        self.print_options = dict(torch._tensor_str.PRINT_OPTS.__dict__)
        try:
            self.cwd = os.getcwd()
        except OSError:
            self.cwd = None
        self.environ = dict(os.environ)
        self.namespaces = [(ns, dict(vars(ns))) for ns in _patchable_namespaces()]
        self.signal_handlers = {}
        for name in ("SIGALRM", "SIGPROF", "SIGINT", "SIGTERM"):
            sig = getattr(signal, name, None)
            if sig is not None and threading.current_thread() is threading.main_thread():
                try:
                    self.signal_handlers[sig] = signal.getsignal(sig)
                except (ValueError, OSError):
                    pass

    @staticmethod
    def _restore_namespace(ns, saved: dict) -> None:
        current = vars(ns)
        for key in [k for k in current if k not in saved]:
            if isinstance(current[key], types.ModuleType):  # a submodule imported meanwhile: keep it
                continue
            with contextlib.suppress(Exception):
                delattr(ns, key)
        for key, value in saved.items():
            if current.get(key, _MISSING) is not value:
                with contextlib.suppress(Exception):
                    setattr(ns, key, value)

    def restore(self) -> None:
        for ns, saved in self.namespaces:  # first, so that the calls below are the real functions
            self._restore_namespace(ns, saved)
        sys.settrace(self.trace[0])
        sys.setprofile(self.trace[1])
        if hasattr(threading, "_trace_hook"):
            threading._trace_hook, threading._profile_hook = self.threading_trace
        sys.stdout, sys.stderr, sys.stdin = self.streams
        torch.set_default_dtype(self.default_dtype)
        torch.set_grad_enabled(self.grad_enabled)
        torch.set_anomaly_enabled(self.anomaly[0], self.anomaly[1])
        torch.use_deterministic_algorithms(self.deterministic[0], warn_only=self.deterministic[1])
        if torch.get_num_threads() != self.num_threads:
            torch.set_num_threads(self.num_threads)
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        np.random.set_state(self.numpy_rng)
        random.setstate(self.python_rng)
        sys.setrecursionlimit(self.recursion_limit)
        torch._tensor_str.PRINT_OPTS.__dict__.update(self.print_options)
        if self.cwd is not None and os.getcwd() != self.cwd:
            with contextlib.suppress(OSError):
                os.chdir(self.cwd)
        if dict(os.environ) != self.environ:
            for key in [k for k in os.environ if k not in self.environ]:
                del os.environ[key]
            os.environ.update(self.environ)
        for sig, handler in self.signal_handlers.items():
            with contextlib.suppress(Exception):
                if signal.getsignal(sig) is not handler:
                    signal.signal(sig, handler)


_MISSING = object()


@contextlib.contextmanager
def preserved_session():
    """Run the body, then restore every item of :class:`SessionState` as it was before."""
    state = SessionState()
    try:
        yield state
    finally:
        state.restore()


# --------------------------------------------------------------------------- forbidden calls

def _resolve(dotted: str):
    """'torch.nn.functional.log_softmax' -> (owner object, attribute name)."""
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:-1]:
            owner = getattr(owner, attr)
        return owner, parts[-1]
    raise ValueError(f"cannot resolve {dotted!r}")


_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))


def _outside_package(frame) -> bool:
    """Was this call made by the learner's code? The first caller that is not torch's own machinery (``nn.Module``'s
    ``__call__``, ``torch.func.functional_call``, ...) decides: outside ``lmrl_course``, it is the learner's. So the
    package's ``Block`` run by the package's reference through ``functional_call`` does not count, and the learner's
    ``model(idx)`` does."""
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_TORCH_DIR + os.sep):
        frame = frame.f_back
    return frame is not None and not os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep)


class CallMonitor:
    """Notice calls of forbidden functions made from outside the package, however the learner reached them.

    Two ways, both recording into ``called`` (the wrapped function still computes the real result, so the
    learner's code runs on):

    * each dotted name in ``forbidden`` is replaced by a wrapper for the duration of the call (a call through
      the module attribute, ``torch.softmax(x)``, or a method, ``x.softmax()``);
    * a profile hook (``sys.setprofile``) recognises the same functions **by identity**, so that a name bound
      before the check (``from torch.nn.functional import softmax as sm``) is caught too; ``also`` adds
      ``(label, function)`` pairs caught this way only (the package's own implementation of the exercise).

    The originals and the previous profile hook come back on ``restore``."""

    def __init__(self, forbidden: Iterable[str], also: Iterable[tuple] = ()):
        self.called: list[str] = []
        self._saved = []
        self._by_id: dict = {}      # id(builtin) -> label; the objects are kept alive in _keep
        self._by_code: dict = {}    # code object of a Python function -> label
        self._keep = []
        for dotted in forbidden:
            try:
                owner, attr = _resolve(dotted)
                original = getattr(owner, attr)
            except (ValueError, AttributeError):
                continue
            self._register(dotted, original)
            self._saved.append((owner, attr, vars(owner).get(attr, _MISSING)))
            setattr(owner, attr, self._wrap(dotted, original))
        for label, fn in also:
            self._register(label, fn)
        self._previous_profile = sys.getprofile()
        self._profiling = bool(self._by_id or self._by_code)
        if self._profiling:
            sys.setprofile(self._profile)

    def _register(self, label: str, fn) -> None:
        fn = getattr(fn, "__wrapped__", fn)
        code = getattr(fn, "__code__", None)
        if isinstance(code, types.CodeType):
            self._by_code.setdefault(code, label)
        elif isinstance(fn, types.BuiltinFunctionType):
            self._by_id.setdefault(id(fn), label)
            self._keep.append(fn)

    def _note(self, label: str) -> None:
        if label not in self.called:
            self.called.append(label)

    def _profile(self, frame, event, arg):
        if event == "c_call":
            label = self._by_id.get(id(arg))
            if label is not None and _outside_package(frame):
                self._note(label)
        elif event == "call":
            label = self._by_code.get(frame.f_code)
            if label is not None and _outside_package(frame.f_back):
                self._note(label)
        if self._previous_profile is not None:
            self._previous_profile(frame, event, arg)

    def _wrap(self, dotted: str, original: Callable):
        monitor = self

        def forbidden_call(*args, **kwargs):
            if _outside_package(sys._getframe(1)):
                monitor._note(dotted)
            return original(*args, **kwargs)

        forbidden_call.__name__ = getattr(original, "__name__", dotted.rsplit(".", 1)[-1])
        forbidden_call.__doc__ = getattr(original, "__doc__", None)
        return forbidden_call

    def restore(self) -> None:
        if self._profiling:
            sys.setprofile(self._previous_profile)
            self._profiling = False
        for owner, attr, value in reversed(self._saved):
            with contextlib.suppress(Exception):
                if value is _MISSING:
                    delattr(owner, attr)
                else:
                    setattr(owner, attr, value)
        self._saved = []


# --------------------------------------------------------------------------- in-process time limit

class time_limit:
    """Stop the body after ``cpu_seconds`` of CPU time (or ``wall_seconds`` of wall time).

    In the main thread on Unix: ``ITIMER_PROF`` (process CPU time) and ``ITIMER_REAL`` (wall clock)
    raise :class:`TimeLimitExceeded`, again every 50 ms; each time a trace function raises it once more
    at the next line, so a loop that catches everything with a bare ``except:`` still ends. (Python
    switches off a trace function that raises, so two such loops nested inside each other can outlast
    it: that is why checks run in their own process where the system allows, see :func:`sandbox_mode`.) Off the main
    thread, or without ``setitimer``, the trace function alone checks a deadline (CPU time of the thread).
    Either way the interruption happens between Python bytecodes: one enormous tensor operation
    finishes first.
    """

    def __init__(self, cpu_seconds: float, wall_seconds: Optional[float] = None):
        self.cpu_seconds = float(cpu_seconds)
        self.wall_seconds = float(wall_seconds) if wall_seconds is not None else max(4 * self.cpu_seconds, 10.0)
        self.expired = False

    def _tracer(self, frame, event, arg):
        if frame.f_code.co_filename == _THIS_FILE:   # back in the checker: the learner's code has ended
            return None
        if self.expired or self._past_deadline():
            self.expired = True
            raise TimeLimitExceeded()
        return self._tracer

    def _past_deadline(self) -> bool:
        return (time.thread_time() - self.cpu0 > self.cpu_seconds
                or time.monotonic() - self.wall0 > self.wall_seconds)

    def _expire(self, signum, frame):
        if frame is not None and frame.f_code.co_filename == _THIS_FILE:
            return  # the learner's code has already returned; __exit__ is about to switch us off
        self.expired = True
        sys.settrace(self._tracer)
        f = frame
        while f is not None:  # the frames already running get the tracer too
            if f.f_code.co_filename == _THIS_FILE:
                break
            f.f_trace = self._tracer
            f.f_trace_lines = True
            f = f.f_back
        raise TimeLimitExceeded()

    def __enter__(self):
        self.cpu0, self.wall0 = time.thread_time(), time.monotonic()
        self.old_trace = sys.gettrace()
        self.use_signal = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread())
        if self.use_signal:
            self.old_handlers = (signal.signal(signal.SIGPROF, self._expire), signal.signal(signal.SIGALRM, self._expire))
            signal.setitimer(signal.ITIMER_PROF, self.cpu_seconds, 0.05)   # repeat every 50 ms of CPU
            signal.setitimer(signal.ITIMER_REAL, self.wall_seconds, 0.05)
        else:
            sys.settrace(self._tracer)
        return self

    def __exit__(self, *exc):
        sys.settrace(self.old_trace)
        if self.use_signal:  # (a signal arriving while this runs does nothing: see _expire)
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGPROF, self.old_handlers[0])
            signal.signal(signal.SIGALRM, self.old_handlers[1])
        sys.settrace(self.old_trace)
        f = sys._getframe()
        while f is not None:
            if f.f_trace is self._tracer:
                f.f_trace = None
            f = f.f_back
        return False


# --------------------------------------------------------------------------- calling the learner

class Call:
    """The outcome of one call of the learner's function: ``kind`` is ``"ok"`` (``value``),
    ``"error"`` (``error``: the exception), ``"timeout"``, ``"exit"`` (``sys.exit``; ``value`` is the code)
    or ``"interrupted"``; ``forbidden`` lists the forbidden functions it called."""

    def __init__(self, kind: str, value: Any = None, error: Optional[BaseException] = None,
                 forbidden: Optional[list] = None):
        self.kind, self.value, self.error, self.forbidden = kind, value, error, forbidden or []


def _no_input(*args, **kwargs):
    raise RuntimeError("input() cannot be used inside a check: the checker passes the arguments")


def call_guarded(fn: Callable, args: tuple, kwargs: dict, *, forbidden: Iterable[str] = (),
                 cpu_seconds: Optional[float] = None, stdout: Optional[io.StringIO] = None,
                 also_forbidden: Iterable[tuple] = ()) -> Call:
    """Call ``fn(*args, **kwargs)`` and return a :class:`Call`; never raises.

    The session is restored afterwards (:class:`SessionState`), forbidden functions are monitored,
    printed text goes to ``stdout`` (a ``StringIO``), and with ``cpu_seconds`` an in-process
    :class:`time_limit` applies. ``also_forbidden``: ``(label, function)`` pairs caught by identity only."""
    state = SessionState()
    monitor = CallMonitor(forbidden, also_forbidden)
    sink = stdout if stdout is not None else io.StringIO()
    try:
        sys.stdout = sys.stderr = sink
        sys.stdin = io.StringIO("")
        builtins.input = _no_input
        limiter = (time_limit(cpu_seconds, max(8 * cpu_seconds, 20.0)) if cpu_seconds
                   else contextlib.nullcontext())
        try:
            with limiter:
                value = fn(*args, **kwargs)
            outcome = Call("ok", value)
        except TimeLimitExceeded:
            outcome = Call("timeout")
        except SystemExit as exc:
            outcome = Call("exit", exc.code)
        except KeyboardInterrupt as exc:
            outcome = Call("interrupted", error=exc)
        except BaseException as exc:  # noqa: BLE001 - every mistake of the learner is a verdict
            outcome = Call("error", error=exc)
    except TimeLimitExceeded:  # a late alarm between the call and the end of the guard
        outcome = Call("timeout")
    finally:
        monitor.restore()
        state.restore()
    outcome.forbidden = list(monitor.called)
    return outcome


# --------------------------------------------------------------------------- its own process

def sandbox_mode() -> str:
    """``"fork"`` (each check in a forked copy of the process) on Linux, else ``"inprocess"``.

    ``LMRL_EXERCISE_SANDBOX=inprocess`` or ``=fork`` chooses."""
    choice = os.environ.get("LMRL_EXERCISE_SANDBOX", "").strip().lower()
    if choice in ("inprocess", "fork"):
        return choice if (choice != "fork" or hasattr(os, "fork")) else "inprocess"
    return "fork" if sys.platform.startswith("linux") and hasattr(os, "fork") else "inprocess"


def _cpu_seconds_of(pid: int) -> Optional[float]:
    """User + system CPU time of process ``pid`` (all its threads), from /proc; None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Reporter:
    """How a job running in the forked copy talks to the parent: one JSON line per event."""

    def __init__(self, fd: Optional[int]):
        self.fd = fd

    def send(self, **event) -> None:
        if self.fd is None:
            return
        data = (json.dumps(event, default=str) + "\n").encode()
        while data:
            n = os.write(self.fd, data)
            data = data[n:]


def run_forked(job: Callable[[Reporter], dict], *, cpu_seconds_per_step: float, wall_seconds_per_step: float,
               on_event: Optional[Callable[[dict], None]] = None) -> dict:
    """Run ``job(reporter)`` in a forked copy of this process and return the dict it produced.

    The job calls ``reporter.send(step=...)`` as it starts each step (a case, a gradient); the parent
    kills the copy when one step has used more than ``cpu_seconds_per_step`` of CPU time or lasted
    more than ``wall_seconds_per_step`` (code that sleeps or waits). What comes back when it did not finish::

        {"outcome": "timeout", "step": <last step>, "clock": "cpu" | "wall"}
        {"outcome": "died", "step": ..., "exit": <exit status>, "signal": <signal number or None>}
    """
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "fork() of a multi-threaded process"
        pid = os.fork()
    if pid == 0:  # ------------------------------------------------ the copy: never returns
        status = 0
        try:
            os.close(read_fd)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            sink = tempfile.TemporaryFile()
            os.dup2(sink.fileno(), 1)   # text written by C code lands here, not in the notebook
            os.dup2(sink.fileno(), 2)
            sys.stdout = sys.stderr = io.StringIO()
            sys.stdin = io.StringIO("")
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            faulthandler.disable()      # a crash of the copy is reported as a verdict, not as a dump
            torch.set_num_threads(1)    # OpenMP thread pools do not survive fork
            reporter = Reporter(write_fd)
            result = job(reporter)
            reporter.send(result=result)
        except BaseException as exc:  # noqa: BLE001
            with contextlib.suppress(BaseException):
                Reporter(write_fd).send(result={"outcome": "internal", "error": f"{type(exc).__name__}: {exc}"})
            status = 1
        finally:
            os._exit(status)
    # ------------------------------------------------------------- the parent
    os.close(write_fd)
    buffer, result, step = b"", None, None
    step_cpu0, step_wall0 = 0.0, time.monotonic()
    timeout_clock = None
    exit_status = None
    try:
        while True:
            ready, _, _ = select.select([read_fd], [], [], 0.02)
            if ready:
                chunk = os.read(read_fd, 65536)
                if not chunk:  # the copy closed its end: it has exited
                    _, exit_status = os.waitpid(pid, 0)
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if "result" in event:
                        result = event["result"]
                    elif "step" in event:
                        step = event["step"]
                        step_cpu0, step_wall0 = _cpu_seconds_of(pid) or 0.0, time.monotonic()
                    if on_event is not None:
                        on_event(event)
            if result is not None:
                _, exit_status = os.waitpid(pid, 0)
                break
            cpu = _cpu_seconds_of(pid)
            if cpu is not None and cpu - step_cpu0 > cpu_seconds_per_step:
                timeout_clock = "cpu"
            elif time.monotonic() - step_wall0 > wall_seconds_per_step:
                timeout_clock = "wall"
            if timeout_clock:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
    except BaseException:  # KeyboardInterrupt in the parent: end the copy, then let it propagate
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    finally:
        os.close(read_fd)
    if result is not None:
        return result
    if timeout_clock:
        return {"outcome": "timeout", "step": step, "clock": timeout_clock}
    sig = os.WTERMSIG(exit_status) if exit_status is not None and os.WIFSIGNALED(exit_status) else None
    code = os.WEXITSTATUS(exit_status) if exit_status is not None and os.WIFEXITED(exit_status) else None
    return {"outcome": "died", "step": step, "exit": code, "signal": sig}
