"""Step ⑥: the optimization of an objective, from start to the estimates."""
