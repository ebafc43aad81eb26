# Reference derivatives for tests/optimize/test_differences.py: what lme4's deriv12, R's
# optimHess (glmmTMB's sdreport) and numDeriv's genD with numDeriv::hessian's defaults (d = 0.1,
# as lmerTest's Satterthwaite df take them) give for smooth test functions.
# Run from the repository root:  Rscript tests/data/r/differences.R
# Writes tests/optimize/data/differences.json.
suppressPackageStartupMessages({
  library(lme4)
  library(numDeriv)
  library(jsonlite)
})

f <- function(x) exp(x[1]) * sin(x[2]) + x[1]^2 * x[3]^3 + log(2 + x[2] * x[3])
gr <- function(x) {
  c(
    exp(x[1]) * sin(x[2]) + 2 * x[1] * x[3]^3,
    exp(x[1]) * cos(x[2]) + x[3] / (2 + x[2] * x[3]),
    3 * x[1]^2 * x[3]^2 + x[2] / (2 + x[2] * x[3])
  )
}
vecf <- function(x) c(f(x), x[1] * exp(x[2] * x[3]))

points <- list(c(0.3, -0.7, 1.2), c(0, 0.5, 2))
out <- lapply(points, function(x) {
  d12 <- lme4:::deriv12(f, x)
  g <- genD(vecf, x, method.args = list(d = 0.1))
  list(
    x = x,
    deriv12 = list(gradient = d12$gradient, hessian = unname(split(d12$Hessian, row(d12$Hessian)))),
    optimHess = unname(split(optimHess(x, f, gr, control = list(ndeps = rep(1e-3, 3))),
                             rep(1:3, 3))),
    genD = list(f0 = g$f0, D = unname(split(g$D, row(g$D))))
  )
})
writeLines(
  toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
  "tests/optimize/data/differences.json"
)
