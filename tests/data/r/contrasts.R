# Reference values for the `contrasts=` argument (tests/spec/test_contrasts.py).
# Run from the repository root:  Rscript tests/data/r/contrasts.R
# Writes tests/spec/data/contrasts.json: R's model.matrix for each contrast on a small frame,
# and lmer / glmer fits (fixef, standard errors, theta, sigma, criterion) for each contrast.
suppressPackageStartupMessages({
  library(lme4)
  library(MASS) # contr.sdif
  library(jsonlite)
})

set.seed(20261202)
n <- 24
small <- data.frame(
  f = rep(c("a", "b", "c", "d"), length.out = n),
  g = rep(c("u", "v", "w"), each = 2, length.out = n),
  x = round(rnorm(n), 3),
  stringsAsFactors = TRUE
)
contrast_names <- c("sum", "helmert", "treatment", "poly", "sdif")
rhs <- c("~ f", "~ f + x", "~ f * x", "~ 0 + f", "~ f:x", "~ f * g", "~ x + f:g")
matrices <- list()
for (name in contrast_names) {
  for (formula in rhs) {
    ctr <- list(f = paste0("contr.", name))
    if (grepl("g", formula)) ctr$g <- paste0("contr.", name)
    X <- model.matrix(as.formula(formula), small, contrasts.arg = ctr)
    matrices[[length(matrices) + 1]] <- list(
      contrast = name, formula = formula, columns = colnames(X),
      matrix = unname(lapply(seq_len(ncol(X)), function(j) X[, j]))
    )
  }
}

# tight optimizer tolerances, so that lme4's optimum is the optimum to about 1e-8
tight <- list(ftol_abs = 1e-15, ftol_rel = 1e-15, xtol_abs = 1e-12, xtol_rel = 1e-12)
tight_lmer <- lmerControl(optCtrl = tight)
tight_glmer <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
sleep <- sleepstudy
sleep$f <- factor(letters[(sleep$Days %% 4) + 1])
lmer_fits <- list()
for (name in contrast_names) {
  ctr <- list(f = paste0("contr.", name))
  m <- lmer(Reaction ~ f + Days + (Days | Subject), sleep, contrasts = ctr,
            control = tight_lmer)
  lmer_fits[[name]] <- list(
    formula = "Reaction ~ f + Days + (Days | Subject)",
    columns = names(fixef(m)), fixef = unname(fixef(m)),
    se = unname(sqrt(diag(as.matrix(vcov(m))))), theta = unname(getME(m, "theta")),
    sigma = sigma(m), objective = unname(REMLcrit(m))
  )
}

glmer_fits <- list()
for (name in c("sum", "helmert", "poly")) {
  ctr <- list(period = paste0("contr.", name))
  g <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
             family = binomial, contrasts = ctr, control = tight_glmer)
  glmer_fits[[name]] <- list(
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
    columns = names(fixef(g)), fixef = unname(fixef(g)),
    se = unname(sqrt(diag(as.matrix(vcov(g))))), theta = unname(getME(g, "theta")),
    objective = -2 * as.numeric(logLik(g))
  )
}

out <- list(
  r_version = R.version.string, lme4_version = format(packageVersion("lme4")),
  small = list(f = as.character(small$f), g = as.character(small$g), x = small$x),
  model_matrices = matrices, lmer = lmer_fits, glmer = glmer_fits
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/spec/data/contrasts.json")
