# Reference values for fixed-effects-only fits (R's lm and glm) and for likelihood-ratio
# tests of a mixed model against one (lme4's anova(lmer_model, lm_model)).
# Run from the repository root: Rscript tests/data/r/fixed_only.R
# Writes tests/models/data/fixed_only_sim.csv, tests/models/data/fixed_only.json and
# tests/inference/data/lrt_fixed_only.json.
suppressMessages({library(lme4); library(jsonlite)})
bundled <- function(name, factors) {
  d <- read.csv(file.path("src/mixedmodels/datasets/data", paste0(name, ".csv")))
  for (f in factors) d[[f]] <- factor(as.character(d[[f]]))
  d
}
sleep <- bundled("sleepstudy", "Subject")
cbpp <- bundled("cbpp", c("herd", "period"))
grouse <- bundled("grouseticks", c("BROOD", "YEAR", "LOCATION", "INDEX"))
dye2 <- bundled("Dyestuff2", "Batch")

set.seed(1202)
n <- 150
sim <- data.frame(
  g = sprintf("g%02d", sample(1:12, n, replace = TRUE)),
  f = sample(c("lo", "mid", "hi"), n, replace = TRUE),
  x = round(runif(n, 0, 4), 3),
  w = round(runif(n, 0.5, 2), 2),
  off = round(rnorm(n, 0, 0.3), 3),
  trials = sample(1:12, n, replace = TRUE),
  expo = round(runif(n, 0.5, 3), 2)
)
ga <- rnorm(12, 0, 0.7)[as.integer(factor(sim$g))]
fe <- c(lo = 0, mid = 0.4, hi = -0.3)[sim$f]
sim$y <- round(2 + fe + 0.5 * sim$x + ga + rnorm(n, 0, 1) / sqrt(sim$w), 4)
sim$succ <- rbinom(n, sim$trials, plogis(-0.5 + fe + 0.3 * sim$x + ga))
sim$prop <- sim$succ / sim$trials
sim$bin <- rbinom(n, 1, pnorm(-0.3 + 0.4 * sim$x + fe + ga))
sim$count <- rpois(n, sim$expo * exp(0.2 + fe + 0.25 * sim$x + ga))
sim$pos <- round(rgamma(n, shape = 3, rate = 3 / exp(0.5 + fe + 0.2 * sim$x)), 5)
write.csv(sim, "tests/models/data/fixed_only_sim.csv", row.names = FALSE)
sim <- read.csv("tests/models/data/fixed_only_sim.csv", stringsAsFactors = TRUE)
datasets <- list(sleep = sleep, cbpp = cbpp, grouseticks = grouse, sim = sim, Dyestuff2 = dye2)

coef_of <- function(m) {
  s <- coef(summary(m))
  list(names = rownames(s), estimate = unname(s[, 1]), std_error = unname(s[, 2]),
       statistic = unname(s[, 3]), p_value = unname(s[, 4]))
}
summary_of <- function(m, glm_fit) {
  ll <- logLik(m)
  out <- list(coef = coef_of(m), sigma = sigma(m), loglik = as.numeric(ll),
              npar = attr(ll, "df"), deviance = deviance(m), aic = AIC(m), bic = BIC(m),
              nobs = nobs(m), df_residual = df.residual(m), fitted = unname(fitted(m)),
              residuals = unname(residuals(m)))
  if (glm_fit) {
    out$dispersion <- summary(m)$dispersion
    out$null_deviance <- m$null.deviance
    out$pearson <- unname(residuals(m, type = "pearson"))
    out$response_residuals <- unname(residuals(m, type = "response"))
  }
  out
}

# ---- lm / glm ---------------------------------------------------------------------------
fits <- list(
  lm_sleep = list(call = "lm", formula = "Reaction ~ Days", data = "sleep"),
  lm_factor = list(call = "lm", formula = "y ~ f * x", data = "sim"),
  lm_weights_offset = list(call = "lm", formula = "y ~ f + x", data = "sim",
                           weights = "w", offset = "off"),
  lm_noint = list(call = "lm", formula = "y ~ 0 + f + x", data = "sim"),
  glm_cbind = list(call = "glm", formula = "cbind(incidence, size - incidence) ~ period",
                   data = "cbpp", family = "binomial"),
  glm_prop = list(call = "glm", formula = "prop ~ f + x", data = "sim",
                  family = "binomial", weights = "trials"),
  glm_probit = list(call = "glm", formula = "bin ~ x + f", data = "sim",
                    family = "binomial", link = "probit"),
  glm_poisson = list(call = "glm", formula = "TICKS ~ YEAR + cHEIGHT", data = "grouseticks",
                     family = "poisson"),
  glm_poisson_offset = list(call = "glm", formula = "count ~ f + x", data = "sim",
                            family = "poisson", offset = "logexpo"),
  glm_gamma = list(call = "glm", formula = "pos ~ f + x", data = "sim",
                   family = "Gamma", link = "log")
)
sim$logexpo <- log(sim$expo)
datasets$sim <- sim

fit_one <- function(case) {
  d <- datasets[[case$data]]
  d$.w <- if (is.null(case$weights)) rep(1, nrow(d)) else d[[case$weights]]
  d$.o <- if (is.null(case$offset)) rep(0, nrow(d)) else d[[case$offset]]
  f <- as.formula(case$formula)
  if (case$call == "lm") return(lm(f, d, weights = .w, offset = .o))
  fam <- get(case$family)
  fam <- if (is.null(case$link)) fam() else fam(link = case$link)
  glm(f, fam, d, weights = .w, offset = .o)
}
fixed <- lapply(fits, function(case) {
  m <- fit_one(case)
  c(case, summary_of(m, case$call == "glm"))
})
info <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")))
writeLines(toJSON(list(info = info, fits = fixed), digits = NA, auto_unbox = TRUE,
                  pretty = TRUE), "tests/models/data/fixed_only.json")

# ---- anova(mixed, fixed) ------------------------------------------------------------------
tests <- list(
  sleep_slopes = list(mixed = "Reaction ~ Days + (Days | Subject)", reml = TRUE,
                      fixed = "Reaction ~ Days", data = "sleep"),
  sleep_intercept_ml = list(mixed = "Reaction ~ Days + (1 | Subject)", reml = FALSE,
                            fixed = "Reaction ~ Days", data = "sleep"),
  dyestuff2_boundary = list(mixed = "Yield ~ 1 + (1 | Batch)", reml = TRUE,
                            fixed = "Yield ~ 1", data = "Dyestuff2"),
  sim_weights = list(mixed = "y ~ f + x + (1 | g)", reml = TRUE, fixed = "y ~ f + x",
                     data = "sim", weights = "w"),
  cbpp = list(mixed = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
              fixed = "cbind(incidence, size - incidence) ~ period", data = "cbpp",
              family = "binomial"),
  grouseticks = list(mixed = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD)",
                     fixed = "TICKS ~ YEAR + cHEIGHT", data = "grouseticks",
                     family = "poisson")
)
lrt <- lapply(tests, function(case) {
  d <- datasets[[case$data]]
  d$.w <- if (is.null(case$weights)) rep(1, nrow(d)) else d[[case$weights]]
  if (is.null(case$family)) {
    m1 <- lmer(as.formula(case$mixed), d, REML = case$reml, weights = .w)
    m0 <- lm(as.formula(case$fixed), d, weights = .w)
  } else {
    fam <- get(case$family)()
    m1 <- glmer(as.formula(case$mixed), d, fam, weights = .w)
    m0 <- glm(as.formula(case$fixed), fam, d, weights = .w)
  }
  a <- suppressMessages(anova(m1, m0))
  c(case, list(rows = rownames(a), npar = a$npar, AIC = a$AIC, BIC = a$BIC,
               logLik = a$logLik, deviance = a$deviance, Chisq = a$Chisq[2],
               Df = a$Df[2], p = a[["Pr(>Chisq)"]][2]))
})
writeLines(toJSON(list(info = info, tests = lrt), digits = NA, auto_unbox = TRUE,
                  pretty = TRUE), "tests/inference/data/lrt_fixed_only.json")
