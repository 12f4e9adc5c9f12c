"""The algorithm comparison table printed by `strata compare` and `strata demo`."""

from __future__ import annotations

from .algorithms import DESCRIPTIONS
from .result import PlacementResult


def format_comparison(results: list[PlacementResult]) -> str:
    """The comparison table: objective, gap to the best proven bound, seconds, and the mean client
    delay where containers declare clients."""
    # Bounds of the layer-sharing problem (no-sharing's own bound is for a different problem).
    bounds = [r.lower_bound for r in results if r.lower_bound is not None and r.algorithm != "no-sharing"]
    best_bound = max(bounds) if bounds else None
    delays = any(r.client_delay_ms is not None for r in results)
    delay_head = f" {'client ms':>9}" if delays else ""
    lines = [f"{'algorithm':<15} {'status':<10} {'objective':>12} {'gap to bound':>13} {'seconds':>8}{delay_head}  note"]
    for r in results:
        objective = f"{r.objective:,.1f}" if r.objective is not None else "-"
        gap = (f"{100 * (r.objective - best_bound) / r.objective:.2f}%"
               if r.objective and best_bound is not None else "-")
        note = r.message if r.status != "optimal" and r.message else DESCRIPTIONS[r.algorithm]
        delay = (f" {r.client_delay_ms:>9.1f}" if r.client_delay_ms is not None else f" {'-':>9}") if delays else ""
        lines.append(f"{r.algorithm:<15} {r.status:<10} {objective:>12} {gap:>13} {r.seconds:>8.2f}{delay}  {note}")
    if best_bound is not None:
        lines.append(f"best proven lower bound: {best_bound:,.1f}")
    return "\n".join(lines)
