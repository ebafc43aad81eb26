# Reference values of R's poly() (orthogonal and raw) and of lmer fits using R idioms
# (poly, I(x^2), factor). Run: Rscript tests/formula/data/r/poly.R  (from the repository root)
library(lme4)
library(jsonlite)
x <- c(1, 2, 3, 5, 8, 13, 21, 34, 2.5, 0.5)
xnew <- c(0, 4, 10, 40)
out <- list(x = x, xnew = xnew, poly = list(), predict = list())
for (k in 1:4) {
  p <- poly(x, k)
  out$poly[[as.character(k)]] <- unname(unclass(p)[, , drop = FALSE])
  out$predict[[as.character(k)]] <- unname(predict(p, xnew)[, , drop = FALSE])
}
out$raw3 <- unname(unclass(poly(x, 3, raw = TRUE))[, , drop = FALSE])
sleep <- read.csv("src/mixedmodels/datasets/data/sleepstudy.csv")
fits <- list(
  "Reaction ~ poly(Days, 2) + (1 | Subject)",
  "Reaction ~ poly(Days, 3, raw = TRUE) + (1 | Subject)",
  "Reaction ~ Days + I(Days^2) + (Days | Subject)",
  "Reaction ~ factor(Days) + (1 | Subject)",
  "log(Reaction) ~ sqrt(Days) + (1 | Subject)"
)
out$fits <- lapply(fits, function(f) {
  m <- lmer(as.formula(f), sleep, REML = TRUE)
  list(formula = f, fixef = unname(fixef(m)), objective = unname(REMLcrit(m)))
})
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/formula/data/poly.json")
