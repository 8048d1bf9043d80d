# R reference values for analytics/fine_gray.py: cmprsk::crr (Fine-Gray subdistribution hazards)
# on the synthetic cohorts written by make_cohorts.py.
#   Rscript tests/reference/make_finegray_reference.R tests/fixtures/analytics
# Writes finegray.json: per cohort, endpoint and model the coefficients, robust variance,
# log pseudo-likelihood and convergence, every number with 17 significant digits.
suppressPackageStartupMessages({library(survival); library(cmprsk)})

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[1] else "tests/fixtures/analytics"
num <- function(x) ifelse(is.finite(x), sprintf("%.17g", x), "null")
arr <- function(x) paste0("[", paste(num(as.numeric(x)), collapse = ", "), "]")

cohorts <- c("study_408", "ties_40", "small_group_90", "no_tvr_in_low_120", "missing_1500")
endpoints <- c("tvr", "mi", "revascularization", "stroke")
models <- list(
  ics_per_100 = c("ics_per_100"),
  adjusted = c("ics_per_100", "age_at_index", "acs", "egfr", "diabetes")
)
out <- character()
for (cohort in cohorts) {
  d <- read.csv(file.path(dir, paste0(cohort, ".csv")))
  d$ics_per_100 <- d$ics / 100
  for (ep in endpoints) {
    for (m in names(models)) {
      vars <- models[[m]]
      fit <- tryCatch(
        crr(d[[paste0(ep, "_days")]], d[[paste0(ep, "_status")]], as.matrix(d[, vars, drop = FALSE]),
            failcode = 1, cencode = 0),
        error = function(e) NULL)
      key <- paste(cohort, ep, m, sep = "/")
      if (is.null(fit)) { out <- c(out, sprintf('"%s": null', key)); next }
      out <- c(out, sprintf(
        '"%s": {"terms": [%s], "coef": %s, "var": %s, "loglik": %s, "converged": %s, "n": %d}',
        key, paste0('"', vars, '"', collapse = ", "), arr(fit$coef), arr(fit$var), num(fit$loglik),
        tolower(as.character(fit$converged)), fit$n))
    }
  }
}
writeLines(paste0("{\n", paste(out, collapse = ",\n"), "\n}"), file.path(dir, "finegray.json"))
