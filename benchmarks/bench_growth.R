# Child process of bench_growth.py: time one R engine (lme4 or glmmTMB) on one data set.
# Arguments: engine, data CSV, tiny warm-up CSV, repeats, REML (TRUE/FALSE), formula.
# Prints BENCH_* lines; memory from /proc/self/status (VmHWM: peak resident set, KiB).
args <- commandArgs(trailingOnly = TRUE)
engine <- args[[1]]; csv <- args[[2]]; tiny <- args[[3]]
repeats <- as.integer(args[[4]]); reml <- as.logical(args[[5]]); form <- as.formula(args[[6]])
status_kib <- function(key) {
  line <- grep(paste0("^", key, ":"), readLines("/proc/self/status"), value = TRUE)
  if (length(line) == 0) return(NA_real_)
  as.numeric(strsplit(trimws(sub(paste0(key, ":"), "", line)), " +")[[1]][[1]])
}
suppressPackageStartupMessages(library(engine, character.only = TRUE))
read_data <- function(path) {
  d <- if (requireNamespace("data.table", quietly = TRUE)) {
    data.table::fread(path, data.table = FALSE)
  } else read.csv(path)
  d$g1 <- factor(d$g1); d$g2 <- factor(d$g2); d
}
fit <- function(d) suppressMessages(suppressWarnings(
  if (engine == "lme4") lmer(form, data = d, REML = reml) else glmmTMB(form, data = d, REML = reml)
))
invisible(fit(read_data(tiny)))
invisible(gc())
before <- status_kib("VmRSS")
dat <- read_data(csv)
data_kib <- status_kib("VmRSS") - before
times <- numeric(0); cpu <- numeric(0)
cpu_now <- function() sum(proc.time()[c("user.self", "sys.self")])
for (i in seq_len(repeats)) {
  t0 <- Sys.time(); c0 <- cpu_now(); m <- fit(dat)
  times <- c(times, as.numeric(difftime(Sys.time(), t0, units = "secs")))
  cpu <- c(cpu, cpu_now() - c0)
}
if (engine == "lme4") {
  feval <- m@optinfo$feval
  info <- paste(c(m@optinfo$conv$lme4$messages, unlist(m@optinfo$warnings)), collapse = "; ")
} else {
  feval <- m$fit$evaluations[["function"]]
  info <- sprintf("convergence=%d pdHess=%s", m$fit$convergence, m$sdr$pdHess)
}
cat("BENCH_TIMES", sprintf("%.6f", times), "\n")
cat("BENCH_CPU", sprintf("%.6f", cpu), "\n")
cat("BENCH_FEVAL", feval, "\n")
cat("BENCH_LOGLIK", sprintf("%.10f", as.numeric(logLik(m))), "\n")
cat("BENCH_PEAK_KIB", status_kib("VmHWM"), "\n")
cat("BENCH_DATA_KIB", data_kib, "\n")
cat("BENCH_LOADED_KIB", before + data_kib, "\n")
cat("BENCH_INFO", info, "\n")
