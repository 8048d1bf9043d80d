# R's numbers and warnings for the safeguards of issue 13, on edge cohorts cut from the synthetic
# fixture cohorts (make_cohorts.py) by a run_analysis spec each:
#   Rscript tests/reference/make_warnings_reference.R tests/fixtures/analytics
# Needs only Debian's r-base-core, r-cran-survival, r-cran-cmprsk. Writes warnings_<case>.json:
# the spec, and per model (named as the result's `model`) R's coefficients (NA as null), loglik,
# iterations, the warnings coxph emits (caught with withCallingHandlers) and the variables they
# name; every number with 17 significant digits (%.17g).
suppressPackageStartupMessages({library(survival); library(cmprsk)})

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[1] else "tests/fixtures/analytics"
covariates <- c("age_at_index", "acs", "egfr", "diabetes", "prior_cabg")  # run_analysis's default

# --- the same minimal JSON writer as make_reference.R -------------------------------------
num <- function(x) ifelse(is.finite(x), sprintf("%.17g", x), "null")
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    body <- vapply(x, to_json, "")
    if (!is.null(names(x))) return(paste0("{", paste0('"', names(x), '": ', body, collapse = ", "), "}"))
    return(paste0("[", paste(body, collapse = ", "), "]"))
  }
  vals <- if (is.character(x)) ifelse(is.na(x), "null", paste0('"', gsub('"', '\\\\"', x), '"'))
          else if (is.logical(x)) ifelse(is.na(x), "null", ifelse(x, "true", "false"))
          else num(as.numeric(x))
  if (inherits(x, "AsIs") || length(x) != 1) paste0("[", paste(vals, collapse = ", "), "]") else vals
}

# --- the cases: a base cohort and a spec (filters are field == value) ----------------------
cases <- list(
  # The issue's first finding: tertiles where the reference group t1 has no TVR: both group
  # coefficients run off to infinity (Cox and Fine-Gray).
  no_events_reference = list(base = "no_tvr_in_low_120", endpoint = "tvr", cutoff = "tertiles", filters = list()),
  # A middle group without events: only group_t2 is infinite.
  no_events_middle = list(base = "small_group_90", endpoint = "tvr", cutoff = "tertiles", filters = list()),
  # Women only: prior_cabg is 0 for all of them (a covariate constant within the subgroup).
  constant_in_subgroup = list(base = "small_group_90", endpoint = "poce", cutoff = "median",
                              filters = list(list(field = "sex", value = "F"))),
  # The subgroup "diabetes = yes" of a subgroup view by diabetes, diabetes being a covariate too;
  # split at the whole cohort's median ICS, as the subgroup panels are.
  single_level_subgroup = list(base = "study_408", endpoint = "poce", cutoff = "cohort_median",
                               filters = list(list(field = "diabetes", value = TRUE)), drop = "diabetes"),
  # ICS >= 88 nearly separates TVR: 1 event of 64 below, 13 of 56 above (large, finite HR).
  near_separable = list(base = "no_tvr_in_low_120", endpoint = "tvr", cutoff = 88, filters = list())
)

# --- fits --------------------------------------------------------------------------------
caught <- function(expr) {
  warned <- character()
  value <- withCallingHandlers(expr, warning = function(w) {
    warned <<- c(warned, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  list(value = value, warnings = warned)
}
# The variables a coxph warning names: "Loglik converged before variable  1,2 ; coefficient ...".
named_terms <- function(messages, terms) {
  hit <- grep("Loglik converged before variable", messages, value = TRUE)
  if (!length(hit)) return(character())
  k <- as.integer(strsplit(trimws(sub(".*variable (.*);.*", "\\1", hit[1])), ",")[[1]])
  terms[k]
}
cox_json <- function(d, terms, iter_max = 20) {
  f <- as.formula(paste("Surv(time, event) ~", paste(terms, collapse = " + ")))
  fit <- caught(coxph(f, data = d, ties = "efron", control = coxph.control(iter.max = iter_max)))
  m <- fit$value
  coef <- coef(m)
  se <- sqrt(diag(m$var))
  se[is.na(coef)] <- NA
  z <- qnorm(0.975)
  rows <- lapply(terms, function(t) list(
    coef = unname(coef[t]), se = unname(se[match(t, terms)]), hr = unname(exp(coef[t])),
    ci_lower = unname(exp(coef[t] - z * se[match(t, terms)])), ci_upper = unname(exp(coef[t] + z * se[match(t, terms)])),
    p = unname(2 * pnorm(-abs(coef[t] / se[match(t, terms)])))))
  names(rows) <- terms
  out <- list(terms = rows, loglik = I(m$loglik), n = m$n, nevent = m$nevent, iter = m$iter,
              warnings = I(fit$warnings), infinite_terms = I(named_terms(fit$warnings, terms)),
              na_terms = I(terms[is.na(coef)]))
  zph <- tryCatch(cox.zph(m)$table, error = function(e) NULL)
  if (!is.null(zph)) {
    z_rows <- lapply(rownames(zph), function(t) list(chisq = zph[t, "chisq"], p = zph[t, "p"]))
    names(z_rows) <- rownames(zph)
    out$zph <- z_rows
  }
  out$concordance <- concordance(m)$concordance
  out
}
crr_json <- function(d, terms) {
  fit <- caught(crr(d$time, d$status, as.matrix(d[, terms, drop = FALSE]), failcode = 1, cencode = 0))
  m <- fit$value
  se <- sqrt(diag(m$var))
  rows <- lapply(seq_along(terms), function(i) list(coef = m$coef[i], se = se[i]))
  names(rows) <- terms
  list(terms = rows, loglik = m$loglik, converged = m$converged, warnings = I(fit$warnings))
}

case_json <- function(case) {
  d <- read.csv(file.path(dir, paste0(case$base, ".csv")), na.strings = c("", "NA"), stringsAsFactors = FALSE)
  if (identical(case$cutoff, "cohort_median")) case$cutoff <- median(d$ics, na.rm = TRUE)
  for (f in case$filters) {
    value <- if (is.logical(f$value)) as.integer(f$value) else f$value
    d <- d[!is.na(d[[f$field]]) & d[[f$field]] == value, ]
  }
  d <- d[!is.na(d$ics), ]
  if (identical(case$cutoff, "tertiles")) {
    cuts <- unname(quantile(d$ics, c(1, 2) / 3, type = 7))
    keys <- c("t1", "t2", "t3")
  } else {
    cuts <- if (identical(case$cutoff, "median")) median(d$ics) else case$cutoff
    keys <- c("low", "high")
  }
  d$group <- keys[findInterval(d$ics, cuts) + 1]  # ICS >= cut-off is the upper group
  group_terms <- if (length(keys) == 2) "ics_high" else paste0("group_", keys[-1])
  for (i in seq_along(group_terms)) d[[group_terms[i]]] <- as.integer(d$group == keys[i + 1])
  d$ics_per_100 <- d$ics / 100
  d$time <- d[[paste0(case$endpoint, "_days")]]
  d$status <- d[[paste0(case$endpoint, "_status")]]
  d$event <- d$status == 1
  complete <- d[complete.cases(d[, covariates]), ]
  models <- list(
    cox_univariable_group = cox_json(d, group_terms),
    cox_univariable_continuous = cox_json(d, "ics_per_100"),
    cox_multivariable_group = cox_json(complete, c(group_terms, covariates)),
    cox_multivariable_continuous = cox_json(complete, c("ics_per_100", covariates))
  )
  if (!is.null(case$drop)) {  # the same models with the subgroup's own variable left out
    kept <- setdiff(covariates, case$drop)
    models$cox_multivariable_group_dropped <- cox_json(complete, c(group_terms, kept))
    models$cox_multivariable_continuous_dropped <- cox_json(complete, c("ics_per_100", kept))
    # Out of iterations (iter.max = 2 instead of 20): "Ran out of iterations and did not converge".
    models$cox_multivariable_continuous_dropped_iter_max_2 <- cox_json(complete, c("ics_per_100", kept), 2)
  }
  if (any(d$status == 2)) {  # a non-fatal endpoint with deaths competing: Fine-Gray
    models$fine_gray_group <- crr_json(d, group_terms)
    models$fine_gray_continuous <- crr_json(d, "ics_per_100")
  }
  events <- lapply(keys, function(k) sum(d$event[d$group == k]))
  names(events) <- keys
  filters <- lapply(case$filters, function(f) list(field = f$field, op = "eq", value = f$value))
  spec <- list(endpoint = case$endpoint,
               grouping = list(variable = "ics", cutoff = case$cutoff),
               cohort = list(filters = I(filters)))
  list(base = case$base, spec = spec, drop = case$drop, n = nrow(d), n_complete = nrow(complete),
       cutoffs = I(cuts), events = events, models = models)
}

for (name in names(cases)) {
  out <- case_json(cases[[name]])
  writeLines(to_json(out), file.path(dir, paste0("warnings_", name, ".json")))
  cat("wrote", file.path(dir, paste0("warnings_", name, ".json")), "\n")
}

# Not a cohort: 30 patients with two heavy-tailed (Cauchy) covariates on which coxph halves its
# Newton step 5 times before converging, to check that cox_ph retraces R's steps (the data go
# into the fixture; R's random numbers are not numpy's).
set.seed(281)
x <- matrix(rt(60, 1), 30)
d <- data.frame(time = round(rexp(30) * 1000), event = runif(30) < 0.7, x1 = x[, 1], x2 = x[, 2])
halving <- list(data = list(time = I(d$time), event = I(d$event), x1 = I(d$x1), x2 = I(d$x2)),
                model = cox_json(d, c("x1", "x2")))
writeLines(to_json(halving), file.path(dir, "warnings_step_halving.json"))
cat("wrote", file.path(dir, "warnings_step_halving.json"), "\n")
