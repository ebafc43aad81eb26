# Poisson GLMMs with huge counts, crossed and vector-valued random effects (R 4.2, lme4 1.1-31,
# glmmTMB 1.1.5, numDeriv, minqa, jsonlite).
# Run from tests/models/data:  Rscript r/glmm_poisson_big.R
# Writes glmm_poisson_big_{crossed,slope,nested}.csv (simulated data) and glmm_poisson_big.json
# (the fits).
#
# The crossed and the random-slope designs have a moderate response (counts 1.6e7 to 3.1e8, where
# lme4 fits) and a huge one (3.6e12 to 1.1e14, where glmer stops: "Downdated VtV is not positive
# definite" for the crossed terms, "PIRLS step-halvings failed to reduce deviance in pwrssUpdate"
# for the random slope; glmmTMB reports false convergence); the nested design (1 | a/b) a huge
# one only. So the reference is the Laplace deviance that glmer
# minimizes, -2 log p(y | mu) + |u|^2 + log|Lambda'Z'WZ Lambda + I| at the conditional modes u,
# evaluated here without cancellation and minimized over (theta, beta):
#   * lme4's own structures (glFormula: Zt, Lambdat, Lind) and R's dpois (Loader's algorithm,
#     accurate for huge counts);
#   * the modes by Newton steps on the increments, each the least-squares solution of
#     [W^1/2 Z Lambda; I] d = [W^-1/2 (y - mu); -u] by Householder QR (never forming
#     Lambda'Z'WZ Lambda + I, whose eigenvalue ~1 along the crossed terms' null direction a
#     Cholesky factor would get wrong by ~1e-2), and the log-determinant from the same QR;
#   * bobyqa over (theta, s) with beta = beta0 + C s, C whitening the information of beta, then
#     Newton steps and the Hessian by numDeriv in coordinates that whiten the whole Hessian,
#     with steps of 0.3 there (the deviance itself carries ~1e-8 of rounding at eta ~ 30).
# On the moderate responses the reference reproduces lme4's fit (objective to ~1e-9, estimates
# to ~1e-5; the reference also evaluates lme4's objective at lme4's estimates to ~1e-9) and
# glmmTMB's standard errors; lme4's finite-difference standard errors differ by up to 3e-3.
suppressPackageStartupMessages({
  library(lme4); library(glmmTMB); library(numDeriv); library(minqa); library(jsonlite)
})
options(scipen = 100)

## ---- data ---------------------------------------------------------------------------------
set.seed(2024)
na <- 10; nb <- 8
cr <- expand.grid(a = sprintf("a%02d", 1:na), b = sprintf("b%02d", 1:nb), rep = 1:2)
cr$x <- round(rnorm(nrow(cr)), 3)
ea <- rnorm(na, sd = 0.4); eb <- rnorm(nb, sd = 0.25)
lp <- 0.3 * cr$x + ea[cr$a] + eb[cr$b]
cr$y8 <- rpois(nrow(cr), exp(18 + lp))
cr$y13 <- rpois(nrow(cr), exp(30 + lp))
cr$rep <- NULL
write.csv(cr, "glmm_poisson_big_crossed.csv", row.names = FALSE)
set.seed(2025)
ng <- 12; per <- 10
sl <- data.frame(g = rep(sprintf("g%02d", 1:ng), each = per))
sl$x <- round(rnorm(nrow(sl)), 3)
b0 <- rnorm(ng, sd = 0.3); b1 <- rnorm(ng, sd = 0.1)
gi <- as.integer(factor(sl$g))
lp <- 0.5 * sl$x + b0[gi] + b1[gi] * sl$x
sl$y8 <- rpois(nrow(sl), exp(18 + lp))
sl$y14 <- rpois(nrow(sl), exp(31.2 + lp))
write.csv(sl, "glmm_poisson_big_slope.csv", row.names = FALSE)
set.seed(2026)
ne <- expand.grid(rep = 1:5, b = sprintf("b%d", 1:4), a = sprintf("a%d", 1:8))[, c("a", "b")]
ne$x <- round(rnorm(nrow(ne)), 3)
ea <- rnorm(8, sd = 0.4); eab <- rnorm(32, sd = 0.2)
lp <- 0.3 * ne$x + ea[as.integer(factor(ne$a))] + eab[as.integer(interaction(ne$b, ne$a))]
ne$y13 <- rpois(nrow(ne), exp(30 + lp))
write.csv(ne, "glmm_poisson_big_nested.csv", row.names = FALSE)
cr <- read.csv("glmm_poisson_big_crossed.csv", stringsAsFactors = TRUE)
sl <- read.csv("glmm_poisson_big_slope.csv", stringsAsFactors = TRUE)
ne <- read.csv("glmm_poisson_big_nested.csv", stringsAsFactors = TRUE)

## ---- the Laplace deviance without cancellation --------------------------------------------
laplace_poisson <- function(formula, data) {
  gf <- glFormula(formula, data, family = poisson)
  X <- gf$X; Zt <- gf$reTrms$Zt; Lt <- gf$reTrms$Lambdat; Lind <- gf$reTrms$Lind
  y <- model.response(gf$fr)
  q <- nrow(Zt); p <- ncol(X); k <- length(gf$reTrms$theta)
  env <- new.env(); env$u <- rep(0, q)
  zl <- function(theta) { Lt@x <- theta[Lind]; as.matrix(t(Lt %*% Zt)) }
  minus2ll <- function(eta) -2 * sum(dpois(y, exp(eta), log = TRUE))
  ## Newton steps on P = -2 log p(y | v) + |v[pen]|^2 for eta = eta0 + A v, with step halving
  newton <- function(eta0, A, v, pen) {
    P <- function(v) minus2ll(eta0 + drop(A %*% v)) + sum(v[pen]^2)
    p0 <- P(v)
    E <- diag(1, length(v))[pen, , drop = FALSE]
    for (it in 1:100) {
      mu <- exp(eta0 + drop(A %*% v))
      QR <- qr(rbind(A * sqrt(mu), E), LAPACK = TRUE)
      delta <- qr.coef(QR, c((y - mu) / sqrt(mu), -v[pen]))
      s <- 1
      repeat {
        vn <- v + s * delta; p1 <- P(vn)
        if (is.finite(p1) && p1 <= p0 + 1e-12 * abs(p0)) break
        s <- s / 2
        if (s < 1e-10) stop("step halving failed")
      }
      moved <- max(abs(vn - v)); v <- vn; p0 <- p1
      if (moved < 1e-14 * (1 + max(abs(v)))) break
    }
    v
  }
  modes <- function(theta, beta) {
    ZL <- zl(theta)
    u <- newton(drop(X %*% beta), ZL, env$u, rep(TRUE, q))
    env$u <- u
    mu <- exp(drop(X %*% beta + ZL %*% u))
    list(u = u, mu = mu, QR = qr(rbind(ZL * sqrt(mu), diag(q)), LAPACK = TRUE), ZL = ZL)
  }
  objective <- function(theta, beta) {
    m <- modes(theta, beta)
    -2 * sum(dpois(y, m$mu, log = TRUE)) + sum(m$u^2) + 2 * sum(log(abs(diag(qr.R(m$QR)))))
  }
  ## the joint modes of (u, beta) at theta (glmer's nAGQ = 0 estimates): a start
  joint <- function(theta, beta) {
    v <- newton(rep(0, length(y)), cbind(zl(theta), X), c(env$u, beta),
                rep(c(TRUE, FALSE), c(q, p)))
    env$u <- v[1:q]
    v[-(1:q)]
  }
  ## Fisher information of beta at the modes, R'WR + B'B (B = M^-1 Lambda'Z'WX, R = X - Z Lambda B)
  info_beta <- function(theta, beta) {
    m <- modes(theta, beta)
    B <- qr.coef(m$QR, rbind(X * sqrt(m$mu), matrix(0, q, p)))
    R <- X - m$ZL %*% B
    crossprod(R, R * m$mu) + crossprod(B)
  }
  list(objective = objective, joint = joint, info_beta = info_beta, k = k, p = p,
       lower = gf$reTrms$lower, names = colnames(X), cnms = gf$reTrms$cnms)
}

reference_fit <- function(lap, theta, beta) {
  k <- lap$k; p <- lap$p
  beta <- lap$joint(theta, beta)
  for (round in 1:3) {
    C <- solve(chol(2 * lap$info_beta(theta, beta)))
    f <- function(par) lap$objective(par[1:k], beta + drop(C %*% par[-(1:k)]))
    opt <- bobyqa(c(theta, rep(0, p)), f, lower = c(lap$lower, rep(-Inf, p)),
                  control = list(rhobeg = if (round == 1) 0.2 else 0.02, rhoend = 1e-10,
                                 maxfun = 20000))
    theta <- opt$par[1:k]; beta <- beta + drop(C %*% opt$par[-(1:k)])
  }
  ## J: d(theta, beta)/ds for coordinates s that whiten the Hessian of the deviance
  J <- diag(1, k + p); J[-(1:k), -(1:k)] <- solve(chol(2 * lap$info_beta(theta, beta)))
  J[cbind(1:k, 1:k)] <- 0.05
  args <- list(eps = 0.3, d = 0.3, r = 2, v = 2)
  for (pass in 1:6) {
    x0 <- c(theta, beta)
    f <- function(s) { x <- x0 + drop(J %*% s); lap$objective(x[1:k], x[-(1:k)]) }
    s0 <- rep(0, k + p)
    H <- hessian(f, s0, method.args = args)
    g <- grad(f, s0, method.args = args)
    if (pass > 2) {  # Newton steps once the coordinates are whitened
      x <- x0 - drop(J %*% solve(H, g)); theta <- x[1:k]; beta <- x[-(1:k)]
    }
    J <- J %*% solve(chol(H))
  }
  x0 <- c(theta, beta)
  f <- function(s) { x <- x0 + drop(J %*% s); lap$objective(x[1:k], x[-(1:k)]) }
  H <- hessian(f, rep(0, k + p), method.args = args)
  cov <- J %*% (2 * solve(H)) %*% t(J)
  list(objective = lap$objective(theta, beta), theta = theta, fixef = beta,
       se = sqrt(diag(cov))[-(1:k)],
       gradient_whitened = grad(f, rep(0, k + p), method.args = args))
}

## standard deviations and correlations as lme4's as.data.frame(VarCorr(.)) rows, from theta
varcorr_rows <- function(cnms, theta) {
  rows <- list(); pos <- 0
  for (grp in names(cnms)) {
    nm <- cnms[[grp]]; kk <- length(nm)
    Tm <- matrix(0, kk, kk); Tm[lower.tri(Tm, diag = TRUE)] <- theta[pos + seq_len(kk * (kk + 1) / 2)]
    pos <- pos + kk * (kk + 1) / 2
    S <- Tm %*% t(Tm); sdv <- sqrt(diag(S))
    for (i in seq_len(kk)) rows[[length(rows) + 1]] <- list(grp = grp, var1 = nm[i], var2 = NA, vcov = S[i, i], sdcor = sdv[i])
    if (kk > 1) for (j in 1:(kk - 1)) for (i in (j + 1):kk)
      rows[[length(rows) + 1]] <- list(grp = grp, var1 = nm[j], var2 = nm[i], vcov = S[i, j], sdcor = S[i, j] / (sdv[i] * sdv[j]))
  }
  rows
}

lme4_fit <- function(formula, data) {
  m <- tryCatch(glmer(formula, data, family = poisson), error = function(e) conditionMessage(e))
  if (is.character(m)) return(list(error = sub(".*: ", "", m)))
  vc <- as.data.frame(VarCorr(m))
  list(objective = -2 * as.numeric(logLik(m)), theta = unname(getME(m, "theta")),
       fixef = as.list(fixef(m)), se = as.list(setNames(sqrt(diag(as.matrix(vcov(m)))), names(fixef(m)))),
       varcorr = lapply(seq_len(nrow(vc)), function(i) list(grp = vc$grp[i], var1 = vc$var1[i],
         var2 = if (is.na(vc$var2[i])) NA else vc$var2[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i])),
       warnings = m@optinfo$conv$lme4$messages)
}

tmb_fit <- function(formula, data) {
  t <- suppressWarnings(glmmTMB(formula, data, family = poisson))
  list(objective = -2 * as.numeric(logLik(t)),
       se = as.list(sqrt(diag(vcov(t)$cond))))
}

cases <- list(
  list(id = "crossed_1e8", data = "glmm_poisson_big_crossed.csv", formula = "y8 ~ x + (1 | a) + (1 | b)", theta = c(0.5, 0.5)),
  list(id = "slope_1e8", data = "glmm_poisson_big_slope.csv", formula = "y8 ~ x + (1 + x | g)", theta = c(0.3, 0, 0.1)),
  list(id = "crossed_1e13", data = "glmm_poisson_big_crossed.csv", formula = "y13 ~ x + (1 | a) + (1 | b)", theta = c(0.5, 0.5)),
  list(id = "slope_1e14", data = "glmm_poisson_big_slope.csv", formula = "y14 ~ x + (1 + x | g)", theta = c(0.3, 0, 0.1)),
  list(id = "nested_1e13", data = "glmm_poisson_big_nested.csv", formula = "y13 ~ x + (1 | a/b)", theta = c(0.5, 0.5))
)
out <- lapply(cases, function(cs) {
  d <- if (grepl("crossed", cs$id)) cr else if (grepl("slope", cs$id)) sl else ne
  f <- as.formula(cs$formula)
  lap <- laplace_poisson(f, d)
  g <- glm(nobars(f), d, family = poisson)
  ref <- reference_fit(lap, cs$theta, coef(g))
  lme4 <- lme4_fit(f, d)
  res <- list(id = cs$id, data = cs$data, formula = cs$formula,
       counts = range(model.response(model.frame(nobars(f), d))),
       reference = list(objective = ref$objective, theta = ref$theta,
                        fixef = as.list(setNames(ref$fixef, lap$names)),
                        se = as.list(setNames(ref$se, lap$names)),
                        varcorr = varcorr_rows(lap$cnms, ref$theta),
                        gradient_whitened = ref$gradient_whitened),
       lme4 = lme4)
  if (is.null(lme4$error)) {
    res$reference$objective_at_lme4 <- lap$objective(lme4$theta, unlist(lme4$fixef))
    res$glmmTMB <- tmb_fit(f, d)
  }
  res
})
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), "glmm_poisson_big.json")
