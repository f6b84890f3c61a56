"""The benchmark runs, prints its tables, and measures memory; wall-clock time is never asserted."""
import contextlib
import io
import json

import numpy as np
import pytest

from minisparse.lab import bench


@pytest.fixture(scope="module")
def fast_run():
    """One `--fast` run shared by the table tests: (what it printed on stdout, what it returned)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        results = bench.main(["--fast"])
    return out.getvalue(), results


def table_rows(text, title):
    """(header cells, data rows as lists of cells) of the table printed under ``title``."""
    lines = text.split("\n" + title, 1)[1].split("\n")[1:]
    header = [c for c in lines[0].split("  ") if c.strip()]
    rows = []
    for line in lines[1:]:
        if not line.strip() or not line.strip()[0].isdigit():
            break
        rows.append(line.split())
    return [c.strip() for c in header], rows


def test_main_prints_both_tables_with_one_row_per_configuration(fast_run):
    text, _ = fast_run
    args = bench.parse_args(["--fast"])
    header, rows = table_rows(text, "Sweep 1")
    assert header == bench.COLUMNS
    assert len(rows) == len(args.widths) * len(args.densities)
    assert all(len(r) == len(bench.COLUMNS) for r in rows)
    assert [int(r[0]) for r in rows] == [w for w in args.widths for _ in args.densities]
    header, rows = table_rows(text, "Sweep 2")
    assert header[:len(bench.COLUMNS)] == bench.COLUMNS and header[-1].startswith("csr vs h=")
    assert [int(r[0]) for r in rows] == args.fixed_widths
    assert rows[0][-1] == "1.00×"                      # time relative to the narrowest width
    assert all(r[4] == "—" for r in rows)              # no dense model without --dense-wide
    assert text.count("CSR is ") == len(args.widths)   # one crossover line per width


def test_main_prints_to_stdout_and_progress_to_stderr(capsys):
    bench.main(["--fast", "--widths", "100", "--densities", "0.05", "--fixed-widths", "100",
                "--connections", "2000", "--repeats", "1", "--eps-widths", "100", "150"])
    captured = capsys.readouterr()
    assert "Sweep 1" in captured.out and "Sweep 2" in captured.out and "Sweep 3" in captured.out
    assert captured.err.count("ms/step") == 7    # csr + dense, csr at fixed nnz, csr + dense at two widths
    assert "100 → 150 (1.5× wider)" in captured.out and "dense W ⊙ M" in captured.out


def test_fixed_epsilon_sweep_and_linear_fit():
    """Sweep 3's nnz is ε(n_in + n_out) per layer; the fit recovers known coefficients exactly."""
    model = bench.build_model(300, epsilon=4)
    assert [layer.nnz for layer in model.layers] == [4 * (784 + 300), 4 * 600, 4 * 310]
    batch = 8
    fake = [bench.StepResult("csr", w, 0.0, nnz, 0.0, 0, 0) for w, nnz in
            ((100, 1000), (100, 5000), (400, 5000), (1600, 20000), (800, 2000))]
    fake = [r.__class__(r.kind, r.width, r.density, r.nnz,
                        2e-6 * batch * r.nnz + 3e-6 * batch * (2 * r.width + 10) + 0.5, 0, 0) for r in fake]
    a, b, c, worst = bench.linear_fit(fake, batch)
    assert (a, b, c) == pytest.approx((2e-6, 3e-6, 0.5), rel=1e-6) and worst < 1e-6


def test_nnz_column_is_what_the_model_holds(fast_run):
    text, results = fast_run
    args = bench.parse_args(["--fast"])
    _, rows = table_rows(text, "Sweep 1")
    expected = [bench.build_model(w, d).nnz for w in args.widths for d in args.densities]
    assert [int(r[2].replace(",", "")) for r in rows] == expected
    _, rows = table_rows(text, "Sweep 2")
    n_out = bench.N_CLASSES * min(args.fixed_widths)
    expected = [bench.build_model(w, connections=args.connections, output_connections=n_out).nnz
                for w in args.fixed_widths]
    assert [int(r[2].replace(",", "")) for r in rows] == expected
    assert [r["csr"].nnz for r in results["fixed"]] == expected
    assert len(set(expected)) == 1          # sweep 2 really holds the connections fixed


def test_layer_nnz_fixed_connections_caps_at_dense():
    assert bench.layer_nnz(1000, connections=200_000) == [200_000, 200_000, 10_000]
    assert bench.layer_nnz(10_000, connections=200_000) == [200_000, 200_000, 100_000]
    assert bench.layer_nnz(100, density=0.5) == [39_200, 5_000, 500]
    assert bench.layer_nnz(10_000, connections=200_000, output_connections=10_000) == [200_000, 200_000, 10_000]


# At width 400, density 0.01 and batch 128 the CSR step is only ~2.3x lighter (1.8 vs 4.2 MiB): both
# models allocate O(B·h) activations, and with B = 128 those are comparable to one 400 x 400 layer.
# The O(n_in·n_out) saving dominates once h >> B (width 2000), or with a small batch.
@pytest.mark.parametrize("width, density, batch", [(2000, 0.01, 128), (400, 0.01, 8)])
def test_csr_peak_memory_far_below_dense_at_low_density(width, density, batch):
    csr = bench.time_step(width, density, batch, "csr", repeats=1)
    dense = bench.time_step(width, density, batch, "dense", repeats=1)
    assert csr.nnz == dense.nnz == bench.build_model(width, density).nnz
    assert 0 < csr.peak_bytes < dense.peak_bytes / 5
    assert csr.model_bytes < dense.model_bytes / 5


def test_time_step_returns_a_result_in_the_requested_dtype():
    r = bench.time_step(50, 0.2, batch=4, kind="dense", dtype=np.float64, repeats=1)
    assert (r.kind, r.width, r.nnz) == ("dense", 50, bench.build_model(50, 0.2).nnz)
    assert r.ms > 0 and r.peak_bytes > 0
    assert r.model_bytes >= 8 * (784 * 50 + 50 * 50 + 50 * 10) * 2   # W and velocity in float64


def test_method_costs_count_what_each_method_adds():
    """Per-method costs (fast): every method's step does the same sparse work; only Sparse Momentum's
    step adds dense work; RigL's update adds B·Σ n_in·n_out, CTRE's N·Σ n_in·n_out; times are not asserted."""
    from minisparse.lab import bench_methods
    r = bench_methods.method_costs(width=60, epsilon=3, batch=16, rows=50, repeats=1)
    m, dims = r["methods"], 784 * 60 + 60 * 60 + 60 * 10
    assert {c["step"][0] for c in m.values()} == {m["static"]["step"][0]} and m["static"]["step"][0] > 0
    assert m["Sparse Momentum"]["step"][1] == 16 * dims and m["SET"]["step"][1] == 0
    assert m["RigL"]["update"][1] == 16 * dims and m["CTRE"]["update"][1] == 50 * dims
    assert m["SET"]["update"][:2] == (0, 0) and m["static"]["update"] == (0, 0, 0.0)
    assert all(c["update"][2] >= 0 for c in m.values())


def test_plot_writes_png_and_numbers(tmp_path):
    path = str(tmp_path / "bench.png")
    bench.main(["--fast", "--widths", "100", "--densities", "0.05", "0.2", "--fixed-widths", "100",
                "--connections", "2000", "--repeats", "1", "--eps-widths", "100", "150", "--plot", path])
    numbers = json.loads((tmp_path / "bench.json").read_text())
    assert (tmp_path / "bench.png").stat().st_size > 1000
    assert len(numbers["density"]["100"]) == 2 and len(numbers["epsilon"]) == 2
    assert [set(r) for r in numbers["epsilon"]] == [{"csr", "dense"}] * 2           # dense up to 400 (fast)
    assert set(numbers["fit"]) == {"a_ms_per_mac", "b_ms_per_element", "c_ms", "worst_relative_residual"}
    assert not list(tmp_path.glob("*.tmp"))                     # written atomically, nothing left over


def test_set_update_scaling_reports_sizes():
    from minisparse.lab import bench_methods
    rows = bench_methods.set_update_scaling([50, 120], epsilon=2, repeats=1)
    assert [(w, nnz, dense) for w, nnz, dense, _, _ in rows] == [
        (w, 2 * (784 + w) + 2 * (2 * w) + 2 * (w + 10), 784 * w + w * w + 10 * w) for w in (50, 120)]
    assert all(sec > 0 and rebuild > 0 for *_, sec, rebuild in rows)


def test_fixed_epsilon_table_reports_cost_per_multiply_add(fast_run):
    text, results = fast_run
    args = bench.parse_args(["--fast"])
    header, rows = table_rows(text, "Sweep 3")
    assert header[-2:] == bench.EPS_COLUMNS and [int(r[0]) for r in rows] == args.eps_widths
    for row, r in zip(rows, results["epsilon"]):
        csr = r["csr"]
        assert float(row[-2]) == pytest.approx(csr.ms * 1e6 / (args.batch * csr.nnz), abs=0.06)
        assert float(row[-1]) == pytest.approx(args.batch * csr.width * 4 / 2**20, abs=0.06)
        assert ("dense" in r) == (csr.width <= args.dense_max_width)
    assert text.count("sweep 3, ε = ") == len(args.eps_widths) - 1


def test_bench_kwta_times_every_product_for_every_k():
    from minisparse.lab import bench_kwta
    result = bench_kwta.product_times(width=120, density=0.1, batch=16, ks=(12, 6), repeats=1)
    assert set(result["active"]) == {12, 6} and set(result["dense"]) == set(bench_kwta.PRODUCTS)
    assert all(set(t) == set(bench_kwta.PRODUCTS) | {"csr"} and all(v > 0 for v in t.values())
               for t in result["active"].values())
    assert result["nnz"] == round(0.1 * 120 * 120)
