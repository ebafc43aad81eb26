# Reference values for GLMM leverages and influence (tests/results/test_glmm_influence.py):
# lme4's hatvalues, cooks.distance (per observation) and influence(m, groups = ...) with the
# cooks.distance, dfbeta and dfbetas methods of its result, for glmer fits.
# Run from the repository root:  Rscript tests/data/r/glmm_influence.R
# Writes tests/results/data/glmm_influence.json.
#
# Facts used by the tests (lme4 1.1-31):
# * hatvalues(glmer fit) is a_i v_i' M^-1 v_i with v_i = [Lambda' z_i; x_i], M the penalized
#   system in (u, beta) at the working weights of the last factorization (getME(m, "L"), "RZX",
#   "RX"), and a_i the PRIOR weights (weights(m, "prior"): the trials of a cbind response), not
#   the working weights; `check_hat` below recomputes it densely both ways.
# * cooks.distance(m) = (r / (1 - h))^2 h / (sigma(m)^2 rank(X)), r the Pearson residuals.
# * influence(m, groups) refits by update(m, data, subset = group != level, start = (theta,
#   fixef), control = glmerControl(optCtrl = list(maxfun = 1000))); cooks.distance of the result
#   is (G - p)/(G p) dbeta' vcov(m)^-1 dbeta (G deleted levels); dfbeta is beta(-g) - beta;
#   dfbetas divides dfbeta by the standard errors of each REFIT (its own vcov).
#
# The fits use tight tolerances (PIRLS to 1e-12, BOBYQA to rhoend = 1e-10, as
# glmm_inference.R): with glmer's defaults the optimum is reached to ~1e-4 and vcov's
# finite-difference Hessian is noisy at 1e-3. influence() builds its own control from
# glmerControl(); glmerControl is replaced in lme4's namespace by one with the same tight
# settings, so that the refits are as exact as the full fit.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
out_dir <- "tests/results/data"
data_dir <- "src/mixedmodels/datasets/data"

cbpp <- read.csv(file.path(data_dir, "cbpp.csv"), colClasses = c(herd = "character",
                 period = "character"))
cbpp$herd <- factor(cbpp$herd); cbpp$period <- factor(cbpp$period)
grouse <- read.csv(file.path(data_dir, "grouseticks.csv"),
                   colClasses = c(INDEX = "character", BROOD = "character",
                                  YEAR = "character", LOCATION = "character"))
for (v in c("INDEX", "BROOD", "YEAR", "LOCATION")) grouse[[v]] <- factor(grouse[[v]])
sim <- read.csv("tests/inference/data/glmm_slope_sim.csv", stringsAsFactors = TRUE)
gam <- read.csv("tests/data/parity/gamma_sim.csv")
gam$g <- factor(gam$g)

original <- lme4::glmerControl
tight <- function(optimizer = "bobyqa", tolPwrss = 1e-12, optCtrl = list(), ...) {
  optCtrl$rhoend <- 1e-10
  if (is.null(optCtrl$maxfun) || optCtrl$maxfun < 1e5) optCtrl$maxfun <- 1e5
  original(optimizer = optimizer, tolPwrss = tolPwrss, optCtrl = optCtrl, ...)
}
assignInNamespace("glmerControl", tight, "lme4")  # what influence() calls
control <- tight()  # the attached lme4::glmerControl is the original

cases <- list(
  cbpp = list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
              data = "cbpp", family = "binomial", link = "logit", groups = "herd"),
  cbpp_probit = list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     data = "cbpp", family = "binomial", link = "probit"),
  grouse = list(formula = "TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)", data = "grouse",
                family = "poisson", link = "log", groups = "LOCATION"),
  grouse_crossed = list(formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
                        data = "grouse", family = "poisson", link = "log"),
  slope = list(formula = "y ~ x + A + (1 + x | g)", data = "sim", family = "binomial",
               link = "logit", groups = "g"),
  gamma = list(formula = "y ~ x + (1 | g)", data = "gam", family = "Gamma", link = "log")
)

check_hat <- function(fit) {
  # dense recomputation (small data only): prior vs working weights on the columns
  X <- getME(fit, "X"); ZL <- as.matrix(getME(fit, "Z") %*% getME(fit, "Lambda"))
  w <- fit@pp$Xwts^2; a <- weights(fit, type = "prior")
  V <- cbind(ZL, X)
  M <- crossprod(V * sqrt(w)) + diag(c(rep(1, ncol(ZL)), rep(0, ncol(X))))
  quad <- rowSums(V * t(solve(M, t(V))))
  h <- suppressWarnings(hatvalues(fit))
  c(prior = max(abs(h - a * quad) / abs(h)), working = max(abs(h - w * quad) / abs(h)))
}

rows <- function(mat) unname(lapply(seq_len(nrow(mat)), function(i) unname(mat[i, ])))

result <- list()
options(warn = 1)
for (name in names(cases)) {
  case <- cases[[name]]
  data <- get(case$data)
  # a call of literals and global names: influence() evaluates it again through update()
  fit <- eval(bquote(glmer(.(as.formula(case$formula)), data = .(as.name(case$data)),
                           family = .(call(case$family, link = case$link)),
                           control = .(control))))
  V <- as.matrix(vcov(fit))
  out <- list(
    formula = case$formula, data = case$data, family = case$family, link = case$link,
    objective = -2 * c(logLik(fit)), theta = unname(getME(fit, "theta")),
    fixef = unname(fixef(fit)), fixef_names = names(fixef(fit)), sigma = sigma(fit),
    vcov = rows(V),
    hat = unname(suppressWarnings(hatvalues(fit))),
    cooks = unname(suppressWarnings(cooks.distance(fit))),
    pearson = unname(residuals(fit, type = "pearson")),
    hat_check = as.list(check_hat(fit))
  )
  if (!is.null(case$groups)) {
    inf <- suppressWarnings(influence(fit, groups = case$groups, data = data))
    out$influence <- list(
      groups = case$groups,
      levels = as.character(inf$deleted),
      cooks_distance = unname(cooks.distance(inf)),
      dfbeta = rows(dfbeta(inf)),
      dfbetas = rows(dfbetas(inf)),
      fixef_deleted = rows(inf[[paste0("fixed.effects[-", case$groups, "]")]]),
      converged = unname(inf$converged)
    )
  }
  result[[name]] <- out
}
writeLines(toJSON(result, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(out_dir, "glmm_influence.json"))
