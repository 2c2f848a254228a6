"""The three pictures a platform team asks for, one line per arm against the agent count:
queries per second, p99 latency, and replica statements per 1,000 agent queries.

matplotlib is imported here only, with the Agg backend (files, no display), so the rest of the
CLI never pays for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

COLORS = {"direct": "#7f7f7f", "federated": "#1f77b4", "accelerated": "#2ca02c"}
PLOTS: tuple[tuple[str, str, Callable[[dict[str, Any]], float | None], bool], ...] = (
    ("qps", "queries per second", lambda run: run["qps"], True),
    ("p99", "p99 latency (ms)", lambda run: run["latency_ms"]["p99"], True),
    (
        "replica_statements",
        "replica statements per 1,000 agent queries",
        lambda run: run["replica"].get("statements_per_1000"),
        True,
    ),
)


def draw(runs: Sequence[dict[str, Any]], title: str, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    arms = list(dict.fromkeys(run["arm"] for run in runs))
    agents = sorted({run["agents"] for run in runs})
    written = []
    for name, label, value, log_scale in PLOTS:
        figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
        for arm in arms:
            points = [(run["agents"], value(run)) for run in runs if run["arm"] == arm]
            points = [(x, y) for x, y in sorted(points) if y is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                axes.plot(xs, ys, marker="o", label=arm, color=COLORS.get(arm))
        if len(agents) > 1 and agents[-1] / max(agents[0], 1) >= 8:
            axes.set_xscale("log", base=2)
        axes.set_xticks(agents)
        axes.xaxis.set_major_formatter(ScalarFormatter())
        if log_scale and _positive(runs, value):
            axes.set_yscale("log")
        axes.set_xlabel("concurrent agents")
        axes.set_ylabel(label)
        axes.set_title(f"{title}: {label}")
        axes.grid(True, which="both", alpha=0.3)
        if axes.lines:
            axes.legend()
        figure.tight_layout()
        path = out / f"{name}.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    return written


def _positive(
    runs: Sequence[dict[str, Any]], value: Callable[[dict[str, Any]], float | None]
) -> bool:
    """A log axis only when every value is above zero (accelerated arms often send none)."""
    values = [value(run) for run in runs]
    present = [v for v in values if v is not None]
    return bool(present) and all(v > 0 for v in present)
