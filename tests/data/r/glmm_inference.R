# Reference values for GLMM inference (tests/inference/test_glmm_wald.py, test_glmm_profile.py):
# profile and Wald confidence intervals (lme4's confint), the profile traces, car's type II and
# III Wald chi-square tables, lme4's sequential anova and car's linearHypothesis.
# Run from the repository root:  Rscript tests/data/r/glmm_inference.R
# Writes tests/inference/data/glmm_slope_sim.csv (simulated data) and
# tests/inference/data/glmm_inference.json.
#
# The fits use tight tolerances (PIRLS to 1e-12, BOBYQA to rhoend = 1e-10; profile() reuses the
# fit's optimizer and control): with glmer's defaults cbpp stops ~0.002 standard errors from the
# optimum (β to 4e-4 relative) and the finite-difference Hessian behind vcov() is 2 % off, which
# would swamp the 1e-4 to which the tests compare. Tightened, lme4 reaches the optimum to ~1e-9.
# profile() evaluates the deviance through getME(fit, "devfun"), which rebuilds PIRLS with
# glmerControl()'s default tolPwrss = 1e-7 whatever the fit's control: its deviances are then
# ~1e-3 too high away from the estimates (cbpp's first profile point has ζ = 0.044 for 0.036).
# The default is set to 1e-12 here so that lme4's profiling algorithm runs on the exact objective.
# car's linearHypothesis for merMod fits ignores a numeric rhs, so hypotheses are given as text.
suppressPackageStartupMessages({library(lme4); library(car); library(jsonlite)})
out_dir <- "tests/inference/data"
data_dir <- "src/mixedmodels/datasets/data"

cbpp <- read.csv(file.path(data_dir, "cbpp.csv"), colClasses = c(herd = "character",
                 period = "character"))
cbpp$herd <- factor(cbpp$herd); cbpp$period <- factor(cbpp$period)
grouse <- read.csv(file.path(data_dir, "grouseticks.csv"),
                   colClasses = c(INDEX = "character", BROOD = "character",
                                  YEAR = "character", LOCATION = "character"))
for (v in c("INDEX", "BROOD", "YEAR", "LOCATION")) grouse[[v]] <- factor(grouse[[v]])

# simulated binary responses: a random intercept and slope per group, a 3-level factor A
set.seed(20261215)
ng <- 30; per <- 14
sim <- data.frame(g = sprintf("g%02d", rep(seq_len(ng), each = per)),
                  x = round(runif(ng * per, -1.5, 1.5), 3),
                  A = sample(c("a1", "a2", "a3"), ng * per, replace = TRUE))
b0 <- rnorm(ng, 0, 0.9); b1 <- 0.5 * b0 + rnorm(ng, 0, 0.6)
gi <- as.integer(factor(sim$g))
eta <- -0.3 + 0.8 * sim$x + c(a1 = 0, a2 = 0.6, a3 = -0.4)[sim$A] +
  0.5 * sim$x * (sim$A == "a2") + b0[gi] + b1[gi] * sim$x
sim$y <- rbinom(nrow(sim), 1, plogis(eta))
write.csv(sim, file.path(out_dir, "glmm_slope_sim.csv"), row.names = FALSE)
sim <- read.csv(file.path(out_dir, "glmm_slope_sim.csv"), stringsAsFactors = TRUE)

cases <- list(
  cbpp = list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
              data = "cbpp", family = "binomial",
              L = rbind(c(0, 1, -1, 0), c(0, 1, 0, -1)), rhs = c(0, 0.5),
              text = c("period2 - period3 = 0", "period2 - period4 = 0.5")),
  grouse = list(formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
                data = "grouse", family = "poisson",
                L = rbind(c(0, 1, -1, 0)), rhs = 0, text = "YEAR96 = YEAR97"),
  grouse_int = list(formula = "TICKS ~ YEAR * cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
                    data = "grouse", family = "poisson", profile = FALSE,
                    L = rbind(c(0, 0, 0, 0, 1, 0), c(0, 0, 0, 0, 0, 1)), rhs = c(0, 0),
                    text = c("YEAR96:cHEIGHT = 0", "YEAR97:cHEIGHT = 0")),
  slope = list(formula = "y ~ x + A + (1 + x | g)", data = "sim", family = "binomial",
               L = rbind(c(0, 0, 1, -1)), rhs = 0.2, text = "Aa2 - Aa3 = 0.2"),
  slope_int = list(formula = "y ~ A * x + (1 + x | g)", data = "sim", family = "binomial",
                   profile = FALSE, L = rbind(c(0, 1, -1, 0, 0, 0)), rhs = 0,
                   text = "Aa2 = Aa3")
)
datasets <- list(cbpp = cbpp, grouse = grouse, sim = sim)
tight <- lme4::glmerControl
formals(tight)$tolPwrss <- 1e-12
assignInNamespace("glmerControl", tight, "lme4")
control <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
                        optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

wald_table <- function(tab) {
  list(terms = rownames(tab), chisq = tab[["Chisq"]], df = tab[["Df"]],
       p_value = tab[["Pr(>Chisq)"]])
}
ci_table <- function(ci) {
  list(parameters = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
}

result <- list()
for (name in names(cases)) {
  case <- cases[[name]]
  fit <- glmer(as.formula(case$formula), data = datasets[[case$data]],
               family = case$family, control = control)
  V <- as.matrix(vcov(fit))
  seq_anova <- anova(fit)
  lh <- linearHypothesis(fit, case$text)
  out <- list(
    formula = case$formula, data = case$data, family = case$family,
    deviance = -2 * c(logLik(fit)), theta = unname(getME(fit, "theta")),
    fixef = unname(fixef(fit)), fixef_names = names(fixef(fit)),
    vcov = unname(lapply(seq_len(ncol(V)), function(j) V[, j])),
    vcov_rx = {W <- as.matrix(vcov(fit, use.hessian = FALSE))
               unname(lapply(seq_len(ncol(W)), function(j) W[, j]))},
    wald = ci_table(confint(fit, method = "Wald")),
    wald_90 = ci_table(confint(fit, method = "Wald", level = 0.9)),
    type2 = wald_table(Anova(fit, type = "II")),
    type3 = wald_table(Anova(fit, type = "III")),
    anova = list(terms = rownames(seq_anova), npar = seq_anova[["npar"]],
                 sum_sq = seq_anova[["Sum Sq"]], f_value = seq_anova[["F value"]]),
    hypothesis = list(L = unname(lapply(seq_len(nrow(case$L)), function(i) case$L[i, ])),
                      rhs = case$rhs, text = case$text, chisq = lh$Chisq[2], df = lh$Df[2],
                      p_value = lh[["Pr(>Chisq)"]][2])
  )
  if (!isFALSE(case$profile)) {
    pr <- profile(fit)
    out$profile <- ci_table(confint(pr))
    out$profile_90 <- ci_table(confint(pr, level = 0.9))
    trace <- as.data.frame(pr)
    out$trace <- list(parameter = as.character(trace$.par), zeta = trace$.zeta,
                      value = unname(vapply(seq_len(nrow(trace)), function(i)
                        trace[i, as.character(trace$.par[i])], 0.0)))
  }
  result[[name]] <- out
}
writeLines(toJSON(result, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(out_dir, "glmm_inference.json"))
