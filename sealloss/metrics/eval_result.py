"""The result of an evaluation (:class:`EvalResult`) and its plain-text table; produced by the
streaming evaluator of :mod:`sealloss.metrics.evaluator`."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EvalResult"]


@dataclass
class EvalResult:
    """Metrics of one evaluation (mm for lengths, % for ratios, PCK and AUC).

    Attributes:
        summary: metric name -> value over all samples.
        per_action: action -> (metric name -> value); empty when no actions were given.
        per_joint: joint name -> MPJPE in mm (evaluated joints only).
        count: number of samples.
        per_action_count: action -> number of samples.
    """

    summary: dict[str, float]
    per_action: dict[str, dict[str, float]] = field(default_factory=dict)
    per_joint: dict[str, float] = field(default_factory=dict)
    count: int = 0
    per_action_count: dict[str, int] = field(default_factory=dict)

    def table(self, per_action: bool = True, per_joint: bool = False, digits: int = 1) -> str:
        """Plain-text table: one row per action (if any) and an ``All`` row; optionally a
        second table of per-joint MPJPE."""
        keys = list(self.summary)
        rows: list[tuple[str, int, dict[str, float]]] = []
        if per_action:
            rows += [(a, self.per_action_count[a], m) for a, m in self.per_action.items()]
        rows.append(("All", self.count, self.summary))
        name_w = max([len("action")] + [len(r[0]) for r in rows])
        widths = [max(len(k), digits + 6) for k in keys]
        header = f"{'action':<{name_w}} {'N':>7} " + " ".join(
            f"{k:>{w}}" for k, w in zip(keys, widths)
        )
        lines = [header, "-" * len(header)]
        for name, n, vals in rows:
            cells = " ".join(f"{vals[k]:>{w}.{digits}f}" for k, w in zip(keys, widths))
            lines.append(f"{name:<{name_w}} {n:>7d} {cells}")
        if per_joint and self.per_joint:
            jw = max(len("joint"), *(len(j) for j in self.per_joint))
            lines += ["", f"{'joint':<{jw}} {'MPJPE':>9}", "-" * (jw + 10)]
            lines += [f"{j:<{jw}} {v:>9.{digits}f}" for j, v in self.per_joint.items()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

