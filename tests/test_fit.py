"""``canary-mc fit``: estimators against independent references, interval coverage across
seeds in both input formats, the round trip into the simulator, data findings, bad input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fit_synthetic import EDGES_S, Truth, draw, prometheus_response, write_csv, write_prometheus
from scipy import integrate, stats
from typer.testing import CliRunner

from canary_mc.cli.app import app
from canary_mc.engine.noise.counts import draw_counts, plan_counts_world
from canary_mc.errors import FitInputError
from canary_mc.fit import fit_files
from canary_mc.fit.errors_fit import fit_errors, fit_errors_moments, step_log_likelihood
from canary_mc.fit.gauge_fit import fit_gauge
from canary_mc.fit.goodness import error_checks, gauge_checks
from canary_mc.fit.latency_fit import order_statistic_moments
from canary_mc.fit.readers import role_from_name
from canary_mc.io.experiment_file import load_experiment
from canary_mc.model import Service

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


# -- estimators against independent references -------------------------------------------


@pytest.mark.parametrize(
    ("x", "n", "p", "s"),
    [
        (3, 100, 0.02, 0.5),
        (50, 5000, 0.01, 0.3),
        (0, 10, 0.1, 1.0),
        (7, 40, 0.2, 0.05),
        (0, 3000, 0.001, 0.8),
        (120, 400, 0.3, 0.4),
    ],
)
def test_step_likelihood_equals_quadrature_of_the_simulators_model(x, n, p, s):
    def integrand(z):
        return stats.binom.pmf(x, n, min(p * np.exp(s * z - s * s / 2), 1)) * stats.norm.pdf(z)

    mode = (np.log(max(x, 0.5) / n) - np.log(p) + s * s / 2) / s
    reference = integrate.quad(
        integrand,
        -12,
        12,
        points=[0, float(np.clip(mode, -11, 11))],
        limit=400,
        epsabs=0,
        epsrel=1e-10,
    )[0]
    got = np.exp(step_log_likelihood(np.array([x]), np.array([n]), p, s))[0]
    assert got == pytest.approx(reference, rel=1e-6)


@pytest.mark.parametrize(("q", "n"), [(0.5, 11), (0.99, 100), (0.95, 1000), (0.999, 50), (0.9, 3)])
def test_order_statistic_moments_equal_scipy_quadrature(q, n):
    k = int(np.ceil(q * n))

    def density(z):
        return stats.beta.pdf(stats.norm.cdf(z), k, n + 1 - k) * stats.norm.pdf(z)

    mean = integrate.quad(lambda z: z * density(z), -12, 12, limit=400)[0]
    second = integrate.quad(lambda z: z * z * density(z), -12, 12, limit=400)[0]
    got_mean, got_var = order_statistic_moments(np.array([q]), np.array([n]))
    assert got_mean[0] == pytest.approx(mean, abs=2e-5)
    assert got_var[0] == pytest.approx(second - mean * mean, rel=2e-3)


def test_binomial_data_cover_zero_dispersion_with_profile_intervals_on_the_boundary():
    """Plain binomial data (s = 0, the boundary): about half the fits land on s = 0 (the
    chi-bar-squared law of a boundary MLE) and then report the profile-likelihood
    interval; either way 0 is covered about 95% of the time."""
    seeds, boundary, covered = 60, 0, 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        n = rng.poisson(3000, 200)
        fit = fit_errors(rng.binomial(n, 0.004), n).error_dispersion
        if fit.value == 0:
            boundary += 1
            assert fit.se is None and fit.low == 0 and 0 < fit.high < 0.3
        covered += fit.covers(0.0)
    assert abs(boundary / seeds - 0.5) <= 4 * np.sqrt(0.25 / seeds)
    assert covered / seeds >= 0.95 - 4 * np.sqrt(0.95 * 0.05 / seeds)


# -- coverage across seeds, both formats ---------------------------------------------------

COVERAGE_SEEDS = 100
TRUTH = Truth()


def test_reported_intervals_cover_the_truth_about_95_percent_of_the_time(tmp_path):
    """Every fitted parameter, read from a Prometheus export (buckets) and from CSV
    (quantiles, a gauge), and the moment estimator of the errors. Tolerance: 4 binomial SE
    below 95% per parameter, and the pooled rate within 4 SE of 95% either way (too wide
    an interval is a defect too)."""
    truth = {
        "requests_per_step": TRUTH.requests,
        "diurnal_amplitude": TRUTH.amplitude,
        "error_rate": TRUTH.error_rate,
        "error_dispersion": TRUTH.dispersion,
        "error_rate (moments)": TRUTH.error_rate,
        "error_dispersion (moments)": TRUTH.dispersion,
        "latency_ms (buckets)": TRUTH.latency_ms,
        "latency_log_sigma (buckets)": TRUTH.log_sigma,
        "latency_ms (quantiles)": TRUTH.latency_ms,
        "latency_log_sigma (quantiles)": TRUTH.log_sigma,
        "gauge mean": TRUTH.gauge_mean,
        "gauge sigma": TRUTH.gauge_sigma,
    }
    covered = dict.fromkeys(truth, 0)
    for seed in range(COVERAGE_SEEDS):
        data = draw(seed, 300, TRUTH)
        prom = fit_files(write_prometheus(tmp_path / f"p{seed}", data), period="1d")
        table = fit_files([write_csv(tmp_path / f"t{seed}.csv", data)], period="1d")
        moments = fit_errors_moments(data.errors, data.requests)
        assert prom.traffic.period_steps == TRUTH.period_steps
        for fit in (prom, table):  # the counts parts are the same numbers in both formats
            assert fit.errors.error_rate.value == pytest.approx(prom.errors.error_rate.value)
        estimates = {
            "requests_per_step": prom.traffic.requests_per_step,
            "diurnal_amplitude": prom.traffic.diurnal_amplitude,
            "error_rate": prom.errors.error_rate,
            "error_dispersion": prom.errors.error_dispersion,
            "error_rate (moments)": moments.error_rate,
            "error_dispersion (moments)": moments.error_dispersion,
            "latency_ms (buckets)": prom.latency.latency_ms,
            "latency_log_sigma (buckets)": prom.latency.latency_log_sigma,
            "latency_ms (quantiles)": table.latency.latency_ms,
            "latency_log_sigma (quantiles)": table.latency.latency_log_sigma,
            "gauge mean": table.gauges["cpu_pct"].mean,
            "gauge sigma": table.gauges["cpu_pct"].sigma,
        }
        for name, estimate in estimates.items():
            covered[name] += estimate is not None and estimate.covers(truth[name])
    se = np.sqrt(0.95 * 0.05 / COVERAGE_SEEDS)
    rates = sorted((c / COVERAGE_SEEDS, name) for name, c in covered.items())
    assert rates[0][0] >= 0.95 - 4 * se, rates
    # Pooled over the default (maximum-likelihood) fits. The moment estimator of the
    # dispersion covers 91-93% at 300 intervals (measured, docs/fit.md), so it is held to
    # the per-parameter bound only.
    default = [c for name, c in covered.items() if "moments" not in name]
    pooled = sum(default) / (COVERAGE_SEEDS * len(default))
    pooled_se = np.sqrt(0.95 * 0.05 / (COVERAGE_SEEDS * len(default)))
    assert abs(pooled - 0.95) <= 4 * pooled_se, rates


# -- round trip into the simulator -------------------------------------------------------

POLICY = """
name: fitted
seed: 11
rollouts: 2000
policy:
  latency_threshold_ms: 1000
  stages:
    - {name: all, traffic_pct: 100, duration_steps: 50, error_threshold: 0.5}
"""


@pytest.mark.parametrize(
    ("method", "concentration"),
    [("ml", 1000.0), ("moments", 120.0)],
)
def test_fit_then_run_reproduces_the_datas_per_step_error_variance(tmp_path, method, concentration):
    """Data with *beta*-distributed rate jitter (not the model's lognormal), fitted, written
    as YAML, loaded as an experiment and simulated: the simulated per-step error count has
    the data's mean and variance, within 4 standard errors of the data's sample moments.

    Maximum likelihood does this when the beta is close to a lognormal (shape 10 here);
    for a strongly skewed jitter (shape 1.2) only the method of moments does, by
    construction: maximum likelihood then overstates the variance, which its goodness-of-
    fit check reports."""
    rng = np.random.default_rng(2024)
    steps, requests, mean_rate = 3000, 1500, 0.01
    rate = rng.beta(mean_rate * concentration, (1 - mean_rate) * concentration, steps)
    errors = rng.binomial(requests, rate)
    stamps = 1_767_225_600 + 60 * np.arange(steps)
    latencies = np.sort(80 * np.exp(0.5 * rng.standard_normal((steps, requests))), axis=1)
    pd.DataFrame(
        {
            "timestamp": stamps,
            "requests": requests,
            "errors": errors,
            "latency_p50": latencies[:, int(np.ceil(0.5 * requests)) - 1],
            "latency_p99": latencies[:, int(np.ceil(0.99 * requests)) - 1],
        }
    ).to_csv(tmp_path / "flat.csv", index=False)
    result = invoke(
        "fit", tmp_path / "flat.csv", "--method", method, "-o", tmp_path / "service.yaml"
    )
    assert result.exit_code == 0, result.output
    service_yaml = (tmp_path / "service.yaml").read_text()
    assert "diurnal_amplitude" not in service_yaml  # flat traffic: no cycle
    experiment = tmp_path / "fitted.yaml"
    experiment.write_text(POLICY + service_yaml)
    config = load_experiment(experiment)
    assert config.service.requests_per_step == requests
    run = invoke("run", experiment, "--rollouts", "2000", "--json", "--quiet")
    assert run.exit_code == 0, run.output
    world = plan_counts_world(config.policy, config.service, config.noise)
    draws, _ = draw_counts(config.seed, 0, 4096, world, [])
    simulated = draws.healthy_canary_errors.astype(float)
    data_var = errors.var(ddof=1)
    centred = errors - errors.mean()
    data_se = np.sqrt((np.mean(centred**4) - data_var**2) / steps)
    assert abs(simulated.var() - data_var) <= 4 * data_se
    assert abs(simulated.mean() - errors.mean()) <= 4 * np.sqrt(data_var / steps)


def test_maximum_likelihood_on_skewed_jitter_is_flagged_by_the_variance_check():
    rng = np.random.default_rng(2024)
    requests = np.full(3000, 1500)
    errors = rng.binomial(requests, rng.beta(1.2, 118.8, 3000))
    fit = fit_errors(errors, requests)
    check = next(c for c in error_checks(errors, requests, fit) if c.name.startswith("variance"))
    assert not check.fits and check.value < 1 and "--method moments" in check.verdict


# -- findings: reported, not silently absorbed ------------------------------------------


def _series_file(path: Path, stamps, values, labels=None) -> Path:
    path.write_text(json.dumps(prometheus_response(stamps, [(labels or {}, values)])))
    return path


def test_gaps_nan_inf_resets_and_broken_buckets_are_found_and_left_out(tmp_path):
    data = draw(7, 120, TRUTH)
    files = write_prometheus(tmp_path, data)
    # Raw counters (a selector keeps __name__), with a process restart after interval 60.
    requests_total = np.cumsum(data.requests) + 10_000
    requests_total[60:] -= requests_total[59]
    errors_total = np.cumsum(data.errors)
    errors_total[60:] -= errors_total[59]
    keep = np.ones(120, dtype=bool)
    keep[30:34] = False  # a gap of 4 intervals in the requests only
    _series_file(
        files[0], data.timestamps[keep], requests_total[keep], {"__name__": "http_requests_total"}
    )
    errors_values = errors_total.astype(float)
    errors_values[10] = np.nan
    _series_file(files[1], data.timestamps, errors_values, {"__name__": "http_errors_total"})
    bucket_doc = json.loads(files[2].read_text())
    bucket_doc["data"]["result"][3]["values"][5][1] = "0"  # le=0.075 below le=0.05
    bucket_doc["data"]["result"][4]["values"][8][1] = "+Inf"
    files[2].write_text(json.dumps(bucket_doc))
    fit = fit_files(files)
    kinds = {(f.series.rsplit(": ", 1)[1], f.kind): f.message for f in fit.findings}
    assert "1 gap(s), 4 interval(s) missing" in kinds[("http_requests_total", "gap")]
    assert "1 counter reset(s)" in kinds[("http_requests_total", "counter_reset")]
    assert "1 counter reset(s)" in kinds[("http_errors_total", "counter_reset")]
    assert "1 NaN" in kinds[("http_errors_total", "nan")]
    assert "1 infinite" in kinds[("latency_bucket", "inf")]
    assert (
        "1 interval(s) with bucket counts that fall"
        in kinds[("latency_bucket", "non_monotone_buckets")]
    )
    # Counters differenced exactly: the increase after the reset is the new value.
    got = fit.data.requests
    expected = data.requests.copy()
    expected[[0, 30, 31, 32, 33, 34]] = np.nan  # first point, the gap, the point after it
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(got[~np.isnan(got)], expected[~np.isnan(expected)])
    assert np.isnan(fit.data.bucket_counts[5]).all() and np.isnan(fit.data.bucket_counts[8]).all()
    # Left out: the first point (no increase), the gap and the point after it, and the two
    # increases that touch the NaN of the errors counter (intervals 10 and 11).
    assert fit.errors.n_intervals == 120 - 1 - 5 - 2


def test_interval_option_sums_counts_over_whole_intervals(tmp_path):
    data = draw(8, 240, TRUTH, latency=False)
    files = write_prometheus(tmp_path, data)[:2]
    fit = fit_files(files, interval="45m")
    np.testing.assert_array_equal(fit.data.requests, data.requests.reshape(80, 3).sum(axis=1))
    assert fit.data.interval_s == 2700 and fit.traffic.period_steps == 32


def test_flat_or_short_traffic_reports_no_cycle(tmp_path):
    data = draw(9, 60, Truth(amplitude=0.0), latency=False)  # under one 96-interval day
    fit = fit_files(write_prometheus(tmp_path, data)[:2])
    assert fit.traffic.diurnal_amplitude is None
    assert "less than one 96-interval cycle" in fit.traffic.cycle_note


def test_autocorrelated_error_rates_are_reported_as_a_misfit(tmp_path):
    rng = np.random.default_rng(3)
    steps = 600
    z = np.zeros(steps)
    for t in range(1, steps):
        z[t] = 0.9 * z[t - 1] + np.sqrt(1 - 0.81) * rng.standard_normal()
    requests = np.full(steps, 2000)
    errors = rng.binomial(requests, 0.01 * np.exp(0.4 * z - 0.08))
    pd.DataFrame(
        {"timestamp": 60 * np.arange(steps), "requests": requests, "errors": errors}
    ).to_csv(tmp_path / "runs.csv", index=False)
    result = invoke("fit", tmp_path / "runs.csv")
    assert result.exit_code == 0, result.output
    fit = fit_files([tmp_path / "runs.csv"])
    misfit = {c.name for c in fit.checks if not c.fits and c.series == "errors"}
    assert "lag-1 autocorrelation" in misfit
    assert "the model does NOT fit" in result.stdout


def test_cli_writes_yaml_and_plots(tmp_path):
    data = draw(10, 200, TRUTH)
    files = write_prometheus(tmp_path / "prom", data)
    result = invoke("fit", *files, "-o", tmp_path / "svc.yaml", "--plot", tmp_path / "plots")
    assert result.exit_code == 0, result.output
    assert "Goodness of fit" in result.stdout and "Fitted parameters" in result.stdout
    text = (tmp_path / "svc.yaml").read_text()
    assert "error_dispersion:" in text and "latency_log_sigma:" in text
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "fit-errors.png",
        "fit-latency.png",
        "fit-requests.png",
    ]
    stdout_only = invoke("fit", *files)
    assert stdout_only.stdout.startswith("# Fitted by `canary-mc fit`")


def test_series_option_names_a_role_the_name_does_not_say(tmp_path):
    data = draw(11, 120, TRUTH, latency=False)
    files = write_prometheus(tmp_path, data)[:2]
    odd = files[1].rename(tmp_path / "bad_things.json")
    fit = fit_files([files[0], odd], series=["bad_things=errors"])
    assert fit.errors.n_intervals == 120
    result = invoke("fit", files[0], odd)
    assert result.exit_code == 2
    assert "cannot tell what series 'bad_things' measures" in result.stderr
    assert "--series bad_things=ROLE" in result.stderr


# -- bad input: message naming the file, exit 2, no traceback ------------------------------


def _expect_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_bad_inputs_exit_2_with_a_message_naming_the_file(tmp_path):
    good = write_prometheus(tmp_path / "good", draw(12, 100, TRUTH, latency=False))[:2]
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"status": "success",\n "data": {"result": [}')
    _expect_error(invoke("fit", malformed), f"{malformed}:2:", "malformed JSON")

    empty = tmp_path / "empty.json"
    empty.write_text(
        json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}})
    )
    _expect_error(invoke("fit", good[0], empty), str(empty), "empty result")

    failed = tmp_path / "failed.json"
    failed.write_text(
        json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error at char 4"})
    )
    _expect_error(invoke("fit", failed), str(failed), "bad_data: parse error")

    shifted = tmp_path / "errors.json"
    doc = json.loads(good[1].read_text())
    for pair in doc["data"]["result"][0]["values"]:
        pair[0] += 30
    shifted.write_text(json.dumps(doc))
    _expect_error(invoke("fit", good[0], shifted), "mismatched timestamps", str(shifted))

    coarse = tmp_path / "coarse" / "errors.json"
    coarse.parent.mkdir()
    doc = json.loads(good[1].read_text())
    doc["data"]["result"][0]["values"] = doc["data"]["result"][0]["values"][::3]
    coarse.write_text(json.dumps(doc))
    _expect_error(invoke("fit", good[0], coarse), "mismatched timestamps", "2700 s apart")

    negative = tmp_path / "neg" / "errors.json"
    negative.parent.mkdir()
    doc = json.loads(good[1].read_text())
    doc["data"]["result"][0]["values"][4][1] = "-3"
    negative.write_text(json.dumps(doc))
    _expect_error(invoke("fit", good[0], negative), str(negative), "negative counts")

    missing = tmp_path / "missing.csv"
    pd.DataFrame({"timestamp": [0, 60], "requests": [1, 2], "latency_p99": [3, 4]}).to_csv(
        missing, index=False
    )
    _expect_error(invoke("fit", missing), str(missing), "missing column(s) 'errors'")

    short = tmp_path / "short.csv"
    pd.DataFrame({"timestamp": 60 * np.arange(12), "requests": 100, "errors": 1}).to_csv(
        short, index=False
    )
    _expect_error(invoke("fit", short), str(short), "12 usable interval(s)", "needs at least 30")

    too_many = tmp_path / "too_many.csv"
    pd.DataFrame({"timestamp": 60 * np.arange(40), "requests": 10, "errors": 11}).to_csv(
        too_many, index=False
    )
    _expect_error(invoke("fit", too_many), "more errors than requests")

    one_level = tmp_path / "one_level.csv"
    pd.DataFrame(
        {"timestamp": 60 * np.arange(40), "requests": 10, "errors": 1, "latency_p99": 200.0}
    ).to_csv(one_level, index=False)
    _expect_error(
        invoke("fit", one_level),
        "one latency quantile (latency_p99)",
        "two or more quantile levels",
    )

    not_a_number = tmp_path / "nan_text.csv"
    not_a_number.write_text("timestamp,requests,errors\n0,10,1\n60,ten,1\n")
    _expect_error(invoke("fit", not_a_number), f"{not_a_number}:3: column 'requests'")

    _expect_error(invoke("fit", *good, "--series", "nosuch=errors"), "--series nosuch")
    _expect_error(invoke("fit", *good, "--series", "errors=latency"), "is not one of")
    _expect_error(invoke("fit", *good, "--interval", "7m"), "not a multiple")


def test_a_bucket_file_for_several_histograms_must_be_aggregated(tmp_path):
    data = draw(13, 60, TRUTH)
    columns = [
        ({"le": f"{e:g}", "instance": str(i)}, data.buckets[:, b])
        for i in range(2)
        for b, e in enumerate(EDGES_S)
    ]
    path = tmp_path / "latency_bucket.json"
    path.write_text(json.dumps(prometheus_response(data.timestamps, columns)))
    with pytest.raises(FitInputError, match=r"sum by \(le\)"):
        fit_files([path])


@pytest.mark.skipif(
    "gauges" not in Service.model_fields, reason="service.gauges is issue 12's schema"
)
def test_fitted_gauges_load_as_service_gauges(tmp_path):
    data = draw(14, 120, TRUTH, latency=True)
    result = invoke("fit", write_csv(tmp_path / "d.csv", data), "-o", tmp_path / "svc.yaml")
    assert result.exit_code == 0, result.output
    experiment = tmp_path / "gauged.yaml"
    experiment.write_text(POLICY + (tmp_path / "svc.yaml").read_text())
    gauge = load_experiment(experiment).service.gauges["cpu_pct"]
    assert abs(gauge.mean - TRUTH.gauge_mean) < 4 * TRUTH.gauge_sigma / np.sqrt(120)


def test_the_sample_export_is_what_its_script_writes_and_its_misfits_are_reported(
    tmp_path, monkeypatch
):
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location(
        "make_fit_example", root / "scripts" / "make_fit_example.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(script, "OUT", tmp_path)
    script.main()
    example = root / "examples" / "fit"
    for path in sorted(example.iterdir()):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
    fit = fit_files(sorted(example.glob("*.json")))
    misfit = {(c.series, c.name) for c in fit.checks if not c.fits}
    # What the script builds in: autocorrelated error jitter, an incident, a latency median
    # that follows the daily cycle, a CPU gauge that follows load, a 30-minute gap.
    assert ("errors", "lag-1 autocorrelation") in misfit
    assert ("errors", "largest interval, SDs above the model (bootstrap p)") in misfit
    assert ("latency", "bucket dispersion, X^2/df") in misfit
    assert ("cpu", "lag-1 autocorrelation") in misfit
    assert {f.kind for f in fit.findings} == {"gap"}
    table = fit_files([example / "checkout.csv"])
    assert table.errors.error_rate.value == pytest.approx(fit.errors.error_rate.value, rel=0.01)


def test_goodness_checks_reject_data_from_the_model_about_1_percent_of_the_time():
    """Calibration: on data drawn from the fitted family, each check with a p-value calls
    a misfit (p < 0.01) at about its level: at most 1% + 4 binomial SE of 100 seeds."""
    seeds = 100
    rejected: dict[tuple[str, str], int] = {}
    for seed in range(seeds):
        data = draw(20_000 + seed, 200, TRUTH, latency=False)
        fit = fit_errors(data.errors, data.requests)
        checks = error_checks(data.errors, data.requests, fit)
        checks += gauge_checks("gauge", data.gauge, fit_gauge(data.gauge))
        for check in checks:
            if check.of_fit and check.p_value is not None:
                key = (check.series, check.name)
                rejected[key] = rejected.get(key, 0) + (not check.fits)
    bound = seeds * (0.01 + 4 * np.sqrt(0.01 * 0.99 / seeds))
    assert len(rejected) == 6
    assert all(count <= bound for count in rejected.values()), rejected


def test_parquet_and_a_prometheus_summary_give_the_csv_fit(tmp_path):
    """The same numbers through a Parquet table and through Prometheus summary quantiles
    (``quantile`` labels, seconds) fit exactly as the CSV table (ms)."""
    data = draw(15, 150, TRUTH)
    csv_fit = fit_files([write_csv(tmp_path / "d.csv", data)])
    pd.read_csv(tmp_path / "d.csv").to_parquet(tmp_path / "d.parquet")
    parquet_fit = fit_files([tmp_path / "d.parquet"])
    prom = write_prometheus(tmp_path / "prom", data)[:2]
    summary = tmp_path / "prom" / "http_request_duration_seconds.json"
    columns = [
        ({"__name__": "http_request_duration_seconds", "quantile": f"{q:g}"}, v / 1000)
        for q, v in data.quantiles_ms.items()
    ]
    summary.write_text(json.dumps(prometheus_response(data.timestamps, columns)))
    summary_fit = fit_files([*prom, summary])
    for other in (parquet_fit, summary_fit):
        assert other.errors == csv_fit.errors
        assert other.latency.latency_ms.value == pytest.approx(csv_fit.latency.latency_ms.value)
        assert other.latency.latency_log_sigma.value == pytest.approx(
            csv_fit.latency.latency_log_sigma.value
        )


@pytest.mark.parametrize(
    ("name", "raw_selector", "kind", "counter", "level"),
    [
        ("http_requests_total", True, "requests", True, None),
        ("http_requests_total", False, "requests", True, None),
        ("requests", False, "requests", False, None),
        ("failed_requests", False, "errors", False, None),
        ("http_5xx", True, "errors", False, None),
        ("latency_p99.9", False, "latency_quantile", False, 0.999),
        ("p50", False, "latency_quantile", False, 0.5),
        ("container_cpu_usage", False, "gauge", False, None),
    ],
)
def test_roles_from_names(name, raw_selector, kind, counter, level):
    role = role_from_name(name, counter_names=raw_selector)
    assert (role.kind, role.counter, role.level) == (kind, counter, level)


def test_a_name_that_says_nothing_has_no_role():
    assert role_from_name("checkout_things", counter_names=True) is None
