//! `FixedGram` against its definition: the sums of chunk Grams equal the
//! dense `ΦΦᵀ` and `ΦYᵀ` to the chunk GEMM's rounding, and are the same
//! integers for any grouping, merge order or thread count.

use faer::{Mat, Par};
use ntk_solve::{FixedGram, FixedScale, SolveError};

/// Seeded features `(m, n)` of mixed magnitudes and targets `(k, n)`.
fn data(m: usize, n: usize, k: usize) -> (Mat<f64>, Mat<f64>) {
    let phi = Mat::from_fn(m, n, |i, j| {
        let v = ((i * 131 + j * 71) as f64 * 0.618_033_988_75).fract() - 0.5;
        v * (1.0 + (i % 7) as f64)
    });
    let y = Mat::from_fn(k, n, |i, j| {
        ((i * 17 + j * 5) as f64 * 0.414_213_562).fract()
    });
    (phi, y)
}

fn scale(phi: &Mat<f64>, y: &Mat<f64>) -> FixedScale {
    FixedScale::from_block(phi.as_ref().subcols(0, 16), y.as_ref().subcols(0, 16)).unwrap()
}

/// The sums of `chunks` (column ranges), merged in the order given.
fn sums(phi: &Mat<f64>, y: &Mat<f64>, chunks: &[(usize, usize)], par: Par) -> FixedGram {
    let s = scale(phi, y);
    let mut total = FixedGram::new(phi.nrows(), y.nrows(), s).unwrap();
    for &(a, b) in chunks {
        let mut part = FixedGram::new(phi.nrows(), y.nrows(), s).unwrap();
        part.add_chunk(
            phi.as_ref().subcols(a, b - a),
            y.as_ref().subcols(a, b - a),
            par,
        )
        .unwrap();
        total.merge(&part).unwrap();
    }
    total
}

#[test]
fn sums_are_the_dense_products() {
    // m = 300 spans two panels (256 + 44 columns). Each entry is a sum of
    // n = 90 products of magnitude ≤ 16: the chunk GEMMs and the final
    // rounding differ from a dense f64 product by at most about
    // n·ε·Σ|φφ| ≤ 90·2.2e−16·(90·16) ≈ 3e−11; the grid (2^−60 of the first
    // samples' largest squared norm) adds far less.
    let (phi, y) = data(300, 90, 3);
    let chunks = [(0, 32), (32, 64), (64, 90)];
    let acc = sums(&phi, &y, &chunks, Par::Seq).to_accumulator().unwrap();
    let dense = &phi * phi.transpose();
    let gram = acc.gram();
    let err = (&gram - &dense).norm_max();
    assert!(err <= 3e-11, "Gram error {err:e}");
    let cross = &phi * y.transpose();
    let err = (acc.cross() - &cross).norm_max();
    assert!(err <= 3e-11, "right-hand side error {err:e}");
    assert_eq!(acc.samples(), 90);
}

#[test]
fn any_grouping_merge_order_and_thread_count_gives_the_same_integers() {
    // In f64 the three groupings below round differently; as integers they
    // are one sum.
    let (phi, y) = data(300, 90, 2);
    let chunks = [(0, 20), (20, 45), (45, 70), (70, 90)];
    let words = |g: &FixedGram| g.words().collect::<Vec<i128>>();
    let reference = words(&sums(&phi, &y, &chunks, Par::Seq));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for order in [[3, 1, 0, 2], [2, 3, 1, 0], [0, 1, 2, 3]] {
        let permuted: Vec<(usize, usize)> = order.iter().map(|&i| chunks[i]).collect();
        let got = pool.install(|| sums(&phi, &y, &permuted, Par::rayon(2)));
        assert_eq!(words(&got), reference, "order {order:?}");
    }
    // Merging pairs first, then the pairs.
    let s = scale(&phi, &y);
    let mut left = sums(&phi, &y, &chunks[..2], Par::Seq);
    let right = sums(&phi, &y, &chunks[2..], Par::Seq);
    left.merge(&right).unwrap();
    assert_eq!(words(&left), reference);
    assert_eq!(left.scale(), s);
    // The same chunks added to one sum in order.
    let mut one = FixedGram::new(300, 2, s).unwrap();
    for &(a, b) in &chunks {
        one.add_chunk(
            phi.as_ref().subcols(a, b - a),
            y.as_ref().subcols(a, b - a),
            Par::Seq,
        )
        .unwrap();
    }
    assert_eq!(words(&one), reference);
}

#[test]
fn words_round_trip_and_wrong_counts_are_refused() {
    let (phi, y) = data(270, 30, 2);
    let g = sums(&phi, &y, &[(0, 30)], Par::Seq);
    let w: Vec<i128> = g.words().collect();
    assert_eq!(w.len(), FixedGram::word_count(270, 2));
    let back = FixedGram::from_words(270, 2, g.scale(), 30, w.iter().copied()).unwrap();
    assert_eq!(back.words().collect::<Vec<_>>(), w);
    assert_eq!(back.samples(), 30);
    let short = FixedGram::from_words(270, 2, g.scale(), 30, w[1..].iter().copied());
    assert!(matches!(short, Err(SolveError::ShapeMismatch { .. })));
    let long = FixedGram::from_words(270, 2, g.scale(), 30, w.iter().copied().chain([0]));
    assert!(matches!(long, Err(SolveError::ShapeMismatch { .. })));
}

#[test]
fn other_grids_shapes_and_overflowing_magnitudes_are_refused() {
    let (phi, y) = data(20, 30, 1);
    let s = scale(&phi, &y);
    let mut a = FixedGram::new(20, 1, s).unwrap();
    let other = FixedGram::new(
        20,
        1,
        FixedScale {
            gram: s.gram + 1,
            cross: s.cross,
        },
    )
    .unwrap();
    assert!(matches!(
        a.merge(&other),
        Err(SolveError::InvalidParameter { .. })
    ));
    let wider = FixedGram::new(21, 1, s).unwrap();
    assert!(matches!(
        a.merge(&wider),
        Err(SolveError::ShapeMismatch { .. })
    ));
    // Features 2^40 times the first samples' (squared: 2^80 > 2^66) would
    // leave the i128 range: refused, and nothing is added.
    let big = Mat::<f64>::from_fn(20, 4, |i, j| phi[(i, j)] * 2f64.powi(40));
    let r = a.add_chunk(big.as_ref(), y.as_ref().subcols(0, 4), Par::Seq);
    assert!(
        matches!(r, Err(SolveError::InvalidParameter { .. })),
        "{r:?}"
    );
    assert_eq!(a.samples(), 0);
    assert!(a.words().all(|q| q == 0));
    // Non-finite features.
    let mut nan = phi.clone();
    nan[(3, 2)] = f64::NAN;
    let r = a.add_chunk(nan.as_ref(), y.as_ref(), Par::Seq);
    assert!(matches!(r, Err(SolveError::NonFinite { .. })));
    // A grid that f64 cannot scale to.
    let tiny = Mat::<f64>::from_fn(20, 2, |_, _| 1e-140);
    let r = FixedScale::from_block(tiny.as_ref(), y.as_ref().subcols(0, 2));
    assert!(
        matches!(r, Err(SolveError::InvalidParameter { .. })),
        "{r:?}"
    );
}

#[test]
fn slabs_of_words_add_up_to_the_merge() {
    // Adding another sum's words in slabs that cross panel and part
    // boundaries (300 features: panels of 256·300 − … words, then ΦYᵀ)
    // equals merging it.
    let (phi, y) = data(300, 60, 2);
    let a = sums(&phi, &y, &[(0, 25)], Par::Seq);
    let b = sums(&phi, &y, &[(25, 60)], Par::Seq);
    let mut merged = a.clone();
    merged.merge(&b).unwrap();
    let words: Vec<i128> = b.words().collect();
    for slab in [1usize, 1000, 12_345, words.len()] {
        let mut by_slab = a.clone();
        for (k, part) in words.chunks(slab).enumerate() {
            by_slab.add_words(k * slab, part).unwrap();
        }
        by_slab.absorb(b.samples()).unwrap();
        assert_eq!(
            by_slab.words().collect::<Vec<_>>(),
            merged.words().collect::<Vec<_>>(),
            "slab {slab}"
        );
        assert_eq!(by_slab.samples(), 60);
    }
    let mut beyond = a.clone();
    let r = beyond.add_words(words.len() - 1, &[1, 2]);
    assert!(matches!(r, Err(SolveError::ShapeMismatch { .. })));
}

#[test]
fn cholesky_solves_do_not_depend_on_the_thread_count() {
    // Feature ridge's primal side solves the summed equations on one
    // process; for models to be the same bits whatever its thread count,
    // the factorisation must be. At 600 features faer's parallel code
    // runs: its eigendecomposition path (`acc.path()`) gives other bits on
    // 1 and 2 threads here (measured), which is why short λ grids are
    // scored by Cholesky factorisations.
    let (phi, y) = data(600, 900, 3);
    let acc = sums(&phi, &y, &[(0, 300), (300, 900)], Par::Seq)
        .to_accumulator()
        .unwrap();
    let bits = |w: &Mat<f64>| {
        w.col_iter()
            .flat_map(|c| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for lambda in [1e-3, 1.0] {
        let a = one.install(|| acc.solve(lambda).unwrap().0);
        let b = two.install(|| acc.solve(lambda).unwrap().0);
        assert_eq!(bits(&a), bits(&b), "λ = {lambda}");
    }
}
