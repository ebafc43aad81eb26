# Separated binomial GLMMs (lme4 1.1-31, R 4.2).
# Run from tests/models/data:  Rscript r/glmm_separation.R
# Writes glmm_separation.csv (simulated data) and glmm_separation.json (lme4's results).
library(lme4)
library(jsonlite)

set.seed(7)
ng <- 12
per <- 10
g <- factor(rep(sprintf("g%02d", 1:ng), each = per))
n <- length(g)
b <- rnorm(ng, sd = 0.8)
x <- round(rnorm(n), 3)
y <- rbinom(n, 1, plogis(0.2 + 0.8 * x + b[g]))
f <- factor(sample(c("a", "b", "c"), n, replace = TRUE))
s <- round(rnorm(n), 3)
yc <- as.integer(s > 0)            # complete separation by s
yq <- ifelse(f == "c", 1L, y)      # quasi-complete separation: level "c" always 1
d <- data.frame(g, x, y, f, s, yc, yq)
write.csv(d, "glmm_separation.csv", row.names = FALSE)
d <- read.csv("glmm_separation.csv")

m <- glmer(yq ~ x + f + (1 | g), d, family = binomial)
complete <- tryCatch(glmer(yc ~ s + (1 | g), d, family = binomial),
                     error = function(e) conditionMessage(e))
out <- list(
  quasi = list(formula = "yq ~ x + f + (1 | g)", objective = -2 * as.numeric(logLik(m)),
               theta = unname(getME(m, "theta")), fixef = unname(fixef(m)),
               names = names(fixef(m)), se = unname(sqrt(diag(as.matrix(vcov(m))))),
               warnings = m@optinfo$conv$lme4$messages),
  complete = list(formula = "yc ~ s + (1 | g)",
                  lme4 = if (is.character(complete)) complete else "fitted"))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "glmm_separation.json")
