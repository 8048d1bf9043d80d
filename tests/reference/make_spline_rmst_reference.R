# R reference values for the spline, RMST and subgroup-forest analyses of issue 13
# (tests/analytics/test_spline_rmst.py, tests/analytics/test_subgroups.py), on the committed synthetic
# cohorts of make_cohorts.py:
#   Rscript tests/reference/make_spline_rmst_reference.R tests/fixtures/analytics
# Needs only Debian's r-base-core and r-cran-survival (splines ships with R). Writes
# spline_<cohort>.json, rmst_<cohort>.json and subgroups_<cohort>.json next to <cohort>.csv, every
# number with 17 significant digits (%.17g), NA / non-finite as null.
suppressPackageStartupMessages({library(survival); library(splines)})

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[1] else "tests/fixtures/analytics"
covariates <- c("age_at_index", "acs", "egfr", "diabetes", "prior_cabg")

# --- the JSON writer of make_reference.R: I(x) marks an array, a named list an object -----------
num <- function(x) ifelse(is.finite(x), sprintf("%.17g", x), "null")
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.matrix(x)) return(to_json(lapply(seq_len(nrow(x)), function(i) I(x[i, ]))))
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

load_cohort <- function(name) {
  d <- read.csv(file.path(dir, paste0(name, ".csv")), na.strings = c("", "NA"), stringsAsFactors = FALSE)
  d <- d[!is.na(d$ics), ]
  d$ics_high <- as.integer(d$ics >= median(d$ics))
  d$ics_per_100 <- d$ics / 100
  d$group <- ifelse(d$ics_high == 1, "high", "low")
  d$quartile <- paste0("q", findInterval(d$ics, quantile(d$ics, c(0.25, 0.5, 0.75), type = 7)) + 1)
  d
}
with_endpoint <- function(d, ep) {
  d$time <- d[[paste0(ep, "_days")]]
  d$status <- d[[paste0(ep, "_status")]]
  d$event <- d$status == 1
  d
}
fit_cox <- function(formula, d) {
  # coxph's warnings ("coefficient may be infinite", "did not converge") are kept, not printed.
  warned <- character()
  fit <- withCallingHandlers(coxph(formula, data = d, ties = "efron"),
                             warning = function(w) { warned <<- c(warned, conditionMessage(w)); invokeRestart("muffleWarning") })
  fit$warnings <- warned
  fit
}

# --- spline: coxph(Surv ~ ns(ics, df) + covariates) on the complete cases ---------------------
spline_json <- function(d, ep, df, ref, covs) {
  d <- with_endpoint(d, ep)
  d <- d[complete.cases(d[, c("ics", covs), drop = FALSE]), ]
  basis <- ns(d$ics, df = df)
  rhs <- paste(c(sprintf("ns(ics, df = %d)", df), covs), collapse = " + ")
  fit <- fit_cox(as.formula(paste("Surv(time, event) ~", rhs)), d)
  stopifnot(all.equal(unname(model.matrix(fit)[, 1:df]), unname(unclass(basis)[, 1:df]), check.attributes = FALSE))
  beta <- coef(fit)[1:df]
  V <- vcov(fit)[1:df, 1:df, drop = FALSE]
  grid <- seq(0, max(d$ics), by = 10)
  D <- sweep(predict(basis, grid), 2, predict(basis, ref))
  lp <- drop(D %*% beta)
  se <- sqrt(rowSums((D %*% V) * D))
  z <- qnorm(0.975)
  null_loglik <- if (length(covs)) fit_cox(as.formula(paste("Surv(time, event) ~", paste(covs, collapse = " + "))), d)$loglik[2] else fit$loglik[1]
  linear <- fit_cox(as.formula(paste("Surv(time, event) ~", paste(c("ics", covs), collapse = " + "))), d)
  chisq_overall <- 2 * (fit$loglik[2] - null_loglik)
  chisq_nonlinear <- 2 * (fit$loglik[2] - linear$loglik[2])
  list(endpoint = ep, df = df, reference = ref, covariates = I(covs), n = fit$n, nevent = fit$nevent,
       knots = I(unname(attr(basis, "knots"))), boundary_knots = I(attr(basis, "Boundary.knots")),
       basis_first_rows = unclass(basis)[seq_len(min(50, nrow(d))), , drop = FALSE], basis_grid = predict(basis, grid),
       coef = I(unname(beta)), loglik = I(fit$loglik),
       curve = list(ics = I(grid), hr = I(exp(lp)), ci_lower = I(exp(lp - z * se)), ci_upper = I(exp(lp + z * se))),
       chisq_overall = chisq_overall, p_overall = pchisq(chisq_overall, df, lower.tail = FALSE),
       chisq_nonlinear = if (df > 1) chisq_nonlinear else NA,
       p_nonlinear = if (df > 1) pchisq(chisq_nonlinear, df - 1, lower.tail = FALSE) else NA,
       warnings = I(fit$warnings))
}

# --- RMST: summary(survfit(Surv ~ group), rmean = tau) -----------------------------------------
rmst_json <- function(d, ep, grouping, tau) {
  d <- with_endpoint(d, ep)
  d$g <- d[[grouping]]
  tab <- summary(survfit(Surv(time, event) ~ g, data = d), rmean = tau)$table
  keys <- sub("^g=", "", rownames(tab))
  groups <- lapply(seq_along(keys), function(i) list(group = keys[i], n = tab[i, "records"],
                                                     rmst = tab[i, "rmean"], se = tab[i, "se(rmean)"]))
  diffs <- lapply(seq_along(keys)[-1], function(i) {
    difference <- tab[i, "rmean"] - tab[1, "rmean"]
    half <- qnorm(0.975) * sqrt(tab[i, "se(rmean)"]^2 + tab[1, "se(rmean)"]^2)
    list(group = keys[i], reference = keys[1], difference = difference, ci_lower = difference - half, ci_upper = difference + half)
  })
  list(endpoint = ep, grouping = grouping, tau = tau, groups = groups, differences = diffs)
}

# --- subgroup forest: the exposure's HR per level, LR test of exposure x factor(level) --------
level_json <- function(s, exposure) {
  out <- list(n = nrow(s), events = sum(s$event))
  if (out$events == 0 || length(unique(s[[exposure]])) < 2) return(out)
  fit <- fit_cox(as.formula(paste("Surv(time, event) ~", exposure)), s)
  co <- summary(fit)$coefficients
  ci <- exp(confint(fit))
  c(out, list(coef = co[1, "coef"], se = co[1, "se(coef)"], hr = co[1, "exp(coef)"], ci_lower = ci[1, 1],
              ci_upper = ci[1, 2], p = co[1, "Pr(>|z|)"], warnings = I(fit$warnings)))
}
variable_json <- function(d, variable, exposure) {
  d <- d[!is.na(d[[variable]]) & d[[variable]] != "" & !is.na(d[[exposure]]), ]
  values <- d[[variable]]
  labels <- if (is.numeric(values)) ifelse(values == 1, "yes", "no") else values
  levels <- sort(unique(labels))
  out <- list(n = nrow(d), levels = lapply(setNames(levels, levels), function(l) level_json(d[labels == l, ], exposure)))
  fitted <- Filter(function(l) !is.null(out$levels[[l]]$hr), levels)
  if (length(fitted) >= 2) {
    s <- d[labels %in% fitted, ]
    s$v <- factor(labels[labels %in% fitted])
    f0 <- fit_cox(as.formula(paste("Surv(time, event) ~", exposure, "+ v")), s)
    f1 <- fit_cox(as.formula(paste("Surv(time, event) ~", exposure, "* v")), s)
    chisq <- 2 * (f1$loglik[2] - f0$loglik[2])
    # anova() gives the same likelihood-ratio test
    stopifnot(isTRUE(all.equal(chisq, anova(f0, f1)[2, "Chisq"])))
    out$chisq_interaction <- chisq
    out$df_interaction <- length(fitted) - 1
    out$p_interaction <- pchisq(chisq, length(fitted) - 1, lower.tail = FALSE)
  }
  out
}
subgroups_json <- function(d, ep, exposure, variables) {
  d <- with_endpoint(d, ep)
  vars <- lapply(setNames(variables, variables), function(v) variable_json(d, v, exposure))
  list(endpoint = ep, exposure = exposure, variables = vars)
}

# --- the cases ------------------------------------------------------------------------------------
forest_variables <- c("vessel_revascularized", "diabetes", "acs", "sex", "index_treatment", "study_vessel")
cases <- list(
  study_408 = list(
    spline = list(spline_json(load_cohort("study_408"), "poce", 3, 85, covariates),
                  spline_json(load_cohort("study_408"), "poce", 1, 85, covariates),
                  spline_json(load_cohort("study_408"), "poce", 5, 150, covariates),
                  spline_json(load_cohort("study_408"), "poce", 3, 85, character()),
                  spline_json(load_cohort("study_408"), "revascularization", 4, 85, covariates)),
    rmst = list(rmst_json(load_cohort("study_408"), "poce", "group", 2191),
                rmst_json(load_cohort("study_408"), "poce", "group", 1000),
                rmst_json(load_cohort("study_408"), "poce", "quartile", 2191),
                rmst_json(load_cohort("study_408"), "revascularization", "group", 1826)),
    subgroups = list(subgroups_json(load_cohort("study_408"), "poce", "ics_high", forest_variables),
                     subgroups_json(load_cohort("study_408"), "poce", "ics_per_100", forest_variables))),
  missing_1500 = list(
    spline = list(spline_json(load_cohort("missing_1500"), "poce", 3, 85, covariates),
                  spline_json(load_cohort("missing_1500"), "poce", 6, 85, covariates)),
    rmst = list(rmst_json(load_cohort("missing_1500"), "poce", "group", 2191),
                rmst_json(load_cohort("missing_1500"), "revascularization", "quartile", 1500)),
    subgroups = list(subgroups_json(load_cohort("missing_1500"), "poce", "ics_high", forest_variables))),
  ties_40 = list(
    spline = list(spline_json(load_cohort("ties_40"), "poce", 2, 85, covariates)),
    rmst = list(rmst_json(load_cohort("ties_40"), "poce", "group", 2191),
                rmst_json(load_cohort("ties_40"), "poce", "group", 700)),
    subgroups = list(subgroups_json(load_cohort("ties_40"), "poce", "ics_high", c("vessel_revascularized", "diabetes")))),
  no_tvr_in_low_120 = list(
    rmst = list(rmst_json(load_cohort("no_tvr_in_low_120"), "tvr", "group", 2191)),
    subgroups = list(subgroups_json(load_cohort("no_tvr_in_low_120"), "tvr", "ics_high", forest_variables)))
)
versions <- list(R = R.version.string, survival = as.character(packageVersion("survival")))
for (cohort in names(cases)) {
  for (kind in names(cases[[cohort]])) {
    path <- file.path(dir, paste0(kind, "_", cohort, ".json"))
    writeLines(to_json(list(cohort = cohort, cases = cases[[cohort]][[kind]], versions = versions)), path)
    cat("wrote", path, "\n")
  }
}
