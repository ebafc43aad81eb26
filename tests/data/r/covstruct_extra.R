# More reference values for structured covariances (companion of covstruct.R):
#   lme4_se        lme4-style fixed-effect SEs, sqrt(diag((X' V^-1 X)^-1)), at glmmTMB's
#                  estimates for the Gaussian covstruct.json cases, with a dense check of V
#   toep_resid     toep() with a free residual variance, from several starts, and the
#                  objective along sigma (profile with sigma fixed) and in the sigma -> 0 limit
#   homogeneous    homogeneous CS / diag (glmmTMB 1.1.5 has no homcs/homdiag/hetar1: emulated
#                  with `map` tying the SDs of cs()/diag())
#   kenward_roger  lme4 (1 | g) + (1 | g:f) fits by REML with pbkrtest's Kenward-Roger and
#                  lmerTest's Satterthwaite df, next to glmmTMB's equivalent homogeneous CS
# Run from the repository root: Rscript tests/data/r/covstruct_extra.R
# Reads tests/models/data/covstruct_panel.csv (written by covstruct.R) and package CSVs;
# writes tests/models/data/covstruct_extra.json.
suppressMessages({
  library(lme4); library(glmmTMB); library(jsonlite)
})

read_factors <- function(path, factors) {
  d <- read.csv(path)
  for (f in factors) d[[f]] <- factor(as.character(d[[f]]))
  d
}
pkg <- "src/mixedmodels/datasets/data"
files <- list(
  sleepstudy = file.path(pkg, "sleepstudy.csv"),
  panel = "tests/models/data/covstruct_panel.csv",
  Oats = "tests/data/parity/Oats.csv",
  Pastes = file.path(pkg, "Pastes.csv")
)
data_sets <- list(
  sleepstudy = read_factors(files$sleepstudy, "Subject"),
  panel = read_factors(files$panel, c("subject", "site", "trt")),
  Oats = read_factors(files$Oats, c("Block", "Variety")),
  Pastes = read_factors(files$Pastes, c("batch", "cask", "sample"))
)
# Oats with five plots removed (rows of the CSV, 1-based, header not counted), so that the
# Kenward-Roger adjustment is not zero
oats_dropped <- c(3L, 10L, 29L, 47L, 66L)
files$Oats_unbalanced <- files$Oats
data_sets$Oats_unbalanced <- data_sets$Oats[-oats_dropped, ]
data_sets$panel$ftime <- factor(data_sets$panel$time, levels = as.character(0:5))
data_sets$sleepstudy$fDays <- factor(data_sets$sleepstudy$Days, levels = as.character(0:9))

# ---- helpers (layout as in covstruct.R) -----------------------------------------------------
cov_rows <- function(grp, cv) {
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

# V = Z G Z' + sigma^2 I with G block diagonal: term by term (in the order of glmmTMB's
# reTrms, which is the column order of getME(m, "Z")), one covariance block per level
# (level-major: all columns of level 1, then level 2, ...).
dense_V <- function(m) {
  rt <- m$modelInfo$reTrms$cond
  vc <- VarCorr(m)$cond
  Z <- as.matrix(getME(m, "Z"))
  fl <- rt$flist
  asg <- attr(fl, "assign")
  blocks <- lapply(seq_along(rt$cnms), function(i) {
    G <- vc[[i]]
    stopifnot(identical(unname(rownames(G)), unname(rt$cnms[[i]])))
    kronecker(diag(nlevels(fl[[asg[i]]])), G)
  })
  G <- as.matrix(Matrix::bdiag(blocks))
  stopifnot(ncol(Z) == nrow(G))
  Z %*% G %*% t(Z) + diag(sigma(m)^2, nrow(Z))
}

lme4_se <- function(m) {
  X <- getME(m, "X")
  y <- model.response(model.frame(m))
  beta <- fixef(m)$cond
  V <- dense_V(m)
  cV <- chol(V)
  Xs <- backsolve(cV, X, transpose = TRUE)
  rs <- backsolve(cV, y - drop(X %*% beta), transpose = TRUE)
  XtViX <- crossprod(Xs)
  se <- sqrt(diag(solve(XtViX)))
  names(se) <- names(beta)
  n <- nrow(X)
  p <- ncol(X)
  logdetV <- 2 * sum(log(diag(cV)))
  ml <- -0.5 * (n * log(2 * pi) + logdetV + sum(rs^2))
  reml <- -0.5 * ((n - p) * log(2 * pi) + logdetV +
                    as.numeric(determinant(XtViX, logarithm = TRUE)$modulus) + sum(rs^2))
  # GLS estimate at V: equals glmmTMB's fixef (ML: at the optimum; REML: by construction)
  gls <- drop(solve(XtViX, crossprod(Xs, backsolve(cV, y, transpose = TRUE))))
  ll_tmb <- -m$fit$objective
  check <- if (isTRUE(m$modelInfo$REML)) {
    list(dense_reml_loglik = reml, glmmTMB_minus_objective = ll_tmb, difference = reml - ll_tmb)
  } else {
    list(dense_loglik = ml, glmmTMB_loglik = as.numeric(logLik(m)),
         glmmTMB_minus_objective = ll_tmb, difference = ml - ll_tmb)
  }
  se_tmb <- sqrt(diag(vcov(m)$cond))
  list(se = as.list(se), glmmTMB_se = as.list(se_tmb),
       max_abs_gls_minus_fixef = max(abs(gls - beta)), dense_loglik_check = check)
}

tmb_summary <- function(m, structures) {
  conv <- list(optimizer_convergence = m$fit$convergence, message = m$fit$message,
               pdHess = m$sdr$pdHess)
  converged <- m$fit$convergence == 0 && isTRUE(m$sdr$pdHess)
  vc <- VarCorr(m)$cond
  terms <- lapply(names(vc), function(g) {
    cv <- vc[[g]]
    cr <- attr(cv, "correlation")
    out <- list(group = g, names = rownames(cv), stddev = unname(attr(cv, "stddev")),
                correlation = mat_rows(cr))
    s <- structures[[g]]
    if (!is.null(s) && s %in% c("ar1", "cs", "homcs")) out$rho <- cr[2, 1]
    if (!is.null(s) && s == "toep") out$rho <- unname(cr[-1, 1])
    out$structure <- if (is.null(s)) "us" else s
    out
  })
  rows <- unlist(lapply(names(vc), function(g) cov_rows(g, vc[[g]])), recursive = FALSE)
  rows[[length(rows) + 1]] <- list(grp = "Residual", var1 = NULL, var2 = NULL,
                                   vcov = sigma(m)^2, sdcor = sigma(m))
  # logLik() is NA when the Hessian is not positive definite; -objective is the same value
  ll <- -m$fit$objective
  npar <- length(m$fit$par)
  list(converged = converged, convergence = conv, objective = m$fit$objective,
       logLik = ll, minus2logLik = -2 * ll, npar = npar, nobs = nobs(m),
       AIC = 2 * m$fit$objective + 2 * npar, fixef = as.list(fixef(m)$cond),
       se = if (isTRUE(m$sdr$pdHess)) as.list(sqrt(diag(vcov(m)$cond))) else NULL,
       sigma = sigma(m), random_effects = terms, varcorr = rows,
       par = as.list(m$fit$par), theta = unname(getME(m, "theta")))
}

fit_quiet <- function(expr) {
  warns <- character(0)
  m <- withCallingHandlers(tryCatch(expr, error = function(e) e),
                           warning = function(w) {
                             warns <<- c(warns, conditionMessage(w))
                             invokeRestart("muffleWarning")
                           })
  list(m = m, warnings = unique(warns))
}
# When sdreport's Hessian is not positive definite, glmmTMB 1.1.5 retries with a numDeriv
# Jacobian of the gradient and stops with "infinite or missing values in 'x'" (in eigen())
# if that has NaNs; such fits are redone with conv_check = "skip" (pdHess is then sdreport's)
# and flagged `conv_check_skipped`.
tmb <- function(formula, data, REML, disp = "~ 1", start = NULL, map = NULL, skip = FALSE,
                bfgs = FALSE) {
  run <- function(ctrl) fit_quiet(glmmTMB(
    as.formula(formula), data = data_sets[[data]], family = gaussian(), REML = REML,
    dispformula = as.formula(disp), start = start, map = map, control = ctrl))
  ctl <- function(check) {
    if (bfgs) glmmTMBControl(conv_check = check, optimizer = optim,
                             optArgs = list(method = "BFGS"), optCtrl = list(maxit = 2000))
    else glmmTMBControl(conv_check = check)
  }
  f <- run(ctl(if (skip) "skip" else "warning"))
  f$conv_check_skipped <- skip
  if (inherits(f$m, "error") && grepl("infinite or missing values", conditionMessage(f$m))) {
    f <- run(ctl("skip"))
    f$conv_check_skipped <- TRUE
  }
  f
}

# ---- 1. lme4-convention SEs for the Gaussian cases of covstruct.json -------------------------
se_cases <- list(
  sleep_us_ml = list("Reaction ~ Days + us(1 + Days | Subject)", "sleepstudy", FALSE),
  sleep_us_reml = list("Reaction ~ Days + us(1 + Days | Subject)", "sleepstudy", TRUE),
  sleep_diag_ml = list("Reaction ~ Days + diag(1 + Days | Subject)", "sleepstudy", FALSE),
  sleep_diag_reml = list("Reaction ~ Days + diag(1 + Days | Subject)", "sleepstudy", TRUE),
  sleep_cs_ml = list("Reaction ~ Days + cs(0 + fDays | Subject)", "sleepstudy", FALSE),
  sleep_ar1_reml_start = list("Reaction ~ Days + ar1(0 + fDays | Subject)", "sleepstudy", TRUE,
                              start = "list(theta = c(log(46), 1.84), betad = log(15))"),
  sleep_ar1_ml_start = list("Reaction ~ Days + ar1(0 + fDays | Subject)", "sleepstudy", FALSE,
                            start = "list(theta = c(log(49), 1.4))"),
  sleep_toep_ml = list("Reaction ~ Days + toep(0 + fDays | Subject)", "sleepstudy", FALSE,
                       disp = "~ 0"),
  panel_ar1_ml = list("y ~ time + trt + x + ar1(0 + ftime | subject)", "panel", FALSE),
  panel_toep_ml = list("y ~ time + trt + x + toep(0 + ftime | subject)", "panel", FALSE,
                       disp = "~ 0"),
  panel_cs_reml = list("y ~ time + trt + x + cs(0 + ftime | subject)", "panel", TRUE),
  panel_ar1_site_ml = list("y ~ time + trt + x + ar1(0 + ftime | subject) + (1 | site)",
                           "panel", FALSE),
  panel_ar1_site_reml = list("y ~ time + trt + x + ar1(0 + ftime | subject) + (1 | site)",
                             "panel", TRUE)
)
se_results <- lapply(se_cases, function(cs) {
  disp <- if (is.null(cs$disp)) "~ 1" else cs$disp
  start <- if (is.null(cs$start)) NULL else eval(parse(text = cs$start))
  f <- tmb(cs[[1]], cs[[2]], cs[[3]], disp, start)
  m <- f$m
  c(list(formula = cs[[1]], data = basename(files[[cs[[2]]]]), REML = cs[[3]],
         dispformula = disp, start = cs$start, objective = m$fit$objective,
         convergence = m$fit$convergence, pdHess = m$sdr$pdHess, fixef = as.list(fixef(m)$cond)),
    lme4_se(m))
})

# ---- 2. toep() with a free residual variance ----------------------------------------------------
# All fits here use conv_check = "skip": pdHess is sdreport's (Cholesky of its Hessian).
toep_summary <- function(m) c(tmb_summary(m, list(subject = "toep", Subject = "toep")),
                              list(lme4_se = lme4_se(m)))
split_par <- function(par) {
  # (beta is not among the parameters of a REML fit: it is integrated out)
  keys <- intersect(c("beta", "betad", "theta"), names(par))
  setNames(lapply(keys, function(k) unname(par[names(par) == k])), keys)
}
attempt_info <- function(f, start, method = "nlminb") {
  m <- f$m
  if (inherits(m, "error")) return(list(start = start, method = method,
                                        error = conditionMessage(m)))
  cr <- attr(VarCorr(m)$cond[[1]], "correlation")
  list(start = start, method = method, objective = m$fit$objective,
       convergence = m$fit$convergence, message = m$fit$message, pdHess = m$sdr$pdHess,
       sigma = sigma(m), min_eigen_correlation = min(eigen(cr, only.values = TRUE)$values),
       max_abs_gradient = max(abs(m$obj$gr(m$fit$par))), warnings = f$warnings)
}
ok_fit <- function(f) !inherits(f$m, "error") && f$m$fit$convergence == 0 &&
  isTRUE(f$m$sdr$pdHess)
obj_of <- function(f) if (inherits(f$m, "error")) NA_real_ else f$m$fit$objective

# objective with sigma held fixed (map betad), increasing sigma, each fit started from the
# previous one (the first from the dispformula ~ 0 fit with its SDs lowered to keep the
# diagonal)
sigma_profile <- function(formula, data, REML, sd0, th0, beta0, sigmas) {
  nsd <- length(sd0)
  prev <- NULL
  lapply(sigmas, function(sg) {
    th <- if (is.null(prev)) c(log(sqrt(pmax(sd0^2 - sg^2, 1e-8))), th0[-(1:nsd)]) else prev$theta
    b <- if (is.null(prev)) beta0 else prev$beta
    st <- list(theta = unname(th), betad = 2 * log(sg))
    if (!is.null(b)) st$beta <- b
    p <- tmb(formula, data, REML, start = st,
             map = list(betad = factor(NA)), skip = TRUE)
    m <- p$m
    if (inherits(m, "error")) return(list(sigma = sg, error = conditionMessage(m)))
    if (m$fit$convergence == 0) prev <<- split_par(m$fit$par)
    list(sigma = sg, objective = m$fit$objective, convergence = m$fit$convergence,
         pdHess = m$sdr$pdHess)
  })
}

toep_resid <- function(formula, data, REML) {
  f0 <- tmb(formula, data, REML, disp = "~ 0", skip = TRUE)
  m0 <- f0$m
  p0 <- split_par(m0$fit$par)
  th0 <- p0$theta
  nsd <- (length(th0) + 1) / 2
  sd0 <- exp(th0[1:nsd])
  s <- 0.5 * min(sd0)
  # glmmTMB 1.1.5 Gaussian: betad = log(sigma^2); toep theta = log-SDs then n - 1
  # correlation parameters
  starts <- list(
    default = NULL,
    disp0_fit_sigma_half_min_sd = list(theta = th0, betad = 2 * log(s)),
    disp0_fit_diagonal_kept = list(theta = c(log(sqrt(sd0^2 - s^2)), th0[-(1:nsd)]),
                                   betad = 2 * log(s)),
    disp0_fit_logsd_minus_0.3 = list(theta = c(th0[1:nsd] - 0.3, th0[-(1:nsd)]),
                                     betad = 2 * log(0.25 * median(sd0))),
    disp0_fit_logsd_minus_0.7_corr_half = list(theta = c(th0[1:nsd] - 0.7, 0.5 * th0[-(1:nsd)]),
                                               betad = 2 * log(0.7 * min(sd0)))
  )
  fits <- lapply(starts, function(st) tmb(formula, data, REML, start = st, skip = TRUE))
  info <- lapply(names(fits), function(nm) attempt_info(fits[[nm]], nm))
  # second round: restart from the lowest objective so far, with nlminb and with BFGS
  objs <- sapply(fits, obj_of)
  if (!all(is.na(objs))) {
    from <- names(objs)[which.min(objs)]
    st <- split_par(fits[[from]]$m$fit$par)
    for (meth in c("nlminb", "BFGS")) {
      nm <- sprintf("restart_from_%s_%s", from, meth)
      fits[[nm]] <- tmb(formula, data, REML, start = st, skip = TRUE, bfgs = meth == "BFGS")
      starts[[nm]] <- sprintf("parameters of the '%s' fit", from)
      info[[length(info) + 1]] <- attempt_info(fits[[nm]], nm, meth)
    }
  }
  names(info) <- names(fits)
  ok <- sapply(fits, ok_fit)
  objs <- sapply(fits, obj_of)
  best_any <- if (all(is.na(objs))) NULL else names(objs)[which.min(objs)]
  best <- if (any(ok)) names(objs)[ok][which.min(objs[ok])] else NULL
  profile_sigmas <- c(0.05, 0.25, 0.5, 0.75, 0.9) * min(sd0)
  if (!is.null(best_any) && sigma(fits[[best_any]]$m) > 0.01 * min(sd0))
    profile_sigmas <- sort(c(profile_sigmas, sigma(fits[[best_any]]$m)))
  res <- list(formula = formula, data = basename(files[[data]]), REML = REML,
              conv_check = "skip",
              starts = lapply(starts, function(st) if (is.null(st)) "default" else st),
              attempts = info, winner = best, converged = !is.null(best),
              best_objective_converged = if (is.null(best)) NULL else objs[[best]],
              best_objective_any = if (is.null(best_any)) NULL else objs[[best_any]],
              best_start_any = best_any,
              disp0_limit = list(objective = m0$fit$objective, convergence = m0$fit$convergence,
                                 message = m0$fit$message, pdHess = m0$sdr$pdHess,
                                 sigma = sigma(m0), theta = th0,
                                 stddev = unname(sd0)),
              sigma_profile = sigma_profile(formula, data, REML, sd0, th0, p0$beta,
                                            profile_sigmas))
  if (!is.null(best)) res$fit <- toep_summary(fits[[best]]$m)
  else if (!is.null(best_any))
    res$best_unconverged <- tmb_summary(fits[[best_any]]$m, list(subject = "toep",
                                                                 Subject = "toep"))
  if (!is.null(best_any)) res$objective_disp0_minus_best <- m0$fit$objective - objs[[best_any]]
  res
}
toep_results <- list(
  panel_toep_resid_ml = toep_resid("y ~ time + trt + x + toep(0 + ftime | subject)", "panel", FALSE),
  panel_toep_resid_reml = toep_resid("y ~ time + trt + x + toep(0 + ftime | subject)", "panel", TRUE),
  sleep_toep_resid_ml = toep_resid("Reaction ~ Days + toep(0 + fDays | Subject)", "sleepstudy", FALSE)
)

# ---- 3. homogeneous structures (emulated with map) ----------------------------------------------
hom_fit <- function(formula, emulated, data, REML, map, disp = "~ 1", structure, group) {
  f <- tmb(emulated, data, REML, disp = disp, map = map)
  m <- f$m
  base <- list(formula = formula, emulated_by = emulated,
               map = lapply(map, function(x) as.integer(x)), data = basename(files[[data]]),
               REML = REML, dispformula = disp, warnings = f$warnings)
  if (inherits(m, "error")) return(c(base, list(skipped = TRUE, reason = conditionMessage(m))))
  st <- setNames(list(structure), group)
  c(base, tmb_summary(m, st), list(lme4_se = lme4_se(m)))
}
cs_map <- function(k) list(theta = factor(c(rep(1, k), 2)))
homogeneous <- list(
  sleep_homcs_ml = hom_fit("Reaction ~ Days + homcs(0 + fDays | Subject)",
                           "Reaction ~ Days + cs(0 + fDays | Subject)", "sleepstudy", FALSE,
                           cs_map(10), structure = "homcs", group = "Subject"),
  sleep_homcs_reml = hom_fit("Reaction ~ Days + homcs(0 + fDays | Subject)",
                             "Reaction ~ Days + cs(0 + fDays | Subject)", "sleepstudy", TRUE,
                             cs_map(10), structure = "homcs", group = "Subject"),
  sleep_homcs_disp0_ml = hom_fit("Reaction ~ Days + homcs(0 + fDays | Subject)",
                                 "Reaction ~ Days + cs(0 + fDays | Subject)", "sleepstudy",
                                 FALSE, cs_map(10), disp = "~ 0", structure = "homcs",
                                 group = "Subject"),
  sleep_homcs_disp0_reml = hom_fit("Reaction ~ Days + homcs(0 + fDays | Subject)",
                                   "Reaction ~ Days + cs(0 + fDays | Subject)", "sleepstudy",
                                   TRUE, cs_map(10), disp = "~ 0", structure = "homcs",
                                   group = "Subject"),
  sleep_homdiag_reml = hom_fit("Reaction ~ Days + homdiag(1 + Days | Subject)",
                               "Reaction ~ Days + diag(1 + Days | Subject)", "sleepstudy", TRUE,
                               list(theta = factor(c(1, 1))), structure = "homdiag",
                               group = "Subject"),
  panel_homcs_reml = hom_fit("y ~ time + trt + x + homcs(0 + ftime | subject)",
                             "y ~ time + trt + x + cs(0 + ftime | subject)", "panel", TRUE,
                             cs_map(6), structure = "homcs", group = "subject"),
  panel_homcs_disp0_reml = hom_fit("y ~ time + trt + x + homcs(0 + ftime | subject)",
                                   "y ~ time + trt + x + cs(0 + ftime | subject)", "panel", TRUE,
                                   cs_map(6), disp = "~ 0", structure = "homcs",
                                   group = "subject")
)
# homcs + residual with one observation per (group, level) cell is not identified (the
# residual and the interaction variance v(1 - rho) both add to the diagonal only), so the
# ~ 0 versions are compared with lme4's random intercept fit: var(g) = v rho,
# sigma^2 = v (1 - rho)
ri_check <- function(formula, data, REML, hom) {
  l4 <- lme4::lmer(as.formula(formula), data_sets[[data]], REML = REML)
  vc <- as.data.frame(VarCorr(l4))
  v <- sum(vc$vcov)
  rho <- vc$vcov[1] / v
  list(lme4_formula = formula, REML = REML,
       lme4_objective_half = if (REML) REMLcrit(l4) / 2 else deviance(l4) / 2,
       lme4_homcs_sd = sqrt(v), lme4_homcs_rho = rho, lme4_fixef = as.list(fixef(l4)),
       lme4_se = as.list(sqrt(diag(as.matrix(vcov(l4))))),
       glmmTMB_objective = hom$objective,
       glmmTMB_sd = hom$random_effects[[1]]$stddev[1], glmmTMB_rho = hom$random_effects[[1]]$rho)
}
ri_equiv <- list(sleep_homcs_ml = list("Reaction ~ Days + (1 | Subject)", "sleepstudy", FALSE),
                 sleep_homcs_reml = list("Reaction ~ Days + (1 | Subject)", "sleepstudy", TRUE),
                 sleep_homcs_disp0_ml = list("Reaction ~ Days + (1 | Subject)", "sleepstudy", FALSE),
                 sleep_homcs_disp0_reml = list("Reaction ~ Days + (1 | Subject)", "sleepstudy", TRUE),
                 panel_homcs_reml = list("y ~ time + trt + x + (1 | subject)", "panel", TRUE),
                 panel_homcs_disp0_reml = list("y ~ time + trt + x + (1 | subject)", "panel", TRUE))
for (nm in names(ri_equiv)) {
  e <- ri_equiv[[nm]]
  homogeneous[[nm]]$lme4_equivalent <- ri_check(e[[1]], e[[2]], e[[3]], homogeneous[[nm]])
  with_resid <- homogeneous[[nm]]$dispformula == "~ 1"
  homogeneous[[nm]]$identified <- !with_resid
  homogeneous[[nm]]$note <- if (with_resid) paste(
    "not identified: one observation per (group, level) cell, so the residual variance and",
    "v (1 - rho) both add to the diagonal only; the objective is that of the lme4 random",
    "intercept fit, anywhere along the ridge v (1 - rho) + sigma^2 = const, v rho = const")
  else paste("dispformula ~ 0: sigma fixed at ~1.22e-4; equals lme4's random intercept fit",
             "with var(group) = v rho and residual variance v (1 - rho)")
}
homogeneous$sleep_homdiag_reml$identified <- TRUE

# ---- 4. Kenward-Roger / Satterthwaite for (1 | g) + (1 | g:f) = homcs(0 + f | g) -------------
kr_case <- function(lme4_formula, tmb_formula, emulated, data, k, group) {
  d <- data_sets[[data]]
  l4 <- lme4::lmer(as.formula(lme4_formula), d, REML = TRUE)
  X <- getME(l4, "X")
  V_kr <- as.matrix(pbkrtest::vcovAdj(l4))
  kr_df <- sapply(seq_len(ncol(X)), function(j) {
    L <- matrix(0, 1, ncol(X)); L[1, j] <- 1
    pbkrtest::get_Lb_ddf(l4, L)
  })
  names(kr_df) <- colnames(X)
  lt <- lmerTest::lmer(as.formula(lme4_formula), d, REML = TRUE)
  sat <- summary(lt, ddf = "Satterthwaite")$coefficients
  krt <- summary(lt, ddf = "Kenward-Roger")$coefficients
  tab <- function(s) lapply(setNames(seq_len(nrow(s)), rownames(s)), function(i)
    list(estimate = s[i, "Estimate"], se = s[i, "Std. Error"], df = s[i, "df"],
         t = s[i, "t value"], p = s[i, "Pr(>|t|)"]))
  vc <- as.data.frame(VarCorr(l4))
  hom <- hom_fit(tmb_formula, emulated, data, TRUE, cs_map(k), structure = "homcs",
                 group = group)
  v <- sum(vc$vcov[vc$grp != "Residual"])
  list(data = basename(files[[data]]), data_path = files[[data]], lme4_formula = lme4_formula,
       glmmTMB_formula = tmb_formula, REML = TRUE,
       lme4 = list(REMLcrit = REMLcrit(l4), objective_half = REMLcrit(l4) / 2,
                   fixef = as.list(fixef(l4)), se = as.list(sqrt(diag(as.matrix(vcov(l4))))),
                   vcov = mat_rows(as.matrix(vcov(l4))), theta = unname(getME(l4, "theta")),
                   sigma = sigma(l4), varcorr = lapply(seq_len(nrow(vc)), function(i)
                     list(grp = vc$grp[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i])),
                   implied_homcs_sd = sqrt(v),
                   implied_homcs_rho = vc$vcov[vc$grp == group] / v),
       kenward_roger = list(df = as.list(kr_df), vcov_adj = mat_rows(V_kr),
                            se_adj = as.list(setNames(sqrt(diag(V_kr)), colnames(X))),
                            lmerTest = tab(krt)),
       satterthwaite = list(lmerTest = tab(sat)),
       glmmTMB_homcs = hom,
       objective_difference_glmmTMB_minus_lme4 = hom$objective - REMLcrit(l4) / 2)
}
kenward_roger <- list(
  oats = kr_case("yield ~ nitro + Variety + (1 | Block) + (1 | Block:Variety)",
                 "yield ~ nitro + Variety + homcs(0 + Variety | Block)",
                 "yield ~ nitro + Variety + cs(0 + Variety | Block)", "Oats", 3, "Block"),
  oats_unbalanced = c(
    kr_case("yield ~ nitro + Variety + (1 | Block) + (1 | Block:Variety)",
            "yield ~ nitro + Variety + homcs(0 + Variety | Block)",
            "yield ~ nitro + Variety + cs(0 + Variety | Block)", "Oats_unbalanced", 3, "Block"),
    list(dropped_rows = oats_dropped)),
  pastes = kr_case("strength ~ 1 + (1 | batch) + (1 | batch:cask)",
                   "strength ~ 1 + homcs(0 + cask | batch)",
                   "strength ~ 1 + cs(0 + cask | batch)", "Pastes", 3, "batch")
)

info <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
             glmmTMB = as.character(packageVersion("glmmTMB")),
             TMB = as.character(packageVersion("TMB")),
             pbkrtest = as.character(packageVersion("pbkrtest")),
             lmerTest = as.character(packageVersion("lmerTest")),
             Matrix = as.character(packageVersion("Matrix")),
             glmmTMB_covstructs = names(glmmTMB:::.valid_covstruct))
out <- list(info = info, data_paths = files, lme4_se = se_results, toep_resid = toep_results,
            homogeneous = homogeneous, kenward_roger = kenward_roger)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null",
                  na = "null"), "tests/models/data/covstruct_extra.json")
