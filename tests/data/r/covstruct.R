# Reference values for structured covariances: glmmTMB's us/diag/cs/ar1/toep terms, nlme::lme's
# correlation structures (corAR1, corCAR1, corCompSymm) and variance functions (varIdent,
# varPower, varExp), and a check of how glmmTMB's REML objective relates to lme4's REMLcrit.
# Run from the repository root: Rscript tests/data/r/covstruct.R
# Writes tests/models/data/covstruct_panel.csv (simulated, seeded), tests/models/data/covstruct.json.
suppressMessages({library(lme4); library(glmmTMB); library(nlme); library(jsonlite)})

read_factors <- function(path, factors) {
  d <- read.csv(path)
  for (f in factors) d[[f]] <- factor(as.character(d[[f]]))
  d
}
pkg <- "src/mixedmodels/datasets/data"
parity_dir <- "tests/data/parity"
files <- list(
  sleepstudy = file.path(pkg, "sleepstudy.csv"), cbpp = file.path(pkg, "cbpp.csv"),
  Penicillin = file.path(pkg, "Penicillin.csv"), Orthodont = file.path(parity_dir, "Orthodont.csv"),
  BodyWeight = file.path(parity_dir, "BodyWeight.csv"),
  panel = "tests/models/data/covstruct_panel.csv"
)

# ---- simulated unbalanced panel: 6 sites x 8 subjects, visits 0..5, ~20% visits missing -----
set.seed(20261203)
nsub <- 48
times <- 0:5
full <- expand.grid(time = times, subject = sprintf("s%02d", 1:nsub), stringsAsFactors = FALSE)
full <- full[, c("subject", "time")]
full$site <- sprintf("site%d", (as.integer(factor(full$subject)) - 1) %/% 8 + 1)
trt_of <- setNames(rep(c("A", "B"), length.out = nsub), sprintf("s%02d", 1:nsub))
full$trt <- unname(trt_of[full$subject])
ar1_path <- function(n, rho) {
  e <- numeric(n)
  e[1] <- rnorm(1)
  for (i in seq_len(n)[-1]) e[i] <- rho * e[i - 1] + sqrt(1 - rho^2) * rnorm(1)
  e
}
b_ar <- unlist(lapply(1:nsub, function(i) ar1_path(length(times), 0.6)))
site_eff <- rnorm(6, 0, 1)[as.integer(factor(full$site))]
full$x <- round(runif(nrow(full), 0, 2), 3)
isB <- as.numeric(full$trt == "B")
full$y <- round(10 + 0.8 * full$time + 1.5 * isB + 0.5 * full$x + site_eff + 1.5 * b_ar +
                  rnorm(nrow(full)), 4)
full$count <- rpois(nrow(full), exp(0.5 + 0.1 * full$time + 0.3 * isB + 0.2 * full$x +
                                      0.6 * b_ar))
full$trials <- 10L
full$succ <- rbinom(nrow(full), 10, plogis(-0.3 + 0.15 * full$time + 0.8 * b_ar))
keep <- runif(nrow(full)) > 0.2
keep[full$time == 0] <- TRUE # every subject has a baseline visit
panel <- full[keep, ]
write.csv(panel, files$panel, row.names = FALSE)

data_sets <- list(
  sleepstudy = read_factors(files$sleepstudy, "Subject"),
  cbpp = read_factors(files$cbpp, c("herd", "period")),
  Penicillin = read_factors(files$Penicillin, c("plate", "sample")),
  Orthodont = read_factors(files$Orthodont, c("Subject", "Sex")),
  BodyWeight = read_factors(files$BodyWeight, c("Rat", "Diet")),
  panel = read_factors(files$panel, c("subject", "site", "trt"))
)
data_sets$panel$ftime <- factor(data_sets$panel$time, levels = as.character(times))
data_sets$sleepstudy$fDays <- factor(data_sets$sleepstudy$Days, levels = as.character(0:9))

# ---- helpers --------------------------------------------------------------------------------
cov_rows <- function(grp, cv) {
  # lme4's as.data.frame(VarCorr()) layout: variances then covariances (lower triangle, by column)
  sds <- sqrt(diag(cv))
  nm <- rownames(cv)
  rows <- lapply(seq_along(nm), function(i)
    list(grp = grp, var1 = nm[i], var2 = NULL, vcov = cv[i, i], sdcor = sds[[i]]))
  if (length(nm) > 1) for (j in 1:(length(nm) - 1)) for (i in (j + 1):length(nm)) {
    rows[[length(rows) + 1]] <- list(grp = grp, var1 = nm[j], var2 = nm[i], vcov = cv[i, j],
                                     sdcor = cv[i, j] / (sds[[i]] * sds[[j]]))
  }
  rows
}
mat_rows <- function(m) lapply(seq_len(nrow(m)), function(i) unname(m[i, ]))

tmb_summary <- function(m, case) {
  conv <- list(optimizer_convergence = m$fit$convergence, message = m$fit$message,
               pdHess = m$sdr$pdHess)
  converged <- m$fit$convergence == 0 && isTRUE(m$sdr$pdHess)
  ll <- logLik(m)
  vc <- VarCorr(m)$cond
  terms <- lapply(names(vc), function(g) {
    cv <- vc[[g]]
    cr <- attr(cv, "correlation")
    out <- list(group = g, names = rownames(cv), stddev = unname(attr(cv, "stddev")),
                correlation = mat_rows(cr))
    s <- case$structures[[g]]
    if (!is.null(s) && s %in% c("ar1", "cs")) out$rho <- cr[2, 1]
    if (!is.null(s) && s == "toep") out$rho <- unname(cr[-1, 1])
    out$structure <- if (is.null(s)) "us" else s
    out
  })
  rows <- unlist(lapply(names(vc), function(g) cov_rows(g, vc[[g]])), recursive = FALSE)
  fam <- family(m)$family
  if (fam == "gaussian")
    rows[[length(rows) + 1]] <- list(grp = "Residual", var1 = NULL, var2 = NULL,
                                     vcov = sigma(m)^2, sdcor = sigma(m))
  fe <- fixef(m)$cond
  list(converged = converged, convergence = conv, objective = m$fit$objective,
       logLik = as.numeric(ll), minus2logLik = -2 * as.numeric(ll), npar = attr(ll, "df"),
       nobs = nobs(m), AIC = AIC(m), fixef = as.list(fe),
       se = as.list(sqrt(diag(vcov(m)$cond))),
       sigma = if (fam == "gaussian") sigma(m) else NULL, random_effects = terms,
       varcorr = rows,
       par = as.list(m$fit$par), theta = unname(getME(m, "theta")))
}

tmb_cases <- list(
  sleep_us_ml = list(formula = "Reaction ~ Days + us(1 + Days | Subject)", data = "sleepstudy",
                     REML = FALSE, structures = list(Subject = "us")),
  sleep_us_reml = list(formula = "Reaction ~ Days + us(1 + Days | Subject)",
                       data = "sleepstudy", REML = TRUE, structures = list(Subject = "us")),
  sleep_diag_ml = list(formula = "Reaction ~ Days + diag(1 + Days | Subject)",
                       data = "sleepstudy", REML = FALSE, structures = list(Subject = "diag")),
  sleep_diag_reml = list(formula = "Reaction ~ Days + diag(1 + Days | Subject)",
                         data = "sleepstudy", REML = TRUE, structures = list(Subject = "diag")),
  sleep_cs_ml = list(formula = "Reaction ~ Days + cs(0 + fDays | Subject)", data = "sleepstudy",
                     REML = FALSE, structures = list(Subject = "cs")),
  sleep_ar1_ml = list(formula = "Reaction ~ Days + ar1(0 + fDays | Subject)",
                      data = "sleepstudy", REML = FALSE, structures = list(Subject = "ar1")),
  sleep_ar1_reml = list(formula = "Reaction ~ Days + ar1(0 + fDays | Subject)",
                        data = "sleepstudy", REML = TRUE, structures = list(Subject = "ar1")),
  # from the default start the REML fit stops at a local optimum with sigma near 0
  sleep_ar1_reml_start = list(formula = "Reaction ~ Days + ar1(0 + fDays | Subject)",
                              data = "sleepstudy", REML = TRUE, structures = list(Subject = "ar1"),
                              start = "list(theta = c(log(46), 1.84), betad = log(15))"),
  # from the default start the ML fit reports false convergence
  sleep_ar1_ml_start = list(formula = "Reaction ~ Days + ar1(0 + fDays | Subject)",
                            data = "sleepstudy", REML = FALSE, structures = list(Subject = "ar1"),
                            start = "list(theta = c(log(49), 1.4))"),
  # toep() with a free residual variance is not identified (both add to the diagonal);
  # dispformula = ~ 0 drops the residual term (glmmTMB keeps a tiny fixed residual SD)
  sleep_toep_ml = list(formula = "Reaction ~ Days + toep(0 + fDays | Subject)",
                       data = "sleepstudy", REML = FALSE, structures = list(Subject = "toep"),
                       dispformula = "~ 0"),
  sleep_toep_reml = list(formula = "Reaction ~ Days + toep(0 + fDays | Subject)",
                         data = "sleepstudy", REML = TRUE, structures = list(Subject = "toep"),
                         dispformula = "~ 0"),
  sleep_toep_resid_reml = list(formula = "Reaction ~ Days + toep(0 + fDays | Subject)",
                               data = "sleepstudy", REML = TRUE,
                               structures = list(Subject = "toep")),
  panel_ar1_ml = list(formula = "y ~ time + trt + x + ar1(0 + ftime | subject)", data = "panel",
                      REML = FALSE, structures = list(subject = "ar1")),
  panel_toep_ml = list(formula = "y ~ time + trt + x + toep(0 + ftime | subject)",
                       data = "panel", REML = FALSE, structures = list(subject = "toep"),
                       dispformula = "~ 0"),
  panel_cs_reml = list(formula = "y ~ time + trt + x + cs(0 + ftime | subject)", data = "panel",
                       REML = TRUE, structures = list(subject = "cs")),
  panel_ar1_site_ml = list(formula = "y ~ time + trt + x + ar1(0 + ftime | subject) + (1 | site)",
                           data = "panel", REML = FALSE,
                           structures = list(subject = "ar1", site = "us")),
  panel_ar1_site_reml = list(
    formula = "y ~ time + trt + x + ar1(0 + ftime | subject) + (1 | site)", data = "panel",
    REML = TRUE, structures = list(subject = "ar1", site = "us")),
  cbpp_ar1 = list(formula = "cbind(incidence, size - incidence) ~ period + ar1(0 + period | herd)",
                  data = "cbpp", REML = FALSE, family = "binomial",
                  structures = list(herd = "ar1")),
  cbpp_cs = list(formula = "cbind(incidence, size - incidence) ~ period + cs(0 + period | herd)",
                 data = "cbpp", REML = FALSE, family = "binomial",
                 structures = list(herd = "cs")),
  panel_binomial_ar1 = list(formula = "cbind(succ, trials - succ) ~ time + ar1(0 + ftime | subject)",
                            data = "panel", REML = FALSE, family = "binomial",
                            structures = list(subject = "ar1")),
  panel_poisson_ar1 = list(formula = "count ~ time + trt + x + ar1(0 + ftime | subject)",
                           data = "panel", REML = FALSE, family = "poisson",
                           structures = list(subject = "ar1")),
  panel_poisson_cs = list(formula = "count ~ time + trt + x + cs(0 + ftime | subject)",
                          data = "panel", REML = FALSE, family = "poisson",
                          structures = list(subject = "cs")),
  panel_poisson_ar1_site = list(
    formula = "count ~ time + trt + x + ar1(0 + ftime | subject) + (1 | site)", data = "panel",
    REML = FALSE, family = "poisson", structures = list(subject = "ar1", site = "us"))
)

fit_tmb <- function(case) {
  fam <- if (is.null(case$family)) "gaussian" else case$family
  disp <- if (is.null(case$dispformula)) "~ 1" else case$dispformula
  start <- if (is.null(case$start)) "NULL" else case$start
  extra <- paste0("", if (disp != "~ 1") sprintf(", dispformula = %s", disp),
                  if (start != "NULL") sprintf(", start = %s", start))
  call <- sprintf("glmmTMB::glmmTMB(%s, data = %s, family = %s, REML = %s%s)", case$formula,
                  case$data, fam, case$REML, extra)
  warns <- character(0)
  m <- withCallingHandlers(
    tryCatch(glmmTMB(as.formula(case$formula), data = data_sets[[case$data]],
                     family = get(fam)(), REML = case$REML,
                     dispformula = as.formula(disp), start = eval(parse(text = start))),
             error = function(e) e),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  base <- list(call = call, data = basename(files[[case$data]]), formula = case$formula,
               family = fam, REML = case$REML, dispformula = disp,
               start = if (start == "NULL") NULL else start, warnings = unique(warns))
  if (inherits(m, "error")) return(c(base, list(converged = FALSE, skipped = TRUE,
                                                reason = conditionMessage(m))))
  s <- tmb_summary(m, case)
  if (!s$converged) return(c(base, list(converged = FALSE, skipped = TRUE,
                                        reason = "glmmTMB did not converge",
                                        convergence = s$convergence)))
  sds <- unlist(lapply(s$random_effects, function(r) r$stddev))
  s$boundary <- any(sds < 1e-4 * max(sds)) ||
    (fam == "gaussian" && disp == "~ 1" && sigma(m) < 1e-3 * max(sds))
  alt <- alt_start_objectives(m, case, fam, disp)
  s$alt_start_objectives <- alt
  if (any(alt < s$objective - 1e-6, na.rm = TRUE))
    return(c(base, list(skipped = TRUE, reason = "local optimum: a refit from another start reached a lower objective"), s))
  c(base, list(skipped = FALSE), s)
}

# refits from the estimates shifted by +-0.7 on glmmTMB's internal theta scale: a check that
# the reported optimum is not a local one
alt_start_objectives <- function(m, case, fam, disp) {
  th <- m$fit$par[names(m$fit$par) == "theta"]
  sapply(c(-0.7, 0.7), function(shift) {
    m2 <- tryCatch(suppressWarnings(glmmTMB(
      as.formula(case$formula), data = data_sets[[case$data]], family = get(fam)(),
      REML = case$REML, dispformula = as.formula(disp), start = list(theta = th + shift))),
      error = function(e) NULL)
    if (is.null(m2) || m2$fit$convergence != 0) NA_real_ else m2$fit$objective
  })
}
glmmtmb_results <- lapply(tmb_cases, fit_tmb)

# ---- nlme::lme -------------------------------------------------------------------------------
lme_cases <- list(
  sleep_ar1_reml = list(fixed = "Reaction ~ Days", random = "~ 1 | Subject",
                        correlation = "corAR1(form = ~ Days | Subject)", data = "sleepstudy",
                        method = "REML"),
  sleep_ar1_ml = list(fixed = "Reaction ~ Days", random = "~ 1 | Subject",
                      correlation = "corAR1(form = ~ Days | Subject)", data = "sleepstudy",
                      method = "ML"),
  sleep_slope_ar1_reml = list(fixed = "Reaction ~ Days", random = "~ Days | Subject",
                              correlation = "corAR1(form = ~ Days | Subject)",
                              data = "sleepstudy", method = "REML"),
  panel_slope_ar1_reml = list(fixed = "y ~ time + trt + x", random = "~ time | subject",
                              correlation = "corAR1(form = ~ time | subject)", data = "panel",
                              method = "REML"),
  sleep_slope_varexp_reml = list(fixed = "Reaction ~ Days", random = "~ Days | Subject",
                                 weights = "varExp(form = ~ Days)", data = "sleepstudy",
                                 method = "REML"),
  bodyweight_car1_reml = list(fixed = "weight ~ Time", random = "~ 1 | Rat",
                              correlation = "corCAR1(form = ~ Time | Rat)", data = "BodyWeight",
                              method = "REML"),
  bodyweight_slope_varpower_car1_ml = list(
    fixed = "weight ~ Time * Diet", random = "~ Time | Rat", weights = "varPower()",
    correlation = "corCAR1(form = ~ Time | Rat)", data = "BodyWeight", method = "ML"),
  bodyweight_slope_varpower_car1_reml = list(
    fixed = "weight ~ Time * Diet", random = "~ Time | Rat", weights = "varPower()",
    correlation = "corCAR1(form = ~ Time | Rat)", data = "BodyWeight", method = "REML"),
  orthodont_varident_reml = list(fixed = "distance ~ age * Sex", random = "~ 1 | Subject",
                                 weights = "varIdent(form = ~ 1 | Sex)", data = "Orthodont",
                                 method = "REML"),
  orthodont_varident_ml = list(fixed = "distance ~ age * Sex", random = "~ 1 | Subject",
                               weights = "varIdent(form = ~ 1 | Sex)", data = "Orthodont",
                               method = "ML"),
  orthodont_varpower_ml = list(fixed = "distance ~ age + Sex", random = "~ 1 | Subject",
                               weights = "varPower(form = ~ age)", data = "Orthodont",
                               method = "ML"),
  panel_ar1_gaps_reml = list(fixed = "y ~ time + trt + x", random = "~ 1 | subject",
                             correlation = "corAR1(form = ~ time | subject)", data = "panel",
                             method = "REML"),
  panel_cs_site_reml = list(fixed = "y ~ time + trt + x", random = "~ 1 | site",
                            correlation = "corCompSymm(form = ~ 1 | site/subject)",
                            data = "panel", method = "REML"),
  panel_cs_site_ml = list(fixed = "y ~ time + trt + x", random = "~ 1 | site",
                          correlation = "corCompSymm(form = ~ 1 | site/subject)",
                          data = "panel", method = "ML")
)

lme_summary <- function(m) {
  ll <- logLik(m)
  re <- m$modelStruct$reStruct
  grp <- names(re)
  cv <- as.matrix(re[[1]]) * m$sigma^2
  sds <- sqrt(diag(cv))
  rows <- c(cov_rows(grp, cv), list(list(grp = "Residual", var1 = NULL, var2 = NULL,
                                         vcov = m$sigma^2, sdcor = m$sigma)))
  cs <- m$modelStruct$corStruct
  vs <- m$modelStruct$varStruct
  list(logLik = as.numeric(ll), minus2logLik = -2 * as.numeric(ll), npar = attr(ll, "df"),
       nobs = m$dims$N, AIC = AIC(m), fixef = as.list(fixef(m)),
       se = as.list(sqrt(diag(vcov(m)))), sigma = m$sigma,
       random_effects = list(group = grp, names = rownames(cv), stddev = unname(sds),
                     correlation = mat_rows(cov2cor(cv))),
       varcorr = rows,
       corStruct = if (is.null(cs)) NULL else as.list(coef(cs, unconstrained = FALSE)),
       varStruct = if (is.null(vs)) NULL else as.list(coef(vs, unconstrained = FALSE)),
       normalized_residuals_first10 = unname(residuals(m, type = "normalized")[1:10]),
       fitted_first10 = unname(fitted(m)[1:10]),
       apVar_ok = !is.character(m$apVar))
}

fit_lme <- function(case) {
  args <- c(sprintf("fixed = %s", case$fixed), sprintf("data = %s", case$data),
            sprintf("random = %s", case$random),
            if (!is.null(case$correlation)) sprintf("correlation = %s", case$correlation),
            if (!is.null(case$weights)) sprintf("weights = %s", case$weights),
            sprintf("method = \"%s\"", case$method))
  call <- sprintf("nlme::lme(%s)", paste(args, collapse = ", "))
  base <- list(call = call, data = basename(files[[case$data]]), fixed = case$fixed,
               random = case$random, correlation = case$correlation, weights = case$weights,
               method = case$method)
  m <- tryCatch(eval(parse(text = sub(sprintf("data = %s", case$data), "data = .d", call,
                                      fixed = TRUE)),
                     list(.d = data_sets[[case$data]])), error = function(e) e)
  if (inherits(m, "error")) return(c(base, list(converged = FALSE, skipped = TRUE,
                                                reason = conditionMessage(m))))
  c(base, list(converged = TRUE, skipped = FALSE), lme_summary(m))
}
lme_results <- lapply(lme_cases, fit_lme)

# ---- REML objective: glmmTMB vs lme4 --------------------------------------------------------
logdet_xtx <- function(X) as.numeric(determinant(crossprod(X), logarithm = TRUE)$modulus)
reml_check <- function(formula, data) {
  d <- data_sets[[data]]
  f <- as.formula(formula)
  l4 <- lmer(f, d, REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
  t_reml <- glmmTMB(f, d, REML = TRUE)
  t_ml <- glmmTMB(f, d, REML = FALSE)
  l4_ml <- lmer(f, d, REML = FALSE)
  X <- getME(l4, "X")
  p <- ncol(X)
  crit_tmb <- -2 * as.numeric(logLik(t_reml))
  crit_l4 <- REMLcrit(l4)
  diff <- crit_tmb - crit_l4
  list(
    formula = formula, data = basename(files[[data]]), p = p, n = nrow(d),
    lme4_REMLcrit = crit_l4, lme4_REML_minus2logLik = -2 * as.numeric(logLik(l4)),
    glmmTMB_REML_objective = t_reml$fit$objective,
    glmmTMB_REML_minus2logLik = crit_tmb,
    glmmTMB_ML_minus2logLik = -2 * as.numeric(logLik(t_ml)),
    lme4_ML_deviance = deviance(l4_ml),
    difference_glmmTMB_minus_lme4_REML = diff,
    difference_ML = -2 * as.numeric(logLik(t_ml)) - deviance(l4_ml),
    candidates = list(p_log_2pi = p * log(2 * pi), log_det_XtX = logdet_xtx(X),
                      minus_log_det_XtX = -logdet_xtx(X)),
    lme4_REML_theta = unname(getME(l4, "theta")), lme4_REML_sigma = sigma(l4),
    glmmTMB_REML_sigma = sigma(t_reml),
    glmmTMB_REML_convergence = t_reml$fit$convergence
  )
}
reml_models <- list(
  sleepstudy = reml_check("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
  penicillin = reml_check("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
)
# Both REML criteria at one common non-optimal point of the Penicillin model: lme4 at
# theta = (1, 2.5) (sigma profiled), glmmTMB at the same SDs and sigma. glmmTMB 1.1.5's
# Gaussian parameters: betad = log(sigma^2), theta = log(SD) of each intercept term.
pen_f <- diameter ~ 1 + (1 | plate) + (1 | sample)
pen_theta <- c(1.0, 2.5)
pen_l4 <- lmer(pen_f, data_sets$Penicillin, REML = TRUE, start = pen_theta,
               control = lmerControl(optimizer = NULL))
pen_tmb <- glmmTMB(pen_f, data_sets$Penicillin, REML = TRUE)
pen_s <- sigma(pen_l4)
pen_par <- c(2 * log(pen_s), log(pen_theta * pen_s))
pen_tmb_crit <- 2 * pen_tmb$obj$fn(pen_par)
reml_models$penicillin$common_point <- list(
  lme4_theta = pen_theta, sigma = pen_s, sds = pen_theta * pen_s,
  lme4_REMLcrit = REMLcrit(pen_l4), glmmTMB_2_objective = pen_tmb_crit,
  difference_glmmTMB_minus_lme4_REML = pen_tmb_crit - REMLcrit(pen_l4))

# nlme's REML logLik for the same sleepstudy model, for comparison
nl <- lme(Reaction ~ Days, random = ~ Days | Subject, data = data_sets$sleepstudy,
          method = "REML")
X <- model.matrix(~ Days, data_sets$sleepstudy)
reml_models$sleepstudy$nlme_REML_minus2logLik <- -2 * as.numeric(logLik(nl))
reml_models$sleepstudy$difference_nlme_minus_lme4_REML <-
  -2 * as.numeric(logLik(nl)) - reml_models$sleepstudy$lme4_REMLcrit

matches <- function(r) {
  d <- r$difference_glmmTMB_minus_lme4_REML
  hits <- names(r$candidates)[abs(unlist(r$candidates) - d) < 1e-4]
  if (abs(d) < 1e-4) hits <- c("zero", hits)
  hits
}
reml_constant <- list(
  finding = paste(
    "No constant: glmmTMB's REML criterion (-2 logLik with REML = TRUE, = 2 * fit$objective)",
    "equals lme4's REMLcrit to ~1e-9 at the optimum (sleepstudy, Penicillin) and at a common",
    "non-optimal point (Penicillin); the candidates p*log(2*pi) and +-log|X'X| are not added.",
    "nlme's REML logLik agrees too (sleepstudy). The ML objectives agree as well."),
  models = reml_models,
  matching_candidates = lapply(reml_models, matches)
)

info <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
             glmmTMB = as.character(packageVersion("glmmTMB")),
             TMB = as.character(packageVersion("TMB")),
             nlme = as.character(packageVersion("nlme")),
             Matrix = as.character(packageVersion("Matrix")))
out <- list(info = info,
            data_files = lapply(files, basename),
            data_paths = files,
            glmmTMB = glmmtmb_results, lme = lme_results, reml_constant = reml_constant)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null",
                  na = "null"), "tests/models/data/covstruct.json")
