"""`--ray local:N`: a throwaway Ray cluster of N raylets on this machine, kept in a
session of its own so that the terminal's Ctrl-C (sent to the whole foreground process
group) and a SIGTERM sent to the group reach the head — which stops the run in order
and writes what was measured — and not the cluster the run still needs.

The parent starts `python -m driver.runner.localray N` with start_new_session=True; it
makes the cluster with Ray's own utility (ray.cluster_utils.Cluster), prints its
address as one line, and shuts the cluster down when its stdin closes (the parent is
done, or died).
"""
from __future__ import annotations

import subprocess
import sys

__all__ = ["LocalCluster"]


class LocalCluster:
    """The cluster in its own session; `.address` to connect to, `.shutdown()` when done."""

    def __init__(self, n: int, timeout_s: float = 120.0):
        self.proc = subprocess.Popen([sys.executable, "-m", "driver.runner.localray", str(n)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("address "):
            self.shutdown()
            raise RuntimeError("the local Ray cluster did not start")
        self.address = line.split(" ", 1)[1]

    def shutdown(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main(n: int) -> None:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(n - 1):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    print("address", cluster.address, flush=True)
    try:
        sys.stdin.read()  # until the parent closes it, or dies
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]))
