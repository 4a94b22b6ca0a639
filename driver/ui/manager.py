"""The web UI's runs: one at a time, carried out by the library (driver.runner.supervisor.run)
in a thread of the UI server, or attached to a run the CLI carries out (`driver run --ui`).

The supervisor calls back once a second with its window (the same windows as the
terminal view); each becomes a JSON entry (driver.ui.live) kept for the page (so a page
opened mid-run gets the whole run so far) and pushed to every listener (the server's
event streams) through their event loops. Steers go to the run's Steering
(driver.engine.steer); a stop is the supervisor's own: the next window's callback
answers STOP_RUN, so in-flight requests get the grace and the result is complete. At
the end the result is saved in every format under the output directory.
"""
from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

from driver.engine.steer import Steering
from driver.errors import DriverError
from driver.ui.files import UiError
from driver.ui.live import LiveWindows, result_summary

__all__ = ["RunManager", "LiveRun"]

_ids = itertools.count(1)


class LiveRun:
    """One run as the page sees it."""

    def __init__(self, plan, attached: bool = False):
        self.id = next(_ids)
        self.plan = plan
        self.attached = attached  # carried out by the CLI, not by the UI
        self.steering = Steering(plan)
        self.live = LiveWindows(plan.thresholds, self.steering)
        self.windows: list[dict] = []
        self.status = "starting"  # starting, running, stopping, done, failed
        self.error: str | None = None
        self.summary: dict | None = None
        self.stop_asked = False
        self.started = time.time()
        self.thread: threading.Thread | None = None

    def meta(self) -> dict:
        describe = self.plan.describe()
        return {"id": self.id, "status": self.status, "error": self.error, "attached": self.attached,
                "target": describe.get("target"), "mode": describe.get("mode"),
                "duration_s": describe.get("duration_s"), "max_requests": describe.get("max_requests"),
                "workers": describe.get("workers"), "thresholds": describe.get("thresholds"),
                "steerable": self.steering.attached, "paused": self.steering.paused,
                "load": self.steering.load, "windows": len(self.windows)}


class RunManager:
    """The UI server's runs: the one going (or last ended), and the listeners to push to."""

    def __init__(self, workdir: Path, output: Path):
        self.workdir = Path(workdir)
        self.output = Path(output)
        self.current: LiveRun | None = None
        self.lock = threading.Lock()
        self.listeners: set = set()  # (loop, asyncio.Queue)

    # -- listeners (the server's event streams)
    def listen(self, loop, queue) -> None:
        with self.lock:
            self.listeners.add((loop, queue))

    def unlisten(self, loop, queue) -> None:
        with self.lock:
            self.listeners.discard((loop, queue))

    def _push(self, event: str, data) -> None:
        with self.lock:
            listeners = list(self.listeners)
        for loop, queue in listeners:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (event, data))
            except RuntimeError:  # that loop is closed: its stream is gone
                self.unlisten(loop, queue)

    # -- starting
    def busy(self) -> bool:
        run = self.current
        return run is not None and run.status in ("starting", "running", "stopping")

    def start(self, plan) -> LiveRun:
        """Carry out `plan` in a thread of this process; UiError 409 while a run goes on."""
        run = self._new(plan, attached=False)
        run.thread = threading.Thread(target=self._carry_out, args=(run,), name=f"driver-ui-run-{run.id}",
                                      daemon=True)
        run.thread.start()
        return run

    def attach(self, plan) -> LiveRun:
        """A run the caller carries out itself: it passes `on_window` and `run.steering` to
        driver.runner.supervisor.run, then `finished` with the result."""
        return self._new(plan, attached=True)

    def _new(self, plan, attached: bool) -> LiveRun:
        with self.lock:
            if self.busy():
                raise UiError("a run is going on: stop it first", 409)
            run = self.current = LiveRun(plan, attached)
        self._push("run", run.meta())
        return run

    def _carry_out(self, run: LiveRun) -> None:
        from driver.runner.supervisor import run as run_plan

        try:
            from driver.reports.output import check_writable

            check_writable(self.output)
            result = run_plan(run.plan, on_progress=lambda w: self.on_window(run, w), steering=run.steering)
        except DriverError as exc:
            self.failed(run, str(exc))
            return
        except Exception as exc:  # the run's thread must say why it ended, not die silently
            self.failed(run, f"{type(exc).__name__}: {exc}")
            return
        self.finished(run, result)

    # -- while it runs
    def on_window(self, run: LiveRun, win):
        """The supervisor's on_progress: keep and push the window; STOP_RUN once a stop was asked."""
        from driver.runner.supervisor import STOP_RUN

        entry = run.live.entry(win)
        if run.status == "starting":
            run.status = "running"
            self._push("run", run.meta())
        run.windows.append(entry)
        self._push("window", entry)
        return STOP_RUN if run.stop_asked else None

    def steer(self, users=None, rate=None, paused=None) -> dict:
        run = self._going()
        try:
            done = run.steering.steer(users=users, rate=rate, paused=paused)
        except RuntimeError as exc:
            raise UiError(str(exc), 409) from None
        except DriverError as exc:
            raise UiError(str(exc), 400, getattr(exc, "flag", None)) from None
        self._push("run", run.meta())
        return {**done, "t": round(done["t"], 3)}

    def stop(self) -> dict:
        run = self._going()
        run.stop_asked = True
        run.status = "stopping"
        self._push("run", run.meta())
        return run.meta()

    def _going(self) -> LiveRun:
        run = self.current
        if run is None or not self.busy():
            raise UiError("no run is going on", 409)
        return run

    # -- the end
    def finished(self, run: LiveRun, result, saved=None) -> None:
        """Save the result (unless the caller did: `saved`, driver.reports.output.Saved) and
        tell the page."""
        from driver.reports import FORMATS
        from driver.reports.output import save_run

        try:
            if saved is None:
                if run.stop_asked:
                    result.notes.append("stopped from the web UI")
                saved = save_run(result, self.output, FORMATS)
            name = saved.directory.name if saved.directory.parent.resolve() == self.output.resolve() else None
            run.summary = result_summary(result, name, [p.name for p in saved.paths], saved.failed)
        except Exception as exc:
            self.failed(run, f"the result could not be saved ({type(exc).__name__}: {exc})")
            return
        run.status = "done"
        self._push("run", run.meta())
        self._push("end", run.summary)

    def failed(self, run: LiveRun, message: str) -> None:
        run.status, run.error = "failed", message
        self._push("run", run.meta())
        self._push("end", {"error": message})

    def snapshot(self, since: int = 0) -> dict:
        """The run going on (or last ended): its meta, its windows from `since`, its summary."""
        run = self.current
        if run is None:
            return {"run": None, "windows": [], "summary": None}
        return {"run": run.meta(), "windows": run.windows[max(0, since):], "summary": run.summary}
