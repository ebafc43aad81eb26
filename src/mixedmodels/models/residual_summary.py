"""The summary's sections of a residual structure, as nlme prints them.

::

    Correlation Structure: AR(1)
     Formula: ~Days | Subject
     Parameter estimate(s):
          Phi
     0.627
    Variance function:
     Structure: Different standard deviations per stratum
     Formula: ~1 | Sex
     Parameter estimates:
     Female   Male
      1.000  0.411
"""

from __future__ import annotations

from typing import Protocol

from mixedmodels.spec.residual import ResidualStructure

__all__ = ["StructuredModel", "residual_sections"]


class StructuredModel(Protocol):
    """What the sections read of a fitted model with a residual structure."""

    @property
    def structure(self) -> ResidualStructure: ...  # noqa: D102
    @property
    def correlation_parameters(self) -> dict[str, float]: ...  # noqa: D102
    @property
    def variance_parameters(self) -> dict[str, float]: ...  # noqa: D102


STRUCTURES = {
    "ident": "Different standard deviations per stratum",
    "power": "Power of variance covariate",
    "exp": "Exponential of variance covariate",
}


def _vector(names: list[str], values: list[float]) -> list[str]:
    """A named vector as R prints it: names above values, right-aligned."""
    cells = [f"{v:.7g}" for v in values]
    widths = [max(len(n), len(c)) for n, c in zip(names, cells, strict=True)]
    return [
        " ".join(n.rjust(w) for n, w in zip(names, widths, strict=True)),
        " ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)),
    ]


def residual_sections(model: StructuredModel) -> str:
    """The correlation structure's and variance function's sections (text lines)."""
    structure = model.structure
    lines: list[str] = []
    cor = structure.correlation
    if cor is not None:
        params = model.correlation_parameters
        lines += [
            f"Correlation Structure: {cor.title}",
            f" Formula: {cor.formula()}",
            " Parameter estimate(s):",
            *_vector(list(params), list(params.values())),
        ]
    var = structure.variance
    if var is not None:
        params = model.variance_parameters
        names, values = list(params), list(params.values())
        if var.spec.kind == "ident":
            reference = var.reference
            names, values = [reference, *names], [1.0, *values]
        lines += [
            "Variance function:",
            f" Structure: {STRUCTURES[var.spec.kind]}",
            f" Formula: {var.spec.formula()}",
            " Parameter estimates:",
            *_vector(names, values),
        ]
    return "\n".join(lines) + "\n"
