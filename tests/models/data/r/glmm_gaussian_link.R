# glmer with gaussian(link = "log" | "inverse") (lme4 1.1-31, R 4.2): what the fit reports beyond
# the parity set (tests/data/parity, whose CSVs these fits read): summary() lines, fitted and
# predicted means, residuals, logLik / AIC / BIC / df.resid; and glm's fit of the same family.
# Run from tests/models/data:  Rscript r/glmm_gaussian_link.R   (writes glmm_gaussian_link.json)
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
parity <- "../../data/parity"
read_parity <- function(name) {
  d <- read.csv(file.path(parity, paste0(name, ".csv")), stringsAsFactors = FALSE)
  for (col in names(d)) if (is.character(d[[col]])) d[[col]] <- factor(d[[col]], levels = sort(unique(d[[col]]), method = "radix"))
  d
}
section <- function(lines, title) {  # the lines after `title` up to the next blank one
  start <- match(title, lines) + 1
  end <- start + match("", lines[start:length(lines)]) - 2
  lines[start:end]
}
report <- function(m, formula, data, link, weights, newdata) {
  ctl <- capture.output(print(summary(m)))
  list(formula = formula, data = data, link = link, weights = weights,
       family_line = grep("^ Family:", ctl, value = TRUE),
       criteria = section(ctl, ""),
       random = section(ctl, "Random effects:"),
       fixed_header = section(ctl, "Fixed effects:")[1],
       logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"), AIC = AIC(m), BIC = BIC(m),
       df_resid = df.residual(m), sigma = sigma(m),
       fitted = unname(head(fitted(m), 6)),
       predict_link = unname(head(predict(m), 6)),
       pearson = unname(head(residuals(m, "pearson"), 6)),
       deviance_resid = unname(head(residuals(m, "deviance"), 6)),
       newdata = newdata,
       predict_new_response = unname(predict(m, newdata = newdata, re.form = NA, type = "response")))
}
ctrl <- glmerControl(tolPwrss = 1e-12)
chick <- read_parity("ChickWeight")
chick$Chick <- factor(as.character(chick$Chick), levels = sort(unique(as.character(chick$Chick)), method = "radix"))
m1 <- glmer(weight ~ Time + (1 | Chick), chick, family = gaussian(link = "log"), control = ctrl)
sim <- read_parity("gaussian_sim")
m2 <- glmer(y_inv ~ x + (1 | g), sim, family = gaussian(link = "inverse"), weights = w, control = ctrl)
g <- glm(weight ~ Time, gaussian(link = "log"), chick)
glm_ref <- list(formula = "weight ~ Time", data = "ChickWeight", link = "log",
                coef = unname(coef(g)), se = unname(sqrt(diag(vcov(g)))),
                logLik = as.numeric(logLik(g)), AIC = AIC(g), sigma = sigma(g),
                dispersion = summary(g)$dispersion)
out <- list(
  chickweight_log = report(m1, "weight ~ Time + (1|Chick)", "ChickWeight", "log", NULL,
                           data.frame(Time = c(0, 10, 21))),
  sim_inverse_weights = report(m2, "y_inv ~ x + (1|g)", "gaussian_sim", "inverse", "w",
                               data.frame(x = c(0, 1, 2))),
  glm = glm_ref)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"),
           "glmm_gaussian_link.json")
