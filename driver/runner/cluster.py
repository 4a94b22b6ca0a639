"""Many boxes on Ray: one driver supervisor per node, the result merged on the head.

`driver run ... --ray auto|ADDRESS` (the optional extra: `pip install 'driver[ray]'`)
does not build a cluster manager: Ray places the work, driver runs it as it does on
one box. What happens:

1. Connect to the cluster (`auto`: the one `ray start` made on this box; an address
   like `10.0.0.5:6379`; `local:N`: a throwaway cluster of N nodes on this machine).
2. One bundle per alive node (or `--ray-nodes N` of them) in a STRICT_SPREAD
   placement group: no two on one node. A bundle reserves one CPU: the node's
   driver workers are processes the node runner starts, as on one box.
3. On each node a `NodeRunner` actor. Its clock is read a few times against the
   head's (the offset is taken from the round trip with the smallest time, NTP-style);
   the offsets are reported in the result (`cluster.nodes[].clock_offset_s`).
4. The plan is run as shards (driver.planning.shard): node i runs slice i of N with
   global worker indices, so open-loop arrival k goes to exactly one worker in the
   cluster, and the nodes together send exactly the plan. Each node starts its load at
   the same instant: the agreed start on the head's clock plus that node's offset, so
   the nodes' per-second series line up after the offsets are taken out.
5. Every second each node pushes its window (driver.stats.window.Window: the
   second's counters and histograms) to a collector actor and learns whether the head
   asked it to stop. The head merges the windows of one second from every node into
   one (the live view, the series, the exporter and checkpoints see the cluster) and
   keeps each node's windows added up (driver.runner.checkpoint.RunSoFar).
6. The nodes' final results merge exactly (histograms and counters summed,
   driver.planning.shard.merge_results). A node that dies (its actor is lost) marks
   the result incomplete and keeps what it recorded up to its last window: at most
   about a second of that node is lost, and the result says so.

Ctrl-C or SIGTERM on the head asks every node to stop as a run's end does (the grace
for requests in flight), then merges what came back.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import signal
import threading
import time

from driver.errors import PlanError
from driver.stats.endpoint import EndpointResult, total_of
from driver.stats.result import Result
from driver.stats.serieslog import SeriesLog
from driver.stats.window import Window

__all__ = ["run_on_ray", "merge_windows", "parse_ray_address", "check_ray_plan", "START_MARGIN_S"]

START_MARGIN_S = 3.0  # from the last node ready to the common start: time to spawn workers
CLOCK_SAMPLES = 7
_LOCAL = re.compile(r"^local(?::(\d+))?$")


def parse_ray_address(text: str) -> tuple[str, int]:
    """--ray: ("auto" | "local" | an address, local node count)."""
    text = (text or "").strip()
    m = _LOCAL.match(text)
    if m:
        n = int(m.group(1) or 2)
        if not 1 <= n <= 16:
            raise PlanError(f"--ray {text!r}: a local cluster has 1 to 16 nodes", flag="--ray")
        return "local", n
    if not text or any(c.isspace() for c in text):
        raise PlanError(f"--ray {text!r}: expected auto, local[:N] or a cluster address as HOST:PORT",
                        flag="--ray")
    return text, 0


def _import_ray():
    try:
        import ray
    except ImportError:
        raise PlanError("--ray needs Ray: pip install 'driver[ray]'", flag="--ray") from None
    return ray


def merge_windows(wins: list[Window]) -> Window:
    """One second of several nodes as one window: endpoints by name summed, users,
    in-flight and connections summed, the busiest worker's CPU and lag the worst."""
    by_name: dict[str, list[EndpointResult]] = {}
    for win in wins:
        for row in win.rows:
            by_name.setdefault(row.name, []).append(row)
    rows = sorted((EndpointResult.merged(n, parts) for n, parts in by_name.items()), key=lambda r: -r.count)
    first = wins[0]
    rss = {}
    for i, win in enumerate(wins):
        node = getattr(win, "_node", i + 1)
        rss.update({f"node {node} {k}": v for k, v in win.driver_rss.items()})
    return dataclasses.replace(
        first, t=max(w.t for w in wins), dt=max(w.dt for w in wins), rows=tuple(rows), total=total_of(rows),
        active_users=sum(w.active_users for w in wins), in_flight=sum(w.in_flight for w in wins),
        connections=sum(w.connections for w in wins), cpu_max=max(w.cpu_max for w in wins),
        lag_mean_ns=max(w.lag_mean_ns for w in wins), watch={}, driver_rss=rss, metrics={})


def check_ray_plan(plan, nodes: int | None = None) -> None:
    """What a cluster run does not do (yet): each is one line at its flag."""
    if nodes is not None and nodes < 1:
        raise PlanError(f"--ray-nodes {nodes}: must be 1 or more", flag="--ray-nodes")
    for given, flag, why in ((plan.watch_pids, "--watch-pid", "a process id means nothing on other boxes"),
                             (plan.metrics_urls, "--metrics-url", "scrape the target from one box: run it without --ray"),
                             (plan.has_bot_side, "--mock", "a mock platform API and chaos run on one box"),
                             (plan.shard, "--shard", "--ray makes the shards itself"),
                             (plan.start_at, "--start-at", "--ray agrees the start itself"),
                             (plan.groups, "-c", "a config with scenarios: runs on one box (or as --shard slices)")):
        if given:
            raise PlanError(f"{flag} cannot be combined with --ray: {why}", flag=flag)


def _node_runner_class(ray):
    @ray.remote(num_cpus=1, max_restarts=0)
    class NodeRunner:
        """One node's driver: its supervisor and workers, run as shard `index` of the plan."""

        def info(self) -> dict:
            import os
            import socket

            ctx = ray.get_runtime_context()
            return {"node_id": ctx.get_node_id(), "host": socket.gethostname(), "pid": os.getpid(),
                    "cpus": os.cpu_count()}

        def clock(self) -> float:
            return time.time()

        def run(self, plan, index: int, collector) -> bytes:
            from driver.runner.supervisor import STOP_RUN, run

            def push(win):
                win = dataclasses.replace(win, watch={})
                return STOP_RUN if ray.get(collector.push.remote(index, win)) else None

            return run(plan, on_progress=push).to_json()

    return NodeRunner


def _collector_class(ray):
    @ray.remote(num_cpus=0)
    class Collector:
        """On the head's side: the nodes' windows in, a stop flag out."""

        def __init__(self):
            self.windows: list = []
            self.stop = False

        def push(self, index: int, win) -> bool:
            self.windows.append((index, win))
            return self.stop

        def take(self) -> list:
            out, self.windows = self.windows, []
            return out

        def request_stop(self) -> None:
            self.stop = True

    return Collector


def _offset(ray, actor) -> tuple[float, float]:
    """(the node's clock minus the head's, the round trip it was read in), NTP-style:
    the sample with the shortest round trip."""
    best = (0.0, math.inf)
    for _ in range(CLOCK_SAMPLES):
        t0 = time.time()
        remote = ray.get(actor.clock.remote())
        t1 = time.time()
        if t1 - t0 < best[1]:
            best = (remote - (t0 + t1) / 2, t1 - t0)
    return best


class _Merger:
    """The nodes' windows by second: each node's run so far, and the merged seconds."""

    def __init__(self, plan, n_nodes: int, on_progress):
        from driver.runner.checkpoint import RunSoFar

        self.n = n_nodes
        self.on_progress = on_progress
        self.alive = set(range(n_nodes))
        self.so_far = [RunSoFar(plan) for _ in range(n_nodes)]
        self.pending: dict[int, dict[int, Window]] = {}  # second -> node -> window
        self.series = SeriesLog()  # the cluster's points, on disk while the run lasts
        self.stop_asked = False

    def add(self, index: int, win: Window) -> None:
        self.so_far[index].add(win)
        self.pending.setdefault(round(win.t), {})[index] = win
        self._emit(final=False)

    def node_lost(self, index: int) -> None:
        self.alive.discard(index)
        self._emit(final=False)

    def _emit(self, final: bool) -> None:
        newest = max(self.pending, default=-1)
        for second in sorted(self.pending):
            got = self.pending[second]
            # a second is whole when every live node has given it, or late nodes are 2 s behind
            if not final and not self.alive <= set(got) and newest - second < 2:
                break
            del self.pending[second]
            wins = [dataclasses.replace(w, driver_rss={f"node {i + 1} {k}": v for k, v in w.driver_rss.items()})
                    for i, w in sorted(got.items())]
            merged = merge_windows(wins)
            self.series.append(merged.point())
            if self.on_progress is not None and self.on_progress(merged) == "stop":
                self.stop_asked = True

    def flush(self) -> None:
        self._emit(final=True)


def run_on_ray(plan, address: str, on_progress=None, *, nodes: int | None = None,
               cluster_factory=None) -> Result:
    """Run `plan` on a Ray cluster (module docstring); the merged Result.

    `address`: "auto", "local[:N]" or HOST:PORT. `nodes`: how many nodes to use (all
    alive ones when None). `cluster_factory(n)` makes the local cluster for "local:N"
    (tests pass Ray's own cluster utility; by default ray.cluster_utils.Cluster)."""
    from driver.planning.shard import merge_results

    check_ray_plan(plan, nodes)
    ray = _import_ray()
    where, n_local = parse_ray_address(address)
    cluster = None
    if where == "local":
        cluster = (cluster_factory or _local_cluster)(n_local)
        where = cluster.address
    try:
        if where != "auto" and cluster is None:
            _probe(where, address)
        if not ray.is_initialized():
            import logging

            logging.getLogger("ray").setLevel(logging.WARNING)  # Ray's INFO lines would cut through the live view
            try:
                ray.init(address=where, log_to_driver=False, logging_level="ERROR", include_dashboard=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise PlanError(f"--ray {address}: cannot reach the cluster ({exc})", flag="--ray") from None
        with _sigterm_noted() as sigterm:
            return _run(ray, plan, nodes, merge_results, on_progress, address, sigterm)
    finally:
        if cluster is not None:
            ray.shutdown()
            cluster.shutdown()


def _probe(where: str, address: str, timeout_s: float = 5.0) -> None:
    """A cluster address nobody listens on is one line, not Ray's endless retries."""
    import socket

    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise PlanError(f"--ray {address}: expected HOST:PORT (the head's GCS port, 6379 by default)", flag="--ray")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise PlanError(f"--ray {address}: cannot reach the cluster's head ({exc.strerror or exc})",
                        flag="--ray") from None


def _local_cluster(n: int):
    from driver.runner.localray import LocalCluster

    try:
        return LocalCluster(n)
    except RuntimeError as exc:
        raise PlanError(f"--ray local:{n}: {exc}", flag="--ray") from None


@contextlib.contextmanager
def _sigterm_noted():
    """SIGTERM interrupts like Ctrl-C (driver.runner.supervisor), and is noted in a flag:
    Ray's blocking calls may hand the handler's exception on as a plain KeyboardInterrupt."""
    from driver.runner.supervisor import Terminated

    got = {"sigterm": False}
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def on_sigterm(signum, frame):
        got["sigterm"] = True
        raise Terminated()

    old = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield got
    finally:
        signal.signal(signal.SIGTERM, old)


def _run(ray, plan, nodes, merge_results, on_progress, address, sigterm) -> Result:
    from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    alive = [n for n in ray.nodes() if n.get("Alive")]
    n = nodes or len(alive)
    if n < 1 or n > len(alive):
        raise PlanError(f"--ray-nodes {n}: the cluster has {len(alive)} alive nodes", flag="--ray-nodes")
    pg = placement_group([{"CPU": 1}] * n, strategy="STRICT_SPREAD")
    try:
        ray.get(pg.ready(), timeout=60)
    except GetTimeoutError:
        remove_placement_group(pg)
        raise PlanError(f"--ray {address}: could not place {n} node runners on {n} distinct nodes "
                        f"with a free CPU each", flag="--ray") from None
    NodeRunner, Collector = _node_runner_class(ray), _collector_class(ray)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # on the head's own node: losing a node must not lose the windows of the others
    collector = Collector.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        ray.get_runtime_context().get_node_id(), soft=False)).remote()
    actors = [NodeRunner.options(scheduling_strategy=PlacementGroupSchedulingStrategy(
        pg, placement_group_bundle_index=i)).remote() for i in range(n)]
    try:
        infos = ray.get([a.info.remote() for a in actors])
        offsets = [_offset(ray, a) for a in actors]
        start_at = time.time() + START_MARGIN_S
        refs = {}
        for i, actor in enumerate(actors):
            node_plan = dataclasses.replace(plan, shard=(i + 1, n), start_at=start_at + offsets[i][0])
            refs[actor.run.remote(node_plan, i, collector)] = i
        merger = _Merger(plan, n, on_progress)
        results: dict[int, Result] = {}
        lost: dict[int, str] = {}
        interrupted_by = None
        pending = list(refs)
        while pending:
            try:
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=0.25)
                for ref in done:
                    i = refs[ref]
                    try:
                        results[i] = Result.from_dict(__import__("orjson").loads(ray.get(ref)))
                    except (RayActorError, RayTaskError) as exc:
                        lost[i] = _why_lost(exc)
                        merger.node_lost(i)
                for i, win in ray.get(collector.take.remote()):
                    merger.add(i, win)
                if merger.stop_asked:
                    collector.request_stop.remote()
            except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (supervisor.Terminated)
                if interrupted_by is not None:  # a second one: stop at once, keep the windows received
                    for ref in pending:
                        lost[refs[ref]] = "stopped at once by a second interrupt"
                        merger.node_lost(refs[ref])
                    break
                interrupted_by = "SIGTERM" if sigterm["sigterm"] or type(exc).__name__ == "Terminated" else "SIGINT"
                collector.request_stop.remote()  # each node ends at its next second, with the grace
        for i, win in ray.get(collector.take.remote()):
            merger.add(i, win)
        merger.flush()
    finally:
        for actor in actors:
            ray.kill(actor)
        ray.kill(collector)
        remove_placement_group(pg)
    return _merged(plan, n, results, lost, merger, infos, offsets, merge_results, interrupted_by)


def _why_lost(exc) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _merged(plan, n, results, lost, merger, infos, offsets, merge_results, interrupted_by) -> Result:
    """The nodes' results as one; a lost node's part is its windows added up."""
    parts = []
    for i in range(n):
        if i in results:
            parts.append(results[i])
        else:
            node_plan = dataclasses.replace(plan, shard=(i + 1, n))
            part = merger.so_far[i]
            part.plan = node_plan
            parts.append(part.result(f"node {i + 1} was lost at {part.t:.0f}s of load ({lost.get(i, 'no result')}); "
                                     f"what it recorded up to its last window is kept", environment=False))
    merged, _ = merge_results(parts, force=False)
    merged.series = merger.series.points()
    merged.workers = [{**w, "node": i + 1, "index": i * plan.workers + w.get("index", 0)}
                      for i, r in enumerate(parts) for w in r.workers]  # global worker indices
    own = {f"node {i + 1} {k}": v for i, r in enumerate(parts) for k, v in (r.leak.get("driver") or {}).items()}
    merged.leak = {**merged.leak, "driver": own} if own else {k: v for k, v in merged.leak.items() if k != "driver"}
    offsets_text = ", ".join(f"node {i + 1} {offsets[i][0] * 1e3:+.2f} ms (round trip {offsets[i][1] * 1e3:.2f} ms)"
                             for i in range(n))
    merged.notes = [*merged.notes, f"ran on a Ray cluster: {n} nodes x {plan.workers} workers; clock offsets "
                                   f"to the head, taken out of the start: {offsets_text}"]
    merged.plan = {**merged.plan, "cluster": {
        "nodes": [{"node": i + 1, "node_id": infos[i]["node_id"], "host": infos[i]["host"],
                   "clock_offset_s": round(offsets[i][0], 6), "clock_rtt_s": round(offsets[i][1], 6),
                   "complete": i in results and results[i].complete,
                   **({"lost": lost[i]} if i in lost else {})} for i in range(n)]}}
    if interrupted_by:
        merged.interrupted = True
        merged.interrupted_by = interrupted_by
        merged.complete = False
        merged.reasons = [r for r in merged.reasons if not r.startswith("interrupted")]
        merged.reasons.append(f"interrupted ({interrupted_by})")
    _judge(plan, merged)
    return merged


def _judge(plan, merged: Result) -> None:
    from driver.stats.thresholds import evaluate
    from driver.stats.validity import assess

    merged.validity = assess(merged)
    merged.verdicts = evaluate(plan.thresholds, merged)
