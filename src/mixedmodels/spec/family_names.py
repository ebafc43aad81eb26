"""A family from its name, as R's ``family = "poisson"`` (or a Family object as given)."""

from __future__ import annotations

from mixedmodels.errors import ModelSpecificationError
from mixedmodels.spec.families import (
    Binomial,
    Family,
    Gamma,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
)
from mixedmodels.spec.family_gaussian import Gaussian
from mixedmodels.spec.links import Link, get_link

__all__ = ["get_family"]


_FAMILIES: dict[str, type[Family]] = {
    "binomial": Binomial,
    "bernoulli": Binomial,
    "poisson": Poisson,
    "gamma": Gamma,
    "inverse.gaussian": InverseGaussian,
    "inverse_gaussian": InverseGaussian,
    "inversegaussian": InverseGaussian,
    "negative_binomial": NegativeBinomial,
    "negative.binomial": NegativeBinomial,
    "negativebinomial": NegativeBinomial,
    "nb": NegativeBinomial,
}


def get_family(family: str | Family, link: str | Link | None = None) -> Family:
    """A family from its name (``"binomial"``, ``"poisson"``, ``"Gamma"``, ...) or as given.

    Parameters
    ----------
    family, link
        A :class:`Family` instance, or a name (case-insensitive; ``"gaussian"`` needs a log
        or inverse link). A link for a family given by name: ``link`` (canonical by default).
    """
    if isinstance(family, Family):
        if link is not None and get_link(link).name != family.link.name:
            raise ModelSpecificationError("give the link inside the Family object, not both")
        return family
    if isinstance(family, type) and issubclass(family, Family):
        return family(link=link)
    key = str(family).strip().lower()
    if key == "gaussian":  # log or inverse link (identity: lmer)
        return Gaussian(link)
    if (cls := _FAMILIES.get(key)) is None:
        known = "binomial, poisson, Gamma, inverse.gaussian, negative_binomial, gaussian"
        raise ModelSpecificationError(f"unknown family {family!r}; use one of {known}")
    return cls(link=link)
