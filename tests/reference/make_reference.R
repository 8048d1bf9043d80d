# R reference values for tests/analytics: run on the synthetic cohorts written by make_cohorts.py.
#   Rscript tests/reference/make_reference.R tests/fixtures/analytics
# Needs only Debian's r-base-core, r-cran-survival, r-cran-cmprsk. Writes <cohort>.json next to
# each <cohort>.csv, every number with 17 significant digits (%.17g), NA / non-finite as null.
suppressPackageStartupMessages({library(survival); library(cmprsk)})

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[1] else "tests/fixtures/analytics"

# --- a minimal JSON writer: I(x) marks an array, a named list an object -----------------
num <- function(x) ifelse(is.finite(x), sprintf("%.17g", x), "null")
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    body <- vapply(x, to_json, "")
    if (!is.null(names(x))) return(paste0("{", paste0('"', names(x), '": ', body, collapse = ", "), "}"))
    return(paste0("[", paste(body, collapse = ", "), "]"))
  }
  vals <- if (is.character(x)) ifelse(is.na(x), "null", paste0('"', x, '"'))
          else if (is.logical(x)) ifelse(is.na(x), "null", ifelse(x, "true", "false"))
          else num(as.numeric(x))
  if (inherits(x, "AsIs") || length(x) != 1) paste0("[", paste(vals, collapse = ", "), "]") else vals
}

# --- analyses ----------------------------------------------------------------------------
km_json <- function(time, event) {
  f <- survfit(Surv(time, event) ~ 1)
  list(time = I(f$time), n_risk = I(f$n.risk), n_event = I(f$n.event), surv = I(f$surv),
       std_err = I(f$std.err), lower = I(f$lower), upper = I(f$upper))
}
fit_cox <- function(formula, d) {
  # coxph warns when a coefficient may be infinite (e.g. a group without events): keep the warning.
  warned <- character()
  fit <- withCallingHandlers(coxph(formula, data = d, ties = "efron"),
                             warning = function(w) { warned <<- c(warned, conditionMessage(w)); invokeRestart("muffleWarning") })
  fit$warnings <- warned
  fit
}
cox_json <- function(fit) {
  s <- summary(fit)$coefficients
  ci <- exp(confint(fit))
  terms <- lapply(rownames(s), function(t) list(
    coef = s[t, "coef"], se = s[t, "se(coef)"], hr = s[t, "exp(coef)"],
    ci_lower = ci[t, 1], ci_upper = ci[t, 2], p = s[t, "Pr(>|z|)"]))
  names(terms) <- rownames(s)
  list(terms = terms, loglik = I(fit$loglik), n = fit$n, nevent = fit$nevent, iter = fit$iter,
       warnings = I(fit$warnings))
}
zph_json <- function(fit) {
  z <- cox.zph(fit)$table
  rows <- lapply(rownames(z), function(t) list(chisq = z[t, "chisq"], df = z[t, "df"], p = z[t, "p"]))
  names(rows) <- rownames(z)
  rows
}
endpoint_json <- function(d, ep, covariates, non_fatal) {
  time <- d[[paste0(ep, "_days")]]
  status <- d[[paste0(ep, "_status")]]
  d$time <- time
  d$event <- status == 1
  out <- list(km = lapply(split(seq_len(nrow(d)), d$group), function(i) km_json(time[i], d$event[i])))
  lr <- survdiff(Surv(time, event) ~ group, data = d)
  out$logrank <- list(chisq = lr$chisq, p = pchisq(lr$chisq, length(lr$n) - 1, lower.tail = FALSE))
  lrq <- survdiff(Surv(time, event) ~ quartile, data = d)
  out$logrank_quartiles <- list(chisq = lrq$chisq, p = pchisq(lrq$chisq, length(lrq$n) - 1, lower.tail = FALSE))
  uni <- list(ics_high = fit_cox(Surv(time, event) ~ ics_high, d),
              ics_per_100 = fit_cox(Surv(time, event) ~ ics_per_100, d))
  out$cox_uni <- lapply(uni, cox_json)
  rhs <- paste(covariates, collapse = " + ")
  multi_group <- fit_cox(as.formula(paste("Surv(time, event) ~ ics_high +", rhs)), d)
  multi_cont <- fit_cox(as.formula(paste("Surv(time, event) ~ ics_per_100 +", rhs)), d)
  out$cox_multi_group <- cox_json(multi_group)
  out$cox_multi_continuous <- cox_json(multi_cont)
  out$zph_multi_continuous <- zph_json(multi_cont)
  out$zph_multi_group <- zph_json(multi_group)
  out$concordance_multi_continuous <- concordance(multi_cont)$concordance
  out$concordance_uni_continuous <- concordance(uni$ics_per_100)$concordance
  if (non_fatal) {
    ci <- cuminc(time, status, d$group, cencode = 0)
    cif <- list()
    for (g in sort(unique(d$group))) {
      times <- sort(unique(time[d$group == g]))
      cif[[g]] <- list(time = I(times), cif = I(as.numeric(timepoints(ci[paste(g, 1)], times)$est)))
    }
    out$cif <- cif
    out$gray <- list(statistic = ci$Tests["1", "stat"], p = ci$Tests["1", "pv"], df = ci$Tests["1", "df"])
    ciq <- cuminc(time, status, d$quartile, cencode = 0)
    out$gray_quartiles <- list(statistic = ciq$Tests["1", "stat"], p = ciq$Tests["1", "pv"], df = ciq$Tests["1", "df"])
  }
  out
}

continuous_json <- function(x, g) {
  keep <- !is.na(x)
  x <- x[keep]; g <- g[keep]
  describe <- function(v) list(n = length(v), mean = mean(v), sd = sd(v), median = median(v),
                               q1 = unname(quantile(v, 0.25, type = 7)), q3 = unname(quantile(v, 0.75, type = 7)),
                               shapiro_p = if (length(v) >= 3 && length(v) <= 5000) shapiro.test(v)$p.value else NA)
  by_group <- lapply(split(x, g), describe)
  list(overall = describe(x), by_group = by_group,
       t_p = t.test(x ~ g, var.equal = TRUE)$p.value,
       wilcox_p = wilcox.test(x ~ g, exact = FALSE, correct = TRUE)$p.value)
}
categorical_json <- function(x, g) {
  keep <- !is.na(x)
  tab <- table(x[keep], g[keep])
  counts <- lapply(colnames(tab), function(k) I(as.numeric(tab[, k])))
  names(counts) <- colnames(tab)
  res <- list(levels = I(rownames(tab)), counts = counts, n = sum(tab))
  if (nrow(tab) >= 2) {
    chi <- suppressWarnings(chisq.test(tab, correct = FALSE))
    res$chisq <- unname(chi$statistic); res$chisq_p <- chi$p.value; res$min_expected <- min(chi$expected)
    if (all(dim(tab) == 2)) res$fisher_p <- fisher.test(tab)$p.value
  }
  res
}
table2_vars <- c("male", "age_at_index", "hypertension", "hypercholesterolemia", "diabetes", "family_history",
                 "smoking", "prior_mi", "prior_pci", "prior_cabg", "prior_stroke", "prior_pad", "egfr", "acs",
                 "study_vessel_lad")
lm_json <- function(fit) {
  s <- summary(fit)$coefficients
  ci <- confint(fit)
  terms <- rownames(s)[-1]
  rows <- lapply(terms, function(t) list(beta = s[t, 1], se = s[t, 2], ci_lower = ci[t, 1], ci_upper = ci[t, 2], p = s[t, 4]))
  names(rows) <- terms
  rows
}
table2_json <- function(d) {
  d$sqrt_ics <- sqrt(d$ics)
  uni <- lapply(table2_vars, function(v) lm_json(lm(as.formula(paste("sqrt_ics ~", v)), data = d))[[v]])
  names(uni) <- table2_vars
  p <- vapply(uni, function(r) r$p, 0)
  chosen <- table2_vars[p < 0.1]
  multi <- if (length(chosen)) lm_json(lm(as.formula(paste("sqrt_ics ~", paste(chosen, collapse = " + "))), data = d)) else list()
  list(univariable = uni, selected = I(chosen), multivariable = multi)
}

cohort_json <- function(name, cutoff, fatal, non_fatal, covariates) {
  d <- read.csv(file.path(dir, paste0(name, ".csv")), na.strings = c("", "NA"), stringsAsFactors = FALSE)
  d <- d[!is.na(d$ics), ]
  cut <- if (cutoff == "median") median(d$ics) else as.numeric(cutoff)
  d$ics_high <- as.integer(d$ics >= cut)
  d$ics_per_100 <- d$ics / 100
  d$group <- ifelse(d$ics_high == 1, "high", "low")
  d$quartile <- paste0("q", findInterval(d$ics, quantile(d$ics, c(0.25, 0.5, 0.75), type = 7)) + 1)
  d$male <- as.integer(d$sex == "M")
  d$study_vessel_lad <- as.integer(d$study_vessel == "LAD")
  t1 <- list()
  for (v in c("age_at_index", "egfr")) t1[[v]] <- continuous_json(d[[v]], d$group)
  for (v in c("male", "hypertension", "hypercholesterolemia", "statin", "diabetes", "family_history", "smoking",
              "prior_mi", "prior_pci", "prior_cabg", "prior_stroke", "prior_pad", "renal_impairment", "acs",
              "vessel_revascularized", "index_treatment", "study_vessel"))
    t1[[v]] <- categorical_json(d[[v]], d$group)
  endpoints <- list()
  endpoints[[fatal]] <- endpoint_json(d, fatal, covariates, FALSE)
  endpoints[[non_fatal]] <- endpoint_json(d, non_fatal, covariates, TRUE)
  list(n = nrow(d), cutoff = cut, quartile_cuts = I(unname(quantile(d$ics, c(0.25, 0.5, 0.75), type = 7))),
       table1 = t1, table2 = table2_json(d), endpoints = endpoints)
}

manifest <- read.csv(file.path(dir, "cohorts.csv"), stringsAsFactors = FALSE)
for (i in seq_len(nrow(manifest))) {
  m <- manifest[i, ]
  res <- cohort_json(m$name, m$cutoff, m$fatal, m$non_fatal, strsplit(m$covariates, ";")[[1]])
  res$versions <- list(R = R.version.string, survival = as.character(packageVersion("survival")),
                       cmprsk = as.character(packageVersion("cmprsk")))
  writeLines(to_json(res), file.path(dir, paste0(m$name, ".json")))
  cat("wrote", file.path(dir, paste0(m$name, ".json")), "\n")
}
