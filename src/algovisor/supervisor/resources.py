"""CPU and memory of each run's whole process tree, sampled in one pass over /proc."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_percent: float
    rss_bytes: int
    processes: int


class ResourceSampler:
    """Keeps psutil's Process objects between samples, which CPU percentages need."""

    def sample(self, leaders: dict[str, int]) -> dict[str, Usage]:
        """Usage per run id, given each run's leader pid."""
        children: dict[int, list[psutil.Process]] = defaultdict(list)
        by_pid: dict[int, psutil.Process] = {}
        # process_iter caches Process objects across calls, so cpu_percent()
        # measures since the previous sample.
        for process in psutil.process_iter(["ppid"]):
            by_pid[process.pid] = process
            children[process.info["ppid"]].append(process)
        usage: dict[str, Usage] = {}
        for run_id, leader_pid in leaders.items():
            leader = by_pid.get(leader_pid)
            if leader is None:
                continue
            tree = [leader]
            index = 0
            while index < len(tree):
                tree.extend(children.get(tree[index].pid, ()))
                index += 1
            cpu = 0.0
            rss = 0
            for member in tree:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    cpu += member.cpu_percent(None)
                    rss += member.memory_info().rss
            usage[run_id] = Usage(cpu, rss, len(tree))
        return usage
