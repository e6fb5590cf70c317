//! Thinning of scatter points to what can be seen: markers that fall on the same few pixels draw once, so a
//! 100k-request scatter is an SVG of at most one marker per cell, not 100k elements, and looks the same.

/// Keeps the first point of each `cell`-pixel square of a `size` plot spanning `x` × `y` (value ranges). Points
/// outside the ranges are clamped to their edge. Order is kept.
pub fn thin_points(
    points: impl IntoIterator<Item = (f64, f64)>,
    x: (f64, f64),
    y: (f64, f64),
    size: (u32, u32),
    cell: u32,
) -> Vec<(f64, f64)> {
    let cell = cell.max(1);
    let cols = (size.0 / cell).max(1) as usize;
    let rows = (size.1 / cell).max(1) as usize;
    let index = |v: f64, (lo, hi): (f64, f64), n: usize| {
        let span = hi - lo;
        let share = if span > 0.0 { (v - lo) / span } else { 0.0 };
        ((share.clamp(0.0, 1.0) * n as f64) as usize).min(n - 1)
    };
    let mut seen = vec![false; cols * rows];
    points
        .into_iter()
        .filter(|&(px, py)| {
            let i = index(py, y, rows) * cols + index(px, x, cols);
            !std::mem::replace(&mut seen[i], true)
        })
        .collect()
}

/// Keeps one of each run of `xs` (ascending or not) closer than one `cell`-pixel column of a `width`-pixel axis
/// spanning `range`: failure markers on a time axis.
pub fn thin_xs(xs: impl IntoIterator<Item = f64>, range: (f64, f64), width: u32, cell: u32) -> Vec<f64> {
    thin_points(
        xs.into_iter().map(|x| (x, 0.0)),
        range,
        (0.0, 1.0),
        (width, cell.max(1)),
        cell,
    )
    .into_iter()
    .map(|(x, _)| x)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_on_the_same_cell_draw_once() {
        let dense = (0..10_000).map(|i| (f64::from(i % 7) * 1e-4, 0.5));
        let kept = thin_points(dense, (0.0, 1.0), (0.0, 1.0), (600, 400), 2);
        assert_eq!(kept, [(0.0, 0.5)]);
    }

    #[test]
    fn distinct_points_are_all_kept_and_the_count_is_bounded_by_the_cells() {
        let grid: Vec<(f64, f64)> = (0..10)
            .flat_map(|i| (0..10).map(move |j| (f64::from(i), f64::from(j))))
            .collect();
        assert_eq!(
            thin_points(grid.clone(), (0.0, 9.0), (0.0, 9.0), (200, 200), 2).len(),
            100
        );
        // A 10 × 10 pixel plot in 5-pixel cells has room for 4 markers.
        assert_eq!(thin_points(grid, (0.0, 9.0), (0.0, 9.0), (10, 10), 5).len(), 4);
        // Outside the range: clamped, not lost, not a panic; an empty range is one cell.
        assert_eq!(
            thin_points([(-5.0, 50.0)], (0.0, 1.0), (0.0, 1.0), (10, 10), 2).len(),
            1
        );
        assert_eq!(
            thin_points([(1.0, 1.0), (1.0, 1.0)], (1.0, 1.0), (1.0, 1.0), (10, 10), 2).len(),
            1
        );
    }

    #[test]
    fn failure_marks_are_thinned_along_the_axis() {
        let xs = [0.0, 0.001, 0.002, 5.0, 9.999];
        assert_eq!(thin_xs(xs, (0.0, 10.0), 500, 3), [0.0, 5.0, 9.999]);
    }
}
