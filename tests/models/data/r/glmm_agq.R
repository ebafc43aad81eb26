# Reference values for adaptive Gauss-Hermite quadrature fits (lme4 1.1-31, R 4.2).
# Run from tests/models/data:  Rscript r/glmm_agq.R
# Writes glmm_agq.csv (the simulated data) and glmm_agq.json (lme4's results).
library(lme4)
library(jsonlite)

set.seed(20261202)
ng <- 25
per <- 8
g <- factor(rep(sprintf("g%02d", 1:ng), each = per))
n <- length(g)
b <- rnorm(ng, sd = 0.7)
x <- round(runif(n, 0, 4), 3)                        # quadratic term
size <- sample(5:30, n, replace = TRUE)
p <- plogis(-1 + 0.8 * x - 0.25 * x^2 + b[g])
inc <- rbinom(n, size, p)
big <- round(runif(n, 1000, 9000), 1)                # a covariate in the thousands
pb <- plogis(1.5 - 3e-4 * big + b[g])
yb <- rbinom(n, 1, pb)
z <- round(rnorm(n), 3)
cnt <- rpois(n, exp(0.5 + 0.4 * z + 1e-4 * big + 0.6 * b[g]))
w <- round(rnorm(n), 3)
yp <- rbinom(n, 1, pnorm(-0.3 + 0.7 * w + 0.5 * b[g]))
d <- data.frame(g = g, x = x, size = size, inc = inc, big = big, yb = yb, z = z, cnt = cnt,
                w = w, yp = yp)
write.csv(d, "glmm_agq.csv", row.names = FALSE)
d <- read.csv("glmm_agq.csv")
d$bigk <- d$big / 1000

fits <- list(
  quadratic_agq7 = list(f = cbind(inc, size - inc) ~ x + I(x^2) + (1 | g),
                        formula = "cbind(inc, size - inc) ~ x + I(x**2) + (1 | g)",
                        family = binomial, nagq = 7),
  large_scale_agq3 = list(f = yb ~ big + (1 | g), formula = "yb ~ big + (1 | g)",
                          family = binomial, nagq = 3,
                          f_scaled = yb ~ bigk + (1 | g), scale = c(1, 1000)),
  poisson_agq11 = list(f = cnt ~ z + big + (1 | g), formula = "cnt ~ z + big + (1 | g)",
                       family = poisson, nagq = 11,
                       f_scaled = cnt ~ z + bigk + (1 | g), scale = c(1, 1, 1000)),
  probit_agq25 = list(f = yp ~ w + (1 | g), formula = "yp ~ w + (1 | g)",
                      family = binomial(link = "probit"), nagq = 25),
  quadratic_agq25 = list(f = cbind(inc, size - inc) ~ x + I(x^2) + (1 | g),
                         formula = "cbind(inc, size - inc) ~ x + I(x**2) + (1 | g)",
                         family = binomial, nagq = 25)
)

ctl <- glmerControl(optCtrl = list(FtolAbs = 1e-12, FtolRel = 1e-14, XtolRel = 1e-12,
                                   maxfun = 1e5))
se_of <- function(m) unname(sqrt(diag(as.matrix(vcov(m)))))
out <- list()
for (nm in names(fits)) {
  s <- fits[[nm]]
  m <- glmer(s$f, d, family = s$family, nAGQ = s$nagq, control = ctl)
  # deriv12's step of 1e-4 in the raw coefficient of a covariate in the thousands is several
  # standard errors wide: the same model with the covariate in thousands gives the accurate
  # standard errors (se_accurate); elsewhere the step is small and se is accurate.
  se_accurate <- if (is.null(s$f_scaled)) se_of(m) else
    se_of(glmer(s$f_scaled, d, family = s$family, nAGQ = s$nagq, control = ctl)) / s$scale
  fam <- if (is.function(s$family)) s$family() else s$family
  out[[nm]] <- list(
    formula = s$formula, family = fam$family, link = fam$link, nagq = s$nagq,
    objective = -2 * as.numeric(logLik(m)), deviance_lme4 = deviance(m),
    theta = unname(getME(m, "theta")), fixef = unname(fixef(m)),
    names = names(fixef(m)), se = se_of(m), se_accurate = se_accurate,
    hessian = unname(m@optinfo$derivs$Hessian))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "glmm_agq.json")

# nAGQ = 100, the limit of the newest lme4 (mkGlmerDevfun: nAGQ <= 100; GHrule: ord < 101).
# lme4 1.1-31's glmer stops at 25, but its deviance function takes any rule of GHrule(ord):
# the nAGQ = 25 deviance function with GHrule(100) put in its environment, minimized by
# bobyqa from the nAGQ = 25 optimum, with deriv12's Hessian as glmer takes it.
m25 <- glmer(cbind(inc, size - inc) ~ x + I(x^2) + (1 | g), d, family = binomial, nAGQ = 25,
             control = ctl)
dev100 <- update(m25, devFunOnly = TRUE)
environment(dev100)$GQmat <- GHrule(100)
opt <- minqa::bobyqa(c(getME(m25, "theta"), fixef(m25)), dev100, lower = c(0, -Inf, -Inf, -Inf),
                     control = list(rhoend = 1e-10, maxfun = 1e5))
h <- lme4:::deriv12(dev100, opt$par)$Hessian
cov100 <- 2 * solve(h)[-1, -1]
out$quadratic_agq100 <- list(
  formula = "cbind(inc, size - inc) ~ x + I(x**2) + (1 | g)", family = "binomial",
  link = "logit", nagq = 100, objective = opt$fval, theta = opt$par[1],
  fixef = unname(opt$par[-1]), names = names(fixef(m25)), se = sqrt(diag(cov100)),
  se_accurate = sqrt(diag(cov100)))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "glmm_agq.json")
