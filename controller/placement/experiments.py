"""The paper's experiments (section 4.3): Fig. 4 (stored size vs containers) and Fig. 5 (vs server capacity)."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from . import generators
from .algorithms import run
from .model import Problem

Progress = Callable[[str], None]

EXPERIMENTS = ("fig4", "fig5")
DATA_SETS = ("paper", "dockerhub")
SERVERS = 10  # the paper's setting
FIG4_CONTAINERS = (4, 8, 12, 16, 20, 24)  # at 28, no-sharing has no placement on most paper instances
FIG5_CONTAINERS = 20
FIG5_MULTIPLIERS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
COMPARED = ("no-sharing", "ilp", "relax-round", "image-locality", "kube-default", "strata")
# Algorithms whose lower_bound bounds the layer-sharing optimum (no-sharing's answer bounds nothing).
BOUNDING = ("ilp", "relax-round", "strata")
FIELDS = ("experiment", "data", "x", "seed", "algorithm", "status", "objective", "lower_bound",
          "seconds", "message")

LABELS = {
    "no-sharing": "no sharing (paper's baseline)",
    "ilp": "ILP (paper's optimum, CBC)",
    "relax-round": "Algorithm 1 (LP relaxation + rounding)",
    "image-locality": "kube ImageLocality (per layer)",
    "kube-default": "kube-scheduler default profile",
    "strata": "strata (ours)",
}
STYLE = {  # colour, marker, line style
    "no-sharing": ("#7f7f7f", "v", "-"),
    "ilp": ("#1f77b4", "s", "--"),
    "relax-round": ("#d62728", "^", "-"),
    "image-locality": ("#ff7f0e", "D", "-"),
    "kube-default": ("#9467bd", "P", "-"),
    "strata": ("#2ca02c", "o", "-"),
}
FAILURE_VERBS = {"relax-round": "gave up", "ilp": "no answer in time"}
XLABELS = {
    "fig4": "number of containers (10 servers)",
    "fig5": "multiplier on every server's CPU, storage and bandwidth",
}
SIZE_UNITS = {
    "paper": "paper's size units",
    "dockerhub": "MiB, layer sizes x3.5",
}


def make_problem(data: str, n_containers: int, seed: int) -> Problem:
    """One instance on the paper's 10 servers; Docker Hub servers keep the paper's capacities."""
    if data == "paper":
        return generators.paper_problem(n_containers, seed=seed, n_servers=SERVERS)
    if data == "dockerhub":
        return generators.dockerhub_problem(SERVERS, n_containers, seed=seed, multiplier=1.0)
    raise ValueError(f"unknown data set {data!r}; choose one of {', '.join(DATA_SETS)}")


def _row(experiment: str, data: str, x: float, seed: int, result) -> dict:
    return {
        "experiment": experiment, "data": data, "x": x, "seed": seed,
        "algorithm": result.algorithm, "status": result.status,
        "objective": result.objective, "lower_bound": result.lower_bound,
        "seconds": round(result.seconds, 3), "message": result.message,
    }


def _describe(row: dict) -> str:
    value = "-" if row["objective"] is None else f"{row['objective']:.0f}"
    return (f"{row['experiment']} {row['data']} x={row['x']:g} seed={row['seed']} "
            f"{row['algorithm']}: {row['status']} {value} ({row['seconds']:.1f} s)")


def _run_point(experiment: str, data: str, x: float, seed: int, problem: Problem,
               time_limit: float, progress: Progress) -> list[dict]:
    rows = []
    for name in COMPARED:
        result = run(name, problem, time_limit=time_limit, seed=seed)
        rows.append(_row(experiment, data, x, seed, result))
        progress(_describe(rows[-1]))
    return rows


def run_fig4(data: str, seeds: list[int], time_limit: float, progress: Progress,
             containers: Iterable[int] = FIG4_CONTAINERS) -> list[dict]:
    """Total stored size against the number of containers, on 10 servers of the paper's capacities."""
    rows = []
    for n in containers:
        for seed in seeds:
            rows += _run_point("fig4", data, n, seed, make_problem(data, n, seed), time_limit, progress)
    return rows


def run_fig5(data: str, seeds: list[int], time_limit: float, progress: Progress,
             multipliers: Iterable[float] = FIG5_MULTIPLIERS,
             n_containers: int = FIG5_CONTAINERS) -> list[dict]:
    """Total stored size against a multiplier on every server capacity; the same containers at every x."""
    rows = []
    for m in multipliers:
        for seed in seeds:
            problem = make_problem(data, n_containers, seed).scaled(m)
            rows += _run_point("fig5", data, m, seed, problem, time_limit, progress)
    return rows


@dataclass
class PointSummary:
    """One algorithm at one x, over the seeds: figures of the runs that returned a placement."""

    x: float
    algorithm: str
    runs: int
    solved: int  # returned a placement
    optimal: int  # proven optimal
    mean: float | None
    low: float | None
    high: float | None

    @property
    def failed(self) -> int:
        return self.runs - self.solved

    @property
    def unproven(self) -> int:
        """Runs that returned a placement without proving it optimal (for the ILP: time limit hit)."""
        return self.solved - self.optimal


def summarise(rows: list[dict], value: Callable[[dict], float | None] | None = None) -> list[PointSummary]:
    """Per (x, algorithm), in x then COMPARED order; failures are counted, not averaged.

    `value` maps a solved row to the figure averaged (default: its objective).
    """
    value = value or (lambda row: float(row["objective"]))
    groups: dict[tuple[float, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((float(row["x"]), row["algorithm"]), []).append(row)
    order = {name: k for k, name in enumerate(COMPARED)}
    out = []
    for (x, name), group in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        solved = [r for r in group if r["status"] in ("optimal", "feasible")]
        values = [v for v in map(value, solved) if v is not None]
        out.append(PointSummary(
            x, name, len(group), len(solved), sum(r["status"] == "optimal" for r in group),
            sum(values) / len(values) if values else None,
            min(values) if values else None, max(values) if values else None))
    return out


def instance_bounds(rows: list[dict]) -> dict[tuple[float, int], float]:
    """(x, seed) -> the best proven lower bound on that instance's layer-sharing optimum."""
    out: dict[tuple[float, int], float] = {}
    for row in rows:
        if row["algorithm"] in BOUNDING and row["lower_bound"] not in (None, ""):
            key = (float(row["x"]), int(row["seed"]))
            out[key] = max(out.get(key, -math.inf), float(row["lower_bound"]))
    return out


def best_bounds(rows: list[dict]) -> dict[float, float]:
    """Mean over seeds of the best proven lower bound on the layer-sharing optimum, per x."""
    by_x: dict[float, list[float]] = {}
    for (x, _), bound in instance_bounds(rows).items():
        by_x.setdefault(x, []).append(bound)
    return {x: sum(b) / len(b) for x, b in sorted(by_x.items())}


def write_csv(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in FIELDS})
    return path


def read_csv(path: str | Path) -> list[dict]:
    """Rows written by write_csv, numbers parsed back (empty objective/bound -> None)."""
    rows = []
    with Path(path).open(newline="") as f:
        for row in csv.DictReader(f):
            row["x"] = float(row["x"])
            row["seed"] = int(row["seed"])
            row["seconds"] = float(row["seconds"])
            for key in ("objective", "lower_bound"):
                row[key] = float(row[key]) if row[key] != "" else None
            rows.append(row)
    return rows


def _title(rows: list[dict], time_limit: float | None) -> str:
    experiment, data = rows[0]["experiment"], rows[0]["data"]
    seeds = len({r["seed"] for r in rows})
    source = ("paper's generator" if data == "paper"
              else "Docker Hub images (pull-weighted, layers x3.5)")
    if experiment == "fig4":
        what = "Fig. 4: total stored layer size vs number of containers"
        setting = f"{source}, {SERVERS} servers"
    else:
        what = "Fig. 5: total stored layer size vs server capacity"
        setting = f"{source}, {SERVERS} servers, {FIG5_CONTAINERS} containers"
    setting += f", {seeds} seeds per point"
    if time_limit:
        setting += f", {time_limit:g} s per solve"
    return f"{what}\n{setting}"


def _panel(ax, summaries: list[PointSummary], dodge: dict[str, float], *, with_labels: bool,
           time_limit: float | None) -> None:
    """One line per algorithm: mean with min..max bars, hollow ILP markers at the time limit,
    "k/n" next to means over fewer than all seeds, and failure counts at the foot."""
    xs = sorted({s.x for s in summaries})
    notes: list[tuple[float, int, str, str]] = []  # x, stacking level, text, colour
    for name in COMPARED:
        mine = [s for s in summaries if s.algorithm == name]
        if not mine:
            continue
        colour, marker, line = STYLE[name]
        ok = [s for s in mine if s.mean is not None]
        px = [s.x + dodge[name] for s in ok]
        label = None
        if with_labels:
            failures = sum(s.failed for s in mine)
            runs = sum(s.runs for s in mine)
            label = LABELS[name]
            if failures:
                label += f": {FAILURE_VERBS.get(name, 'failed')} in {failures}/{runs} runs"
            timeouts = sum(s.unproven for s in mine)
            if name == "ilp" and timeouts:
                limit = f"{time_limit:g} s " if time_limit else ""
                label += f"; stopped at the {limit}limit in {timeouts}/{runs} (hollow)"
        ax.errorbar(px, [s.mean for s in ok],
                    yerr=[[s.mean - s.low for s in ok], [s.high - s.mean for s in ok]],
                    color=colour, marker=marker, linestyle=line, linewidth=1.6, markersize=6,
                    capsize=3, elinewidth=1, label=label, zorder=3)
        if name == "ilp":  # hollow where some seed stopped at the time limit, unproven
            hollow = [s for s in ok if s.unproven]
            ax.plot([s.x + dodge[name] for s in hollow], [s.mean for s in hollow], linestyle="none",
                    marker=marker, markersize=7, markerfacecolor="white", markeredgecolor=colour,
                    markeredgewidth=1.5, zorder=4)
        for s in ok:
            if s.failed:  # a mean over fewer seeds than the others: say over how many
                ax.annotate(f"n={s.solved}", (s.x + dodge[name], s.mean), color=colour,
                            fontsize=7.5, xytext=(5, -3), textcoords="offset points", ha="left",
                            va="top", fontweight="bold", zorder=6,
                            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5})
        for s in mine:
            if s.failed:
                level = sum(1 for x, _, _, _ in notes if x == s.x)
                notes.append((s.x, level, f"{s.failed}/{s.runs}", colour))
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{x:g}" for x in xs])
    ax.grid(True, alpha=0.3)
    bottom, top = ax.get_ylim()
    for x, level, text, colour in notes:  # failure counts stacked at the foot, in the line's colour
        y = bottom + (0.025 + 0.045 * level) * (top - bottom)
        ax.plot([x - 0.012 * (xs[-1] - xs[0] or 1)], [y], marker="x", color=colour, markersize=6,
                markeredgewidth=2, zorder=5)
        ax.annotate(text, (x, y), color=colour, fontsize=8, ha="left", va="center", fontweight="bold")


def plot(rows: list[dict], path: str | Path, xlabel: str, *, time_limit: float | None = None) -> Path:
    """Left: total stored size per algorithm (mean over seeds, bars min..max), with the best proven
    lower bound; right: the same answers divided by their own instance's best lower bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    bounds = instance_bounds(rows)

    def ratio(row: dict) -> float | None:
        bound = bounds.get((float(row["x"]), int(row["seed"])))
        return float(row["objective"]) / bound if bound else None

    totals = summarise(rows)
    ratios = summarise(rows, ratio)
    xs = sorted({s.x for s in totals})
    step = min((b - a for a, b in zip(xs, xs[1:])), default=1.0)
    present = [name for name in COMPARED if any(s.algorithm == name for s in totals)]
    dodge = {name: (k - (len(present) - 1) / 2) * step * 0.035 for k, name in enumerate(present)}

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6.2), dpi=110,
                                      gridspec_kw={"width_ratios": [1.15, 1]})
    mean_bound = best_bounds(rows)
    if mean_bound:
        left.plot(list(mean_bound), list(mean_bound.values()), color="black", linestyle=":",
                  linewidth=1.3, label="best proven lower bound (mean)", zorder=2)
    left.set_ylim(0, 1.05 * max(s.high for s in totals if s.high is not None))
    _panel(left, totals, dodge, with_labels=True, time_limit=time_limit)
    left.set_xlabel(xlabel)
    left.set_ylabel(f"total stored layer size ({SIZE_UNITS.get(rows[0]['data'], 'size units')})")
    left.set_title("total stored layer size (the paper's eq. 9)", fontsize=10)

    sharing = [s for s in ratios if s.algorithm != "no-sharing"]
    highest = max((s.high for s in sharing if s.high is not None), default=1.5)
    right.axhline(1.0, color="black", linestyle=":", linewidth=1.3)
    right.set_ylim(0.9, max(1.1, highest + 0.08))
    _panel(right, sharing, dodge, with_labels=False, time_limit=time_limit)
    right.set_xlabel(xlabel)
    right.set_ylabel("stored size / best proven lower bound of the same instance")
    right.set_title("layer-sharing algorithms relative to the lower bound (1 = proven optimal)",
                    fontsize=10)

    fig.suptitle(_title(rows, time_limit), fontsize=12)
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8.5, frameon=False,
               bbox_to_anchor=(0.5, 0.035))
    fig.text(0.01, 0.005, "markers: mean over the seeds that returned a placement (n=k beside a marker: "
             "over k of n seeds); bars: min to max; x k/n at the foot: runs without a placement, "
             "excluded from the means",
             fontsize=7.5, color="#444444", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def run_experiment(name: str, out_dir: str | Path, data: str = "paper", seeds: int = 5,
                   time_limit: float = 20.0, progress: Progress = print) -> tuple[Path, Path]:
    """Run fig4 or fig5 on `seeds` instances per point; write <name>-<data>.csv and .png into out_dir."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    if data not in DATA_SETS:
        raise ValueError(f"unknown data set {data!r}; choose one of {', '.join(DATA_SETS)}")
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    if not time_limit > 0:
        raise ValueError(f"time limit must be positive, got {time_limit}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runner = run_fig4 if name == "fig4" else run_fig5
    rows = runner(data, list(range(seeds)), time_limit, progress)
    csv_path = write_csv(rows, out_dir / f"{name}-{data}.csv")
    png_path = plot(rows, out_dir / f"{name}-{data}.png", XLABELS[name], time_limit=time_limit)
    return csv_path, png_path
