# Reference optima for tests/optimize/test_ill_scaled.py: linear mixed models with few groups
# and a predictor on a large scale (1 to 10,000), where BOBYQA on the raw θ stops short.
# Run from this directory: Rscript ill_scaled.R  (writes ill_scaled.csv and ill_scaled.json)
#
# lme4's own fit of such a model is often off too, so the reference is the best of: lme4's
# fit (bobyqa and Nelder_Mead), and lme4's fit of the model with x / 10000 mapped back to the
# raw scale (θ of the slope row divided by the scale), each refined by a second lmer from it;
# every candidate is evaluated by the raw model's deviance function and the lowest is kept, then
# refined by bobyqa and Nelder_Mead with tight tolerances (three passes).
suppressMessages(library(lme4))
library(jsonlite)

make_data <- function(seed, nper, spread_b0, spread_b1, sigma, x_kind, mean_y) {
  set.seed(seed)
  g <- rep(1:4, each = nper)
  x <- if (x_kind == "grid") rep(seq(1, 10000, length.out = nper), 4) else
    round(runif(4 * nper, 1, 10000))
  b0 <- rnorm(4, 0, spread_b0)
  b1 <- rnorm(4, 0, spread_b1)
  y <- mean_y + 0.003 * x + b0[g] + b1[g] * x + rnorm(4 * nper, 0, sigma)
  data.frame(case = seed, y = y, x = x, g = sprintf("g%d", g))
}

designs <- list(
  list(101, 10, 5, 0.002, 3, "grid", 10),
  list(102, 12, 50, 0.001, 1, "uniform", 100),
  list(103, 25, 10, 0.0005, 0.1, "uniform", 1e4),
  list(104, 8, 1, 1e-4, 3, "grid", 0),
  list(105, 50, 100, 0.01, 0.1, "uniform", 100)
)
formulas <- c("y ~ x + (1|g)", "y ~ x + (x|g)", "y ~ x + (1|g) + (0+x|g)")
scale_x <- 10000

slope_rows <- function(f) {
  if (f == "y ~ x + (x|g)") c(FALSE, TRUE, TRUE) else if (f == "y ~ x + (1|g)") FALSE else c(FALSE, TRUE)
}

reference <- function(d, f, reml) {
  fit <- function(data, start = NULL, optimizer = "bobyqa", tight = FALSE) {
    ctrl <- if (!tight) list() else if (optimizer == "bobyqa")
      list(rhobeg = 1e-3, rhoend = 1e-12, maxfun = 1e5) else
      list(FtolAbs = 1e-15, FtolRel = 1e-15, XtolRel = 1e-13, maxfun = 1e5)
    tryCatch(suppressWarnings(suppressMessages(lmer(
      as.formula(f), data, REML = reml, start = start,
      control = lmerControl(optimizer = optimizer, optCtrl = ctrl)))), error = function(e) NULL)
  }
  dev <- suppressMessages(lmer(as.formula(f), d, REML = reml, devFunOnly = TRUE))
  theta_of <- function(m) if (is.null(m)) NULL else getME(m, "theta")
  rows <- slope_rows(f)
  ds <- d; ds$x <- ds$x / scale_x
  default <- fit(d)
  scaled <- theta_of(fit(ds))
  candidates <- Filter(Negate(is.null), list(
    theta_of(default), theta_of(fit(d, optimizer = "Nelder_Mead")),
    if (is.null(scaled)) NULL else ifelse(rows, scaled / scale_x, scaled)))
  for (pass in 1:3) {
    best <- candidates[[which.min(sapply(candidates, dev))]]
    for (opt in c("bobyqa", "Nelder_Mead")) {
      refined <- theta_of(fit(d, start = list(theta = best), optimizer = opt, tight = pass > 1))
      if (!is.null(refined)) candidates[[length(candidates) + 1]] <- refined
    }
  }
  values <- sapply(candidates, dev)
  theta <- candidates[[which.min(values)]]
  # the estimates at that θ, by lme4's modular steps (?modular) without an optimizer
  lf <- suppressMessages(lFormula(as.formula(f), d, REML = reml))
  dfun <- do.call(mkLmerDevfun, lf)
  opt <- list(par = theta, fval = dfun(theta), conv = 0, message = "reference")
  m <- mkMerMod(environment(dfun), opt, lf$reTrms, fr = lf$fr)
  vc <- as.data.frame(VarCorr(m))
  list(objective = min(values), lme4_default = if (is.null(default)) NA else dev(theta_of(default)), theta = unname(theta),
       beta = unname(fixef(m)), sigma = sigma(m), sdcor = vc$sdcor)
}

all_data <- list()
out <- list()
for (design in designs) {
  d <- do.call(make_data, design)
  all_data[[length(all_data) + 1]] <- d
  for (f in formulas) for (reml in c(TRUE, FALSE)) {
    r <- reference(d, f, reml)
    out[[length(out) + 1]] <- c(list(case = design[[1]], formula = f, reml = reml), r)
  }
}
write.csv(do.call(rbind, all_data), "ill_scaled.csv", row.names = FALSE)
write_json(list(lme4 = as.character(packageVersion("lme4")), fits = out), "ill_scaled.json",
           digits = NA, auto_unbox = TRUE, pretty = TRUE)
