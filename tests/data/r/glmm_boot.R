# Reference values for the parametric bootstrap of GLMMs (tests/inference/test_bootstrap_glmm.py):
# lme4's bootMer (new random effects in each replicate, use.u = FALSE) of a binomial and a
# Poisson GLMM, summarized per parameter (the SD of the random intercept, then the fixed
# effects): the mean, the SD, the kurtosis (for the Monte Carlo error of the SD) and quantiles
# (for the density behind the Monte Carlo error of a percentile), and lme4's percentile
# intervals confint(m, method = "boot", boot.type = "perc") from a second, independent run.
# Run from the repository root:  Rscript tests/data/r/glmm_boot.R  (about 20 minutes on one
# core: 2 x 2 x 2000 glmer refits; GLMM_BOOT_NSIM=50 for a quick try).
# Writes tests/inference/data/glmm_boot.json.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
out_dir <- "tests/inference/data"
data_dir <- "src/mixedmodels/datasets/data"
nsim <- as.integer(Sys.getenv("GLMM_BOOT_NSIM", "2000"))

cbpp <- read.csv(file.path(data_dir, "cbpp.csv"), colClasses = c(herd = "character",
                 period = "character"))
cbpp$herd <- factor(cbpp$herd); cbpp$period <- factor(cbpp$period)
grouse <- read.csv(file.path(data_dir, "grouseticks.csv"),
                   colClasses = c(INDEX = "character", BROOD = "character",
                                  YEAR = "character", LOCATION = "character"))
for (v in c("INDEX", "BROOD", "YEAR", "LOCATION")) grouse[[v]] <- factor(grouse[[v]])

cases <- list(
  cbpp = list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
              data = cbpp, family = binomial, seed = c(20260101, 20260102)),
  grouse = list(formula = "TICKS ~ YEAR + (1 | BROOD)", data = grouse, family = poisson,
                seed = c(20260201, 20260202))
)

# the SD of the (single) random intercept, then the fixed effects: lme4's confint order
params <- function(fit) c(.sig01 = sqrt(unlist(VarCorr(fit)))[[1]], fixef(fit))

summarize <- function(t) {
  probs <- c(0.01, 0.015, 0.025, 0.035, 0.05, 0.5, 0.95, 0.965, 0.975, 0.985, 0.99)
  lapply(seq_len(ncol(t)), function(j) {
    x <- t[, j]; x <- x[is.finite(x)]
    m <- mean(x); s <- sd(x)
    list(mean = m, sd = s, kurtosis = mean((x - m)^4) / mean((x - m)^2)^2,
         probs = probs, quantiles = unname(quantile(x, probs, type = 7)))
  })
}

run_case <- function(case) {
  fit <- glmer(as.formula(case$formula), data = case$data, family = case$family)
  boot <- bootMer(fit, params, nsim = nsim, seed = case$seed[1], use.u = FALSE,
                  type = "parametric")
  failed <- sum(!stats::complete.cases(boot$t))
  set.seed(case$seed[2])
  ci <- suppressWarnings(confint(fit, method = "boot", nsim = nsim, boot.type = "perc",
                                 oldNames = TRUE))
  stats <- summarize(boot$t)
  names(stats) <- names(params(fit))
  list(formula = case$formula, family = case$family()$family, nsim = nsim,
       estimates = as.list(params(fit)), parameters = names(params(fit)),
       n_failed = failed, singular = mean(boot$t[, 1] < 1e-4, na.rm = TRUE),
       boot = stats, confint = list(parameters = rownames(ci), lower = unname(ci[, 1]),
                                    upper = unname(ci[, 2]), nsim = nsim, level = 0.95))
}

result <- lapply(cases, run_case)
result$lme4_version <- as.character(packageVersion("lme4"))
writeLines(toJSON(result, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(out_dir, "glmm_boot.json"))
