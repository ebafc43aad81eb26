"""Type II hypotheses of the fixed-effect terms, as lmerTest's ``anova(m, type = 2)``.

lmerTest's ``get_contrasts_type2_unfolded``: a term that no other term contains is tested by
its marginal hypothesis (its own coefficients are zero); a term contained in others (a main
effect beside its interactions) is tested adjusted for every term that does not contain it
and ignoring those that do. For such a term the columns of ``X`` are reordered as
``[unrelated terms, the term, terms containing it]`` and its hypothesis is the term's rows
of the unit upper Doolittle factor of the reordered ``XᵀX`` (``get_contrasts_type2``).

Containment is lmerTest's ``term_contain``: term ``B`` contains term ``A`` when every
variable of ``A`` is in ``B``, ``B`` has more, and both have the same numeric variables. The
variables of a term are those R's ``terms`` codes 1 (contrasts), not 2 (a factor appearing in
an interaction whose margin without it is not in the model, such as ``A`` in ``A + A:B``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mixedmodels._typing import FloatArray

if TYPE_CHECKING:
    from mixedmodels.inference.ftest import _Term

__all__ = ["containment", "type2_hypotheses"]

Array = FloatArray


def type2_hypotheses(gram: Array, terms: list[_Term]) -> dict[str, Array]:
    """The type II hypothesis matrix of each term.

    Parameters
    ----------
    gram
        ``XᵀX`` of the model's (kept) fixed-effects columns.
    terms
        The formula's terms other than the intercept, with their columns in ``X``.
    """
    from mixedmodels.inference.ftest import _doolittle_lower

    p = gram.shape[0]
    contained = containment(terms)
    out: dict[str, Array] = {}
    for term in terms:
        own = list(term.columns)
        if not contained[term.label]:
            out[term.label] = np.eye(p)[own]
            continue
        tested = own + [c for t in contained[term.label] for c in t.columns]
        moved = set(tested)
        order = [j for j in range(p) if j not in moved] + tested
        upper = _doolittle_lower(gram[np.ix_(order, order)]).T
        start = p - len(tested)  # the term's rows in the reordered factor
        L = np.zeros((len(own), p))
        L[:, order] = upper[start : start + len(own)]
        out[term.label] = L
    return out


def containment(terms: list[_Term]) -> dict[str, list[_Term]]:
    """For each term, the terms that contain it (lmerTest's ``containment``)."""
    present = {frozenset(t.factors) for t in terms}
    coded = {t.label: _coded_variables(t.factors, present) for t in terms}
    numeric = {t.label: coded[t.label] & t.numeric for t in terms}

    def contains(big: _Term, small: _Term) -> bool:
        a, b = coded[small.label], coded[big.label]
        return a <= b and bool(b - a) and numeric[small.label] == numeric[big.label]

    return {t.label: [u for u in terms if contains(u, t)] for t in terms}


def _coded_variables(factors: tuple[str, ...], present: set[frozenset[str]]) -> frozenset[str]:
    """The variables R's ``attr(terms, "factors")`` codes 1 in a term.

    A variable is coded 1 when the term without it is empty or another term of the model,
    and 2 otherwise (then R encodes it by indicators of all its levels).
    """
    whole = frozenset(factors)
    return frozenset(f for f in factors if len(whole) == 1 or (whole - {f}) in present)
