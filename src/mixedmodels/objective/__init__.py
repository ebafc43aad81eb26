"""Step ④: the objective of a model, θ (and β) ↦ criterion: PIRLS, Laplace, quadrature."""
