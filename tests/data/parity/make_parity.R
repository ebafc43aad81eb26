## Regenerates the lme4 parity set: the datasets (CSV), cases.json and lme4.json in this folder.
##
##   cd tests/data/parity && Rscript make_parity.R
##   cd tests/data/parity && Rscript make_parity.R id1 id2 ...   # refit only these cases
##
## With case ids, only those cases are fitted: their entries of lme4.json are replaced (or added,
## in the order of the cases) and the others are kept as they are; cases.json and the CSVs are
## always written in full.
## R 4.2, lme4 1.1-31, glmmTMB 1.1.5, nlme, MASS, lmerTest (datasets only), numDeriv, jsonlite.
## Every dataset is written to CSV first and every model is fitted on the CSV as read back
## (character columns become factors with levels in C-locale order, the columns listed in a case's
## `factors` as well), so R and Python see exactly the same data.
## GLMM standard errors: glmmTMB's (Hessian by automatic differentiation) where its fit agrees with
## lme4's and its SEs differ from lme4's finite-difference ones by more than 1e-3 relative; lme4's
## are then kept as `se_lme4`. Adaptive quadrature (nAGQ > 1), Gamma and inverse Gaussian keep
## lme4's; Gaussian-with-link cases numDeriv's Hessian of lme4's own deviance function where
## lme4's coarse finite differences are off (see add_numderiv_se).
## Separated cases: glmmTMB's, equal to those of the limit fit (see add_separated_se).
suppressPackageStartupMessages({
  library(lme4)
  library(glmmTMB)
  library(jsonlite)
})
data(ham, package = "lmerTest")
data(carrots, package = "lmerTest")

out <- "."
write_data <- function(name, df) {
  df <- as.data.frame(df)
  for (col in names(df)) if (is.factor(df[[col]])) df[[col]] <- as.character(df[[col]])
  write.csv(df, file.path(out, paste0(name, ".csv")), row.names = FALSE)
}

## ---- datasets -------------------------------------------------------------------------------
sleep <- lme4::sleepstudy
sleep$w <- 1 + (sleep$Days %% 3) / 2       # prior weights 1, 1.5, 2 (a documented construction)
sleep$off <- 5 * sleep$Days                 # a known part of the slope, as an offset
write_data("sleepstudy", sleep)
write_data("Dyestuff", lme4::Dyestuff)
write_data("Dyestuff2", lme4::Dyestuff2)
write_data("Penicillin", lme4::Penicillin)
write_data("Pastes", lme4::Pastes)
cb <- lme4::cbpp
cb$obs <- seq_len(nrow(cb))
cb$prop <- cb$incidence / cb$size
write_data("cbpp", cb)
## cbpp as one Bernoulli row per animal (0/1 response)
rows <- rep(seq_len(nrow(cb)), cb$size)
bern <- cb[rows, c("herd", "period")]
bern$y <- unlist(lapply(seq_len(nrow(cb)), function(i)
  rep(c(1L, 0L), c(cb$incidence[i], cb$size[i] - cb$incidence[i]))))
write_data("cbpp_bernoulli", bern)
## quasi-complete separation: cbpp with no incidence in period 4
sep <- cb
sep$incidence[sep$period == "4"] <- 0
write_data("cbpp_separated", sep[, c("herd", "incidence", "size", "period")])
write_data("grouseticks", lme4::grouseticks)
write_data("VerbAgg", lme4::VerbAgg[, c("r2", "Anger", "Gender", "btype", "situ", "mode", "id", "item")])
write_data("cake", lme4::cake)
arab <- lme4::Arabidopsis
arab$obs <- seq_len(nrow(arab))
write_data("Arabidopsis", arab)
write_data("Orthodont", nlme::Orthodont)
write_data("Oats", nlme::Oats)
write_data("Machines", nlme::Machines)
write_data("ergoStool", nlme::ergoStool)
write_data("Ovary", nlme::Ovary)
write_data("BodyWeight", nlme::BodyWeight)
write_data("Pixel", nlme::Pixel)
write_data("Alfalfa", nlme::Alfalfa)
write_data("ChickWeight", datasets::ChickWeight)
wb <- datasets::warpbreaks
wb$obs <- seq_len(nrow(wb))
write_data("warpbreaks", wb)
ins <- datasets::InsectSprays
ins$obs <- seq_len(nrow(ins))
write_data("InsectSprays", ins)
write_data("bacteria", MASS::bacteria)
ep <- MASS::epil
ep$obs <- seq_len(nrow(ep))
write_data("epil", ep)
sal <- glmmTMB::Salamanders
sal$obs <- seq_len(nrow(sal))
write_data("Salamanders", sal[, c("site", "mined", "cover", "DOY", "spp", "count", "obs")])
owls <- glmmTMB::Owls
owls$obs <- seq_len(nrow(owls))
write_data("Owls", owls[, c("Nest", "FoodTreatment", "SexParent", "ArrivalTime",
                            "SiblingNegotiation", "BroodSize", "logBroodSize", "obs")])
write_data("ham", ham)
write_data("carrots", carrots[, c("Consumer", "Homesize", "Preference", "sens1", "sens2", "Product")])
## simulated Gamma data of tests/models/data/gamma_sim.csv (see tests/models/test_generalized.py)
write_data("gamma_sim", read.csv("../../models/data/gamma_sim.csv"))
## simulated Gaussian data for glmer(family = gaussian(link = "log" | "inverse")): 30 groups of 8,
## y_log with correlated random intercepts and slopes on the log scale, y_inv with a random
## intercept on the inverse scale and prior weights w (error SD 0.3 / sqrt(w))
set.seed(20240613)
gs <- data.frame(g = rep(sprintf("g%02d", 1:30), each = 8), x = round(runif(240, 0, 2), 3))
gi <- rep(1:30, each = 8)
b0 <- rnorm(30, 0, 0.3)
b1 <- 0.5 * b0 + rnorm(30, 0, 0.2)
gs$w <- sample(1:3, 240, replace = TRUE)
gs$y_log <- round(exp(1 + 0.6 * gs$x + b0[gi] + b1[gi] * gs$x) + rnorm(240, 0, 1), 4)
c0 <- rnorm(30, 0, 0.08)
gs$y_inv <- round(1 / (0.4 + 0.25 * gs$x + c0[gi]) + rnorm(240, 0, 0.3) / sqrt(gs$w), 4)
write_data("gaussian_sim", gs)

## ---- cases ----------------------------------------------------------------------------------
cases <- list()
add <- function(id, data, formula, source, family = "gaussian", link = NULL, reml = NULL,
                nagq = NULL, weights = NULL, offset = NULL, factors = character(),
                separated = character(), subset = NULL, contrasts = NULL) {
  case <- list(id = id, data = data, formula = formula, family = family)
  if (!is.null(link)) case$link <- link
  if (family == "gaussian" && is.null(link)) case$reml <- if (is.null(reml)) TRUE else reml
  if (!is.null(nagq)) case$nagq <- nagq
  if (!is.null(weights)) case$weights <- weights
  if (!is.null(offset)) case$offset <- offset
  if (!is.null(subset)) case$subset <- subset
  if (!is.null(contrasts)) case$contrasts <- contrasts
  case$factors <- I(factors)
  if (length(separated)) case$separated <- I(separated)
  case$source <- source
  cases[[length(cases) + 1]] <<- case
}

## linear mixed models
add("dyestuff_reml", "Dyestuff", "Yield ~ 1 + (1|Batch)", "lme4 ?Dyestuff; MixedModels.jl docs")
add("dyestuff_ml", "Dyestuff", "Yield ~ 1 + (1|Batch)", "MixedModels.jl docs (fit!, ML)", reml = FALSE)
add("dyestuff2_singular", "Dyestuff2", "Yield ~ 1 + (1|Batch)", "lme4 book ch. 1: boundary fit")
add("penicillin_crossed", "Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", "lme4 ?Penicillin")
add("penicillin_ml", "Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", "MixedModels.jl docs", reml = FALSE)
add("pastes_nested_slash", "Pastes", "strength ~ 1 + (1|batch/cask)", "lme4 book ch. 2: nested")
add("pastes_sample_ml", "Pastes", "strength ~ 1 + (1|batch) + (1|sample)", "lme4 ?Pastes", reml = FALSE)
add("sleep_ml", "sleepstudy", "Reaction ~ Days + (Days|Subject)", "lme4 ?sleepstudy", reml = FALSE,
    factors = "Subject")
add("sleep_uncorrelated", "sleepstudy", "Reaction ~ Days + (Days||Subject)", "lme4 vignette lmer",
    factors = "Subject")
add("sleep_zero_slope", "sleepstudy", "Reaction ~ Days + (1|Subject) + (0 + Days|Subject)",
    "lme4 ?sleepstudy", factors = "Subject")
add("sleep_quadratic", "sleepstudy", "Reaction ~ Days + I(Days^2) + (Days|Subject)",
    "Bolker GLMM FAQ style polynomial", factors = "Subject")
add("sleep_poly", "sleepstudy", "Reaction ~ poly(Days, 2) + (1|Subject)", "R idiom poly()",
    reml = FALSE, factors = "Subject")
add("sleep_factor_days", "sleepstudy", "Reaction ~ factor(Days) + (1|Subject)", "R idiom factor()",
    factors = "Subject")
add("sleep_weights", "sleepstudy", "Reaction ~ Days + (Days|Subject)", "lmer weights=",
    weights = "w", factors = "Subject")
add("sleep_offset_arg", "sleepstudy", "Reaction ~ Days + (Days|Subject)", "lmer offset=",
    offset = "off", reml = FALSE, factors = "Subject")
add("sleep_offset_formula", "sleepstudy", "Reaction ~ Days + offset(off) + (Days|Subject)",
    "lmer offset() in the formula", factors = "Subject")
add("cake_temp_interaction", "cake", "angle ~ recipe * temp + (1|recipe:replicate)", "lme4 ?cake",
    factors = "replicate")
add("cake_temperature_factor", "cake", "angle ~ recipe + temperature + (1|recipe:replicate)",
    "lme4 ?cake", reml = FALSE, factors = c("replicate", "temperature"))
add("cake_replicate_nested", "cake", "angle ~ recipe + temp + (1|replicate) + (1|recipe:replicate)",
    "lme4 ?cake (fm2-like)", factors = "replicate")
add("orthodont_slopes", "Orthodont", "distance ~ age + Sex + (age|Subject)", "Pinheiro & Bates 4.2")
add("orthodont_interaction_ml", "Orthodont", "distance ~ age * Sex + (1|Subject)",
    "Pinheiro & Bates 4.2", reml = FALSE)
add("orthodont_uncorrelated", "Orthodont", "distance ~ age + Sex + (age||Subject)",
    "Pinheiro & Bates 4.2 (diagonal)")
add("oats_split_plot", "Oats", "yield ~ nitro + Variety + (1|Block/Variety)", "Pinheiro & Bates 1.6")
add("machines_nested", "Machines", "score ~ Machine + (1|Worker) + (1|Worker:Machine)",
    "Pinheiro & Bates 1.3", factors = "Worker")
add("machines_correlated", "Machines", "score ~ Machine + (0 + Machine|Worker)",
    "Pinheiro & Bates 1.3", factors = "Worker")
add("machines_no_intercept_ml", "Machines", "score ~ 0 + Machine + (1|Worker)",
    "Pinheiro & Bates 1.3", reml = FALSE, factors = "Worker")
add("ergostool", "ergoStool", "effort ~ Type + (1|Subject)", "Pinheiro & Bates 1.2",
    factors = "Subject")
add("bodyweight_slopes", "BodyWeight", "weight ~ Time * Diet + (Time|Rat)", "Pinheiro & Bates 5.2",
    factors = c("Diet", "Rat"))
add("ovary_harmonic", "Ovary", "follicles ~ sin(2*pi*Time) + cos(2*pi*Time) + (1|Mare)",
    "Pinheiro & Bates 5.3", factors = "Mare")
add("pixel_quadratic_nested", "Pixel", "pixel ~ day + I(day^2) + (day|Dog) + (1|Dog:Side)",
    "Pinheiro & Bates 4.2", factors = "Dog")
add("alfalfa_split_plot", "Alfalfa", "Yield ~ Date + Variety + (1|Block/Variety)",
    "Pinheiro & Bates 2.1", factors = "Block")
add("chickweight_slopes", "ChickWeight", "weight ~ Time * Diet + (Time|Chick)",
    "datasets ?ChickWeight growth curves", factors = c("Chick", "Diet"))
add("chickweight_log_response", "ChickWeight", "log(weight) ~ Time + (Time|Chick)",
    "log response", reml = FALSE, factors = "Chick")
add("arabidopsis_log1p", "Arabidopsis",
    "log(1 + total.fruits) ~ nutrient * amd + factor(rack) + status + (1|popu) + (1|gen)",
    "lme4 ?Arabidopsis; Bolker et al. 2009 TREE", factors = "gen")
add("ham_lmertest", "ham", "Informed.liking ~ Product * Information + (1|Consumer) + (1|Consumer:Product)",
    "lmerTest ?ham", factors = c("Consumer", "Product", "Information"))
add("carrots_slopes", "carrots", "Preference ~ sens2 + Homesize + (1 + sens2|Consumer) + (1|Product)",
    "lmerTest ?carrots", factors = c("Consumer", "Homesize"))
add("grouseticks_log_lmm", "grouseticks", "log(1 + TICKS) ~ YEAR + cHEIGHT + (1|BROOD) + (1|LOCATION)",
    "lme4 ?grouseticks, Gaussian on log counts", reml = FALSE, factors = c("YEAR", "BROOD", "LOCATION"))
add("sleep_days_singular", "sleepstudy", "Reaction ~ Days + (Days|Subject) + (1|Days)",
    "boundary fit: zero variance", factors = c("Subject"))
add("oats_slope_singular", "Oats", "yield ~ nitro + (nitro|Block)", "boundary fit: correlation +1")
add("sleep_subset", "sleepstudy", "Reaction ~ Days + (Days|Subject)",
    "lme4 book ch. 4 (days 0-1 adaptation left out): subset=", subset = "Days >= 2", factors = "Subject")
add("sleep_poly_raw", "sleepstudy", "Reaction ~ poly(Days, 2, raw = TRUE) + (1|Subject)",
    "R idiom poly(raw = TRUE)", reml = FALSE, factors = "Subject")
add("chickweight_as_factor", "ChickWeight", "weight ~ Time + as.factor(Diet) + (Time|Chick)",
    "R idiom as.factor()", reml = FALSE, factors = "Chick")
add("insectsprays_sqrt", "InsectSprays", "sqrt(count) ~ 1 + (1|spray)",
    "variance-stabilised counts (R idiom sqrt())")
add("cake_contrasts_poly", "cake", "angle ~ recipe * temperature + (1|recipe:replicate)",
    "lme4 ?cake fm1 (ordered temperature: contr.poly)", factors = c("replicate", "temperature"),
    contrasts = list(temperature = "poly"))
add("cake_contrasts_sum", "cake", "angle ~ recipe + temp + (1|recipe:replicate)", "contrasts = contr.sum",
    factors = "replicate", contrasts = list(recipe = "sum"))
add("machines_contrasts_helmert", "Machines", "score ~ Machine + (1|Worker) + (1|Worker:Machine)",
    "contrasts = contr.helmert", factors = "Worker", contrasts = list(Machine = "helmert"))
add("ergostool_contrasts_sdif", "ergoStool", "effort ~ Type + (1|Subject)",
    "contrasts = MASS::contr.sdif", reml = FALSE, factors = "Subject", contrasts = list(Type = "sdif"))

## generalized linear mixed models
add("cbpp_probit", "cbpp", "cbind(incidence, size - incidence) ~ period + (1|herd)",
    "lme4 ?cbpp, probit link", family = "binomial", link = "probit", factors = c("herd", "period"))
add("cbpp_cloglog_prop_weights", "cbpp", "prop ~ period + (1|herd)",
    "lme4 ?glmer: proportions with weights", family = "binomial", link = "cloglog",
    weights = "size", factors = c("herd", "period"))
add("cbpp_prop_weights", "cbpp", "incidence / size ~ period + (1|herd)",
    "lme4 ?cbpp (gm1 proportions form)", family = "binomial", weights = "size",
    factors = c("herd", "period"))
add("cbpp_subset", "cbpp", "cbind(incidence, size - incidence) ~ period + (1|herd)",
    "glmer subset=", family = "binomial", subset = "size > 5", factors = c("herd", "period"))
add("cbpp_bernoulli", "cbpp_bernoulli", "y ~ period + (1|herd)", "cbpp as 0/1 responses",
    family = "binomial", factors = c("herd", "period"))
add("cbpp_olre", "cbpp", "cbind(incidence, size - incidence) ~ period + (1|herd) + (1|obs)",
    "lme4 ?cbpp (observation-level effect)", family = "binomial", factors = c("herd", "period", "obs"))
add("cbpp_agq7", "cbpp", "cbind(incidence, size - incidence) ~ period + (1|herd)",
    "lme4 ?glmer nAGQ", family = "binomial", nagq = 7, factors = c("herd", "period"))
add("cbpp_separated", "cbpp_separated", "cbind(incidence, size - incidence) ~ period + (1|herd)",
    "quasi-complete separation (no cases in period 4)", family = "binomial",
    factors = c("herd", "period"), separated = "period4")
add("grouseticks_olre", "grouseticks", "TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION)",
    "lme4 ?grouseticks (Elston et al. 2001)", family = "poisson",
    factors = c("YEAR", "BROOD", "INDEX", "LOCATION"))
add("grouseticks_nb", "grouseticks", "TICKS ~ YEAR + cHEIGHT + (1|LOCATION)", "lme4 ?glmer.nb",
    family = "negative_binomial", factors = c("YEAR", "LOCATION"))
add("grouseticks_agq5_height", "grouseticks", "TICKS ~ YEAR + HEIGHT + (1|LOCATION)",
    "nAGQ with a covariate on a large scale", family = "poisson", nagq = 5,
    factors = c("YEAR", "LOCATION"))
add("verbagg_crossed", "VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1|id) + (1|item)",
    "lme4 vignette; MixedModels.jl docs", family = "binomial", factors = "id")
add("verbagg_mode_probit", "VerbAgg", "r2 ~ mode + situ + btype + (1|id)", "VerbAgg, probit",
    family = "binomial", link = "probit", factors = "id")
add("arabidopsis_poisson_olre", "Arabidopsis",
    "total.fruits ~ nutrient + amd + status + (1|popu) + (1|gen) + (1|obs)",
    "Bolker et al. 2009 worked example", family = "poisson", factors = c("gen", "obs"))
add("warpbreaks_olre", "warpbreaks", "breaks ~ wool * tension + (1|obs)",
    "Poisson with observation-level effect", family = "poisson", factors = "obs")
add("insectsprays_olre", "InsectSprays", "count ~ spray + (1|obs)",
    "Poisson with observation-level effect", family = "poisson", factors = "obs")
add("bacteria_logit", "bacteria", "y ~ trt + I(week > 2) + (1|ID)", "MASS ?bacteria (glmmPQL example)",
    family = "binomial")
add("bacteria_agq11_quadratic", "bacteria", "y ~ trt + week + I(week^2) + (1|ID)",
    "nAGQ with a quadratic term", family = "binomial", nagq = 11)
add("epil_poisson", "epil", "y ~ lbase * trt + lage + V4 + (1|subject)", "MASS ?epil; Thall & Vail",
    family = "poisson", factors = "subject")
add("epil_olre", "epil", "y ~ lbase * trt + lage + V4 + (1|subject) + (1|obs)",
    "Bolker GLMM FAQ overdispersion", family = "poisson", factors = c("subject", "obs"))
add("epil_agq25", "epil", "y ~ lbase * trt + lage + V4 + (1|subject)", "nAGQ = 25",
    family = "poisson", nagq = 25, factors = "subject")
add("salamanders_poisson", "Salamanders", "count ~ spp + mined + (1|site)", "glmmTMB vignette",
    family = "poisson")
add("salamanders_cover_slopes", "Salamanders", "count ~ spp + mined + cover + (1 + cover|site)",
    "glmmTMB vignette (random slope)", family = "poisson")
add("salamanders_agq3", "Salamanders", "count ~ spp + mined + (1|site)", "nAGQ = 3",
    family = "poisson", nagq = 3)
add("salamanders_nb", "Salamanders", "count ~ spp + mined + (1|site)", "glmmTMB vignette (nbinom2)",
    family = "negative_binomial")
add("owls_offset_formula", "Owls",
    "SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1|Nest)",
    "glmmTMB vignette; Zuur et al. 2009 ch. 13", family = "poisson")
add("owls_offset_arg", "Owls", "SiblingNegotiation ~ FoodTreatment + ArrivalTime + (1|Nest)",
    "Zuur et al. 2009 ch. 13, offset= argument", family = "poisson", offset = "logBroodSize")
add("owls_offset_arg_olre", "Owls", "SiblingNegotiation ~ FoodTreatment + ArrivalTime + (1|Nest) + (1|obs)",
    "Zuur et al. 2009 ch. 13, offset= argument", family = "poisson", offset = "logBroodSize",
    factors = "obs")
add("epil_period_singular", "epil", "y ~ lbase * trt + lage + V4 + (1|subject) + (1|period)",
    "boundary GLMM fit: zero variance", family = "poisson", factors = c("subject", "period"))
add("cbpp_period_singular", "cbpp", "cbind(incidence, size - incidence) ~ period + (1|herd) + (1|period)",
    "boundary GLMM fit: variance ~ 0", family = "binomial", factors = c("herd", "period"))
add("gamma_log", "gamma_sim", "y ~ x + (1|g)", "lme4 ?glmer Gamma (simulated)", family = "Gamma",
    link = "log", factors = "g")
add("inverse_gaussian_log", "gamma_sim", "y ~ x + (1|g)", "inverse Gaussian GLMM",
    family = "inverse.gaussian", link = "log", factors = "g")
add("chickweight_gaussian_log", "ChickWeight", "weight ~ Time + (1|Chick)",
    "glmer gaussian(link = 'log')", family = "gaussian", link = "log", factors = "Chick")
add("orthodont_gaussian_inverse", "Orthodont", "distance ~ age + Sex + (1|Subject)",
    "glmer gaussian(link = 'inverse'): two basins in theta", family = "gaussian", link = "inverse")
add("penicillin_gaussian_inverse", "Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)",
    "glmer gaussian(link = 'inverse'), crossed", family = "gaussian", link = "inverse")
add("gaussian_sim_log_slopes", "gaussian_sim", "y_log ~ x + (x|g)",
    "glmer gaussian(link = 'log'), correlated slopes (simulated)", family = "gaussian", link = "log")
add("gaussian_sim_inverse_weights", "gaussian_sim", "y_inv ~ x + (1|g)",
    "glmer gaussian(link = 'inverse') with weights= (simulated)", family = "gaussian",
    link = "inverse", weights = "w")

## ---- fitting --------------------------------------------------------------------------------
c_sorted <- function(x) sort(unique(x), method = "radix")
load_case <- function(case) {
  d <- read.csv(file.path(out, paste0(case$data, ".csv")), stringsAsFactors = FALSE)
  for (col in names(d)) if (is.character(d[[col]])) d[[col]] <- factor(d[[col]], levels = c_sorted(d[[col]]))
  for (col in case$factors) {
    x <- as.character(d[[col]])
    d[[col]] <- factor(x, levels = c_sorted(x))
  }
  d
}

r_family <- function(case) {
  fam <- switch(case$family, binomial = binomial, poisson = poisson, Gamma = Gamma,
                inverse.gaussian = inverse.gaussian, gaussian = gaussian)
  if (is.null(case$link)) fam() else fam(link = case$link)
}

r_contrasts <- function(case) {
  if (is.null(case$contrasts)) return(NULL)
  lapply(case$contrasts, function(name) switch(name, poly = contr.poly, sum = contr.sum,
         helmert = contr.helmert, treatment = contr.treatment, sdif = MASS::contr.sdif))
}

fit_lme4 <- function(case, d, optimizer = NULL, tight = FALSE, devfun_only = FALSE) {
  args <- list(formula = as.formula(case$formula), data = d)
  if (!is.null(case$subset)) args$subset <- with(d, eval(parse(text = case$subset)))
  if (!is.null(case$contrasts)) args$contrasts <- r_contrasts(case)
  lmm <- case$family == "gaussian" && is.null(case$link)
  ctrl <- list()
  if (!is.null(optimizer)) {
    ctrl <- if (optimizer == "nloptwrap") {
      list(optimizer = "nloptwrap", optCtrl = list(xtol_abs = 1e-10, ftol_abs = 1e-12, maxeval = 1e5))
    } else list(optimizer = optimizer, optCtrl = list(maxfun = 1e5))
  }
  if (tight) ctrl$tolPwrss <- 1e-12  # PIRLS converged: a smooth deviance
  if (length(ctrl)) args$control <- do.call(if (lmm) lmerControl else glmerControl, ctrl)
  if (!is.null(case$weights)) args$weights <- d[[case$weights]]
  if (!is.null(case$offset)) args$offset <- d[[case$offset]]
  if (lmm) {
    args$REML <- case$reml
    return(do.call(lmer, args))
  }
  if (case$family == "negative_binomial") return(do.call(glmer.nb, args))
  args$family <- r_family(case)
  if (!is.null(case$nagq)) args$nAGQ <- case$nagq
  if (devfun_only) args$devFunOnly <- TRUE  # the deviance of (theta, beta), as glmer's stage 2
  do.call(glmer, args)
}

fit_tmb <- function(case, d, m) {
  if (!is.null(case$subset)) d <- d[with(d, eval(parse(text = case$subset))), , drop = FALSE]
  args <- list(formula = lme4::expandDoubleVerts(as.formula(case$formula)), data = d)
  if (!is.null(case$contrasts)) args$contrasts <- r_contrasts(case)
  if (!is.null(case$weights)) args$weights <- d[[case$weights]]
  if (!is.null(case$offset)) args$offset <- d[[case$offset]]
  if (case$family == "negative_binomial") {
    args$family <- nbinom2   # dispersion fixed at glmer.nb's theta: SEs conditional on it, as lme4's
    args$start <- list(betad = log(getME(m, "glmer.nb.theta")))
    args$map <- list(betad = factor(NA))
  } else {
    args$family <- r_family(case)
  }
  do.call(glmmTMB, args)
}

named <- function(x) as.list(setNames(as.numeric(x), names(x)))

result_of <- function(case, m, notes, seconds) {
  lmm <- isLMM(m)
  obj <- if (lmm) (if (isREML(m)) REMLcrit(m) else deviance(m)) else -2 * as.numeric(logLik(m))
  vc <- as.data.frame(VarCorr(m))
  rows <- lapply(seq_len(nrow(vc)), function(i)
    list(grp = vc$grp[i], var1 = if (is.na(vc$var1[i])) NULL else vc$var1[i],
         var2 = if (is.na(vc$var2[i])) NULL else vc$var2[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
  fam <- family(m)
  res <- list(id = case$id, family = if (lmm) "gaussian" else fam$family, link = fam$link,
              nobs = nobs(m), logLik = as.numeric(logLik(m)), AIC = AIC(m), BIC = BIC(m),
              objective = obj, sigma = sigma(m), theta = I(unname(getME(m, "theta"))),
              fixef = named(fixef(m)), se = named(sqrt(diag(as.matrix(vcov(m))))),
              varcorr = rows, ngrps = as.list(ngrps(m)), singular = isSingular(m),
              warnings = I(unique(notes)), seconds_median = seconds)
  if (case$family == "negative_binomial") res$nb_theta <- getME(m, "glmer.nb.theta")
  res
}

add_tmb_se <- function(case, d, m, res) {
  if (isLMM(m) || !is.null(case$nagq) && case$nagq > 1) return(res)
  if (!case$family %in% c("binomial", "poisson", "negative_binomial")) return(res)
  if (length(case$separated)) return(add_separated_se(case, d, m, res))
  mt <- tryCatch(suppressWarnings(fit_tmb(case, d, m)), error = function(e) NULL)
  if (is.null(mt)) return(res)
  b_tmb <- fixef(mt)$cond
  se_tmb <- sqrt(diag(vcov(mt)$cond))
  b <- fixef(m)
  se <- sqrt(diag(as.matrix(vcov(m))))
  res$se_tmb <- named(se_tmb)
  res$objective_tmb <- -2 * as.numeric(logLik(mt))
  agree <- all(abs(b_tmb - b) <= 1e-3 * pmax(abs(b), 1e-2)) && isTRUE(mt$sdr$pdHess)
  if (agree && any(abs(se_tmb / se - 1) > 1e-3)) {
    res$se_lme4 <- res$se
    res$se <- named(se_tmb)
    res$se_source <- "glmmTMB 1.1.5 (AD Hessian)"
  }
  res
}

## Separation: the separated columns' estimates diverge, and as they do the rows those columns pick
## out (fitted means 0 or 1) stop carrying information, so every other estimate and its standard
## error converge to those of the limit fit: the data without those rows, without those columns.
## lme4's finite-difference SEs of the other columns are off by ~1% (its PIRLS tolerance; with
## tolPwrss = 1e-12 its Hessian is singular and vcov falls back on RX); glmmTMB's AD Hessian gives
## the limit. `se` holds glmmTMB's, checked to equal the limit fit's (`se_limit`) to 1e-5.
add_separated_se <- function(case, d, m, res) {
  if (!is.null(case$subset)) d <- d[with(d, eval(parse(text = case$subset))), , drop = FALSE]
  X <- getME(m, "X")
  stopifnot(nrow(X) == nrow(d))
  dropped <- rowSums(abs(X[, case$separated, drop = FALSE])) > 0
  plain <- case[setdiff(names(case), "subset")]
  mt <- suppressWarnings(fit_tmb(plain, d, m))
  limit <- fit_tmb(plain, droplevels(d[!dropped, , drop = FALSE]), m)
  keep <- setdiff(colnames(X), case$separated)
  se_tmb <- sqrt(diag(vcov(mt)$cond))
  se_limit <- sqrt(diag(vcov(limit)$cond))
  stopifnot(setequal(names(se_limit), keep), isTRUE(limit$sdr$pdHess),
            all(abs(se_tmb[keep] / se_limit[keep] - 1) < 1e-5),
            all(abs(fixef(mt)$cond[keep] - fixef(m)[keep]) <= 1e-3 * pmax(abs(fixef(m)[keep]), 1e-2)))
  res$se_tmb <- named(se_tmb)
  res$objective_tmb <- -2 * as.numeric(logLik(mt))
  res$se_limit <- named(se_limit[keep])
  res$objective_limit <- -2 * as.numeric(logLik(limit))
  res$se_lme4 <- res$se
  res$se <- named(se_tmb)
  res$se_source <- "glmmTMB 1.1.5 (AD Hessian; the non-separated columns' are the limit fit's)"
  res
}

## Gaussian-with-link fits: lme4's SEs come from finite differences with steps of 1e-4 in the raw
## parameters, coarse where theta and beta are ~1e-3 (the inverse link): Orthodont's age SE is
## then 0.2% off. numDeriv's Richardson extrapolation (relative steps) of the same deviance
## function at the same optimum converges; its SEs replace lme4's where they differ by > 1e-3.
add_numderiv_se <- function(case, d, m, res) {
  if (case$family != "gaussian" || is.null(case$link)) return(res)
  devfun <- fit_lme4(case, d, tight = TRUE, devfun_only = TRUE)
  x <- c(getME(m, "theta"), fixef(m))
  H <- numDeriv::hessian(devfun, x)
  beta <- -seq_along(getME(m, "theta"))
  se <- sqrt(diag(2 * solve(H))[beta])
  names(se) <- names(fixef(m))
  res$se_numderiv <- named(se)
  lme4_se <- unlist(res$se)
  if (any(abs(se / lme4_se - 1) > 1e-3)) {
    res$se_lme4 <- res$se
    res$se <- named(se)
    res$se_source <- "numDeriv::hessian of lme4's deviance function (Richardson)"
  }
  res
}

crit <- function(fit) {
  if (isLMM(fit)) (if (isREML(fit)) REMLcrit(fit) else deviance(fit)) else -2 * as.numeric(logLik(fit))
}

## lme4 stops PIRLS at tolPwrss = 1e-7: its GLMM deviance is then slightly noisy, the optimizer
## may stop short (observation-level effects: 0.02 above the optimum) and the finite-difference
## Hessian can be far off (Owls with an observation-level effect: SEs 1000 times too small).
## The reference of a GLMM is therefore lme4's refit with tolPwrss = 1e-12 unless it is worse by
## more than 1e-5 relative (the default fit's objective is itself off by up to ~4e-6: lme4 takes the
## log-determinant at the weights of the previous PIRLS iteration; inverse Gaussian: 0.0046 low).
## When lme4 doubted its optimum (a convergence warning; a separated case), the tight refit is made
## with each of bobyqa, Nelder-Mead and nloptwrap as well, and the lowest objective is kept: the
## default optimizer's Nelder-Mead stage can stop short of a boundary optimum (Salamanders with a
## random slope: correlation -0.9999994, 3e-5 above the singular fit bobyqa reaches).
tight_refit <- function(case, d, m, doubted) {
  if (isLMM(m) || case$family == "negative_binomial") return(NULL)
  best <- NULL
  for (opt in c(list(NULL), if (doubted) list("bobyqa", "Nelder_Mead", "nloptwrap"))) {
    mt <- tryCatch(suppressMessages(suppressWarnings(fit_lme4(case, d, opt, tight = TRUE))),
                   error = function(e) NULL)
    if (!is.null(mt) && (is.null(best) || crit(mt) < crit(best$fit) - 1e-9 * abs(crit(best$fit))))
      best <- list(fit = mt, optimizer = opt)
  }
  if (is.null(best) || crit(best$fit) > crit(m) + 1e-5 * abs(crit(m))) return(NULL)
  best
}

only <- commandArgs(trailingOnly = TRUE)
stopifnot(all(only %in% vapply(cases, `[[`, "", "id")))
results <- list()
for (case in cases) {
  if (length(only) && !case$id %in% only) next
  d <- load_case(case)
  notes <- character()
  t0 <- proc.time()[["elapsed"]]
  m <- withCallingHandlers(fit_lme4(case, d),
    warning = function(w) { notes <<- c(notes, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(w) { notes <<- c(notes, trimws(conditionMessage(w))); invokeRestart("muffleMessage") })
  seconds <- proc.time()[["elapsed"]] - t0
  refit <- NULL
  doubted <- any(grepl("failed to converge|unidentifiable", notes))
  if (doubted && !length(case$separated)) {
    ## lme4 itself doubted its optimum: refit with other optimizers and keep the lowest objective
    for (opt in c("bobyqa", "Nelder_Mead", "nloptwrap")) {
      m2 <- tryCatch(suppressMessages(suppressWarnings(fit_lme4(case, d, opt))), error = function(e) NULL)
      if (!is.null(m2) && crit(m2) < crit(m) - 1e-9 * abs(crit(m))) {
        refit <- sprintf("lme4 refit with %s: objective %.10g below the default fit's %.10g", opt, crit(m2), crit(m))
        m <- m2
      }
    }
  }
  default <- list(objective = crit(m), se = named(sqrt(diag(as.matrix(vcov(m))))))
  tight <- tight_refit(case, d, m, doubted)
  if (!is.null(tight)) {
    how <- if (is.null(tight$optimizer)) "" else paste(" and", tight$optimizer)
    refit <- c(refit, sprintf("lme4 refit with tolPwrss = 1e-12%s (objective %.10g; default fit %.10g)",
                              how, crit(tight$fit), crit(m)))
    m <- tight$fit
  }
  res <- add_numderiv_se(case, d, m, add_tmb_se(case, d, m, result_of(case, m, notes, seconds)))
  if (!is.null(refit)) {
    res$reference_fit <- paste(refit, collapse = "; ")
    res$objective_default <- default$objective
    res$se_lme4_default <- default$se
  }
  results[[length(results) + 1]] <- res
  cat(sprintf("%-28s %10.4f singular=%d warnings=%d %s\n", case$id, res$objective, res$singular,
              length(notes), if (is.null(res$se_source)) "" else paste("se <-", res$se_source)))
}

if (length(only)) {  # keep the other cases' results of the last full run
  kept <- fromJSON(file.path(out, "lme4.json"), simplifyVector = FALSE)
  ids <- vapply(cases, `[[`, "", "id")
  by_id <- c(setNames(results, vapply(results, `[[`, "", "id")),  # the new ones first
             setNames(kept, vapply(kept, `[[`, "", "id")))
  results <- lapply(unname(by_id[intersect(ids, names(by_id))]), function(r) {
    r$theta <- I(as.numeric(unlist(r$theta)))          # vectors, as result_of writes them
    r$warnings <- I(as.character(unlist(r$warnings)))
    r
  })
}
write(toJSON(cases, auto_unbox = TRUE, pretty = TRUE, digits = NA), file.path(out, "cases.json"))
write(toJSON(results, auto_unbox = TRUE, pretty = TRUE, digits = NA, na = "null", null = "null"),
      file.path(out, "lme4.json"))
