# Observation-level random effects (lme4 1.1-31, glmmTMB 1.1.5, R 4.2).
# Run from tests/models/data:  Rscript r/glmm_obs_level.R   (writes glmm_obs_level.json)
library(lme4)
library(glmmTMB)
library(jsonlite)

data(grouseticks)
fits <- list(
  grouse_obs = list(f = TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX),
                    formula = "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX)"),
  grouse_obs_c = list(f = TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX),
                      formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX)"),
  grouse_obs_only = list(f = TICKS ~ YEAR + cHEIGHT + (1 | INDEX),
                         formula = "TICKS ~ YEAR + cHEIGHT + (1 | INDEX)")
)
out <- list()
for (nm in names(fits)) {
  s <- fits[[nm]]
  m <- glmer(s$f, grouseticks, family = poisson)
  t <- glmmTMB(s$f, grouseticks, family = poisson)
  vc <- as.data.frame(VarCorr(m))
  out[[nm]] <- list(
    formula = s$formula, objective = -2 * as.numeric(logLik(m)), deviance_lme4 = deviance(m),
    theta = unname(getME(m, "theta")), fixef = unname(fixef(m)), names = names(fixef(m)),
    se_lme4 = unname(sqrt(diag(as.matrix(vcov(m))))),
    se_tmb = unname(sqrt(diag(vcov(t)$cond))), objective_tmb = -2 * as.numeric(logLik(t)),
    fixef_tmb = unname(fixef(t)$cond),
    varcorr_group = vc$grp, varcorr_variance = vc$vcov, varcorr_sd = vc$sdcor,
    nobs = nobs(m), ngroups = as.list(ngrps(m)))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "glmm_obs_level.json")
