"""curves_on_grid / plot_seed_band: checked against hand-worked interpolation."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from lmrl_course.rl.plotting import curves_on_grid, plot_seed_band


def test_curves_on_grid_hand_worked():
    runs = [{"env_steps": [0, 10], "mean_return": [0.0, 10.0]},          # y = x
            {"env_steps": [0, 4, 8], "mean_return": [5.0, 5.0, 1.0]}]    # shorter: grid ends at 8
    grid, curves = curves_on_grid(runs, points=5)
    np.testing.assert_allclose(grid, [0, 2, 4, 6, 8])
    np.testing.assert_allclose(curves[0], [0, 2, 4, 6, 8])
    np.testing.assert_allclose(curves[1], [5, 5, 5, 3, 1])


def test_curves_on_grid_starts_at_latest_first_point():
    # A run whose first point is at x = 4 must not be drawn flat back to 0: the grid starts at 4.
    runs = [{"env_steps": [0, 12], "mean_return": [0.0, 12.0]},          # y = x
            {"env_steps": [4, 8, 12], "mean_return": [1.0, 3.0, 3.0]}]
    grid, curves = curves_on_grid(runs, points=5)
    np.testing.assert_allclose(grid, [4, 6, 8, 10, 12])
    np.testing.assert_allclose(curves[0], [4, 6, 8, 10, 12])
    np.testing.assert_allclose(curves[1], [1, 2, 3, 3, 3])
    with pytest.raises(ValueError, match="overlap"):
        curves_on_grid([{"env_steps": [0, 1], "mean_return": [0, 1]}, {"env_steps": [2, 3], "mean_return": [0, 1]}])


def test_plot_seed_band_median_and_range():
    runs = [{"env_steps": [0, 1], "mean_return": [v, v]} for v in (1.0, 2.0, 10.0)]
    fig, ax = plt.subplots()
    plot_seed_band(runs, ax, "x", points=3)
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), [2.0, 2.0, 2.0])            # median, not the mean 4.33
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(1.0) and band.max() == pytest.approx(10.0)
    plot_seed_band(runs, ax, "y", center="mean", points=3)
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [13 / 3] * 3)
    plt.close(fig)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="empty"):
        curves_on_grid([])
    with pytest.raises(ValueError, match="mean_return"):
        curves_on_grid([{"env_steps": [0, 1]}])
    with pytest.raises(ValueError, match="center"):
        plot_seed_band([{"env_steps": [0, 1], "mean_return": [0, 1]}], None, "x", center="max")
