# Reference values for lmerTest's type II anova (Satterthwaite and Kenward-Roger).
# Run from the repository root: Rscript tests/data/r/anova_type2.R
# Writes tests/inference/data/anova_type2_sim.csv (simulated data) and
# tests/inference/data/anova_type2.json.
suppressMessages({library(lmerTest); library(pbkrtest); library(jsonlite)})
out_dir <- "tests/inference/data"

sleep <- read.csv("src/mixedmodels/datasets/data/sleepstudy.csv")
sleep$Subject <- factor(as.character(sleep$Subject))
# made-up factors: grp between subjects (from the Subject id), half within subjects
sleep$grp <- factor(c("a", "b", "c")[as.integer(as.character(sleep$Subject)) %% 3 + 1])
sleep$half <- factor(ifelse(sleep$Days < 5, "early", "late"))
unbal <- sleep[(seq_len(nrow(sleep)) - 1) %% 7 != 0, ]

# simulated: two crossed grouping factors, factors A (3 levels), B (2), C (4), numeric x
set.seed(20261202)
n <- 240
sim <- data.frame(
  g = sprintf("g%02d", sample(1:15, n, replace = TRUE)),
  h = sprintf("h%d", sample(1:6, n, replace = TRUE)),
  A = sample(c("a1", "a2", "a3"), n, replace = TRUE, prob = c(0.5, 0.3, 0.2)),
  B = sample(c("b1", "b2"), n, replace = TRUE, prob = c(0.6, 0.4)),
  C = sample(c("c1", "c2", "c3", "c4"), n, replace = TRUE),
  x = round(rnorm(n, 10, 3), 3)
)
ga <- rnorm(15, 0, 1.5); ha <- rnorm(6, 0, 1)
eff <- c(a1 = 0, a2 = 0.8, a3 = -0.5)[sim$A] + 0.6 * (sim$B == "b2") +
  0.3 * (sim$A == "a2" & sim$B == "b2") + 0.15 * sim$x + 0.1 * sim$x * (sim$A == "a3")
sim$y <- round(5 + eff + ga[as.integer(factor(sim$g))] + ha[as.integer(factor(sim$h))] +
  rnorm(n, 0, 1.2), 4)
write.csv(sim, file.path(out_dir, "anova_type2_sim.csv"), row.names = FALSE)
sim <- read.csv(file.path(out_dir, "anova_type2_sim.csv"), stringsAsFactors = TRUE)

# an empty cell (no A = a3 with C = c4): X is rank deficient and lme4 drops a column
gap <- sim[!(sim$A == "a3" & sim$C == "c4"), ]
datasets <- list(sleep = sleep, unbal = unbal, sim = sim, gap = gap)
cases <- list(
  sleep_grp = list(formula = "Reaction ~ Days * grp + (Days | Subject)", data = "sleep",
                   reml = TRUE),
  unbal_half = list(formula = "Reaction ~ Days * half + grp + (1 | Subject)",
                    data = "unbal", reml = FALSE),
  sleep_half = list(formula = "Reaction ~ Days * half + (Days | Subject)", data = "unbal",
                    reml = TRUE),
  sim_AB = list(formula = "y ~ A * B + x + (1 | g)", data = "sim", reml = TRUE),
  sim_Ax = list(formula = "y ~ A * x + B + (1 | g) + (1 | h)", data = "sim", reml = TRUE),
  sim_ABC = list(formula = "y ~ A * B * C + (1 | g)", data = "sim", reml = TRUE),
  sim_nested = list(formula = "y ~ A + A:B + x + (1 | g)", data = "sim", reml = TRUE),
  sim_noint = list(formula = "y ~ 0 + A * x + (1 | g)", data = "sim", reml = TRUE),
  gap_AC = list(formula = "y ~ A * C + x + (1 | g)", data = "gap", reml = TRUE)
)

table_of <- function(tab) {
  list(terms = rownames(tab), sum_sq = tab[["Sum Sq"]], mean_sq = tab[["Mean Sq"]],
       num_df = tab[["NumDF"]], den_df = tab[["DenDF"]], statistic = tab[["F value"]],
       p_value = tab[["Pr(>F)"]])
}

result <- list()
for (name in names(cases)) {
  case <- cases[[name]]
  m <- suppressMessages(
    lmer(as.formula(case$formula), datasets[[case$data]], REML = case$reml))
  s <- anova(m, type = 2)
  # Kenward-Roger needs a REML fit
  k <- if (case$reml) table_of(anova(m, type = 2, ddf = "Kenward-Roger")) else NULL
  hyp <- lapply(attr(s, "hypotheses"), function(L) unname(L))
  result[[name]] <- list(
    formula = case$formula, data = case$data, reml = case$reml,
    theta = unname(getME(m, "theta")), columns = colnames(model.matrix(m)),
    hypotheses = hyp, satterthwaite = table_of(s), `kenward-roger` = k
  )
}
info <- list(R = R.version.string, lmerTest = as.character(packageVersion("lmerTest")),
             pbkrtest = as.character(packageVersion("pbkrtest")),
             lme4 = as.character(packageVersion("lme4")))
writeLines(toJSON(list(info = info, cases = result), digits = NA, auto_unbox = TRUE,
                  pretty = TRUE, matrix = "rowmajor"),
           file.path(out_dir, "anova_type2.json"))
