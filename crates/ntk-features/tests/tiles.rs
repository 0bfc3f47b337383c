//! Exact kernels by tiles (`KernelTiles`): every split, in any piece size
//! and thread count, assembles into the bits of `kernels` — the matrix
//! `ntk kernel --tile` and MPI ranks must reproduce. The oracle is the
//! single call (itself checked against neural-tangents elsewhere), which
//! computes its columns by the same column-block function; what differs,
//! and what this tests, is the split, the pieces, the diagonal and the
//! assembly (mirroring for the symmetric case, independent code here): a
//! tile that skipped the diagonal's own recursion (the values then differ
//! in the 16th digit; mutation applied by hand), a split off a column block
//! boundary, or a piece that dropped or repeated a column fails.

use dual_activations::Activation;
use faer::{Mat, MatRef, Par};
use ntk_features::{
    ArchSpec, Architecture, FeatureError, Input, KernelTiles, Kernels, Layer, Padding, Shape, Tile,
    kernels,
};
use std::ops::ControlFlow;

mod common;
use common::{cnn, fc, images, vectors};

/// NHWC images as an input.
fn image_input(data: &[f64], n: usize, h: usize, w: usize, c: usize) -> Input<'_> {
    Input::Images { data, n, h, w, c }
}

fn go(_: usize, _: usize) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// The matrices the tiles describe; every entry must be set exactly once.
fn assemble(n1: usize, n2: usize, tiles: &[Tile]) -> (Mat<f64>, Mat<f64>) {
    let mut k = Mat::from_fn(n1, n2, |_, _| f64::NAN);
    let mut t = Mat::from_fn(n1, n2, |_, _| f64::NAN);
    let mut set = vec![0u8; n1 * n2];
    let mut put = |i: usize, j: usize, a: f64, b: f64, k: &mut Mat<f64>, t: &mut Mat<f64>| {
        set[i * n2 + j] += 1;
        k[(i, j)] = a;
        t[(i, j)] = b;
    };
    for tile in tiles {
        for j in tile.columns.clone() {
            let c = j - tile.columns.start;
            for i in 0..tile.rows_of(j) {
                let (a, b) = (tile.nngp[(i, c)], tile.ntk[(i, c)]);
                put(i, j, a, b, &mut k, &mut t);
                if tile.upper && i != j {
                    put(j, i, a, b, &mut k, &mut t);
                }
            }
        }
    }
    assert!(set.iter().all(|&s| s == 1), "every entry exactly once");
    (k, t)
}

fn same_bits(a: MatRef<'_, f64>, b: MatRef<'_, f64>, what: &str) {
    assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            assert_eq!(
                a[(i, j)].to_bits(),
                b[(i, j)].to_bits(),
                "{what}: entry ({i}, {j}): {} vs {}",
                a[(i, j)],
                b[(i, j)]
            );
        }
    }
}

/// Every split into `parts`, every piece size, on one thread, against the
/// single call on two.
fn check(arch: &Architecture, x1: Input<'_>, x2: Option<Input<'_>>, upper: bool) {
    let whole: Kernels = kernels(arch, x1, x2, Par::rayon(2), &mut |_, _| {}).unwrap();
    let tiles = KernelTiles::new(arch, x1, x2, Par::Seq).unwrap();
    assert_eq!(tiles.upper(), upper);
    let (n1, n2) = tiles.shape();
    for parts in [1, 2, 3, 5, 8] {
        for max_entries in [1, 700, usize::MAX] {
            let mut got = Vec::new();
            for range in tiles.split(parts) {
                for piece in tiles.pieces(range, max_entries) {
                    got.push(tiles.compute(piece, Par::Seq, &mut go).unwrap());
                }
            }
            let (k, t) = assemble(n1, n2, &got);
            let what = format!("{parts} parts, pieces of {max_entries}");
            same_bits(k.as_ref(), whole.nngp.as_ref(), &format!("NNGP, {what}"));
            same_bits(t.as_ref(), whole.ntk.as_ref(), &format!("NTK, {what}"));
        }
    }
}

#[test]
fn vector_tiles_assemble_into_the_single_call() {
    // 600 columns: two full 256-column blocks and a short one.
    let x = vectors(6, 600, 1);
    check(
        &fc(3, Activation::Relu),
        Input::Vectors(x.as_ref()),
        None,
        true,
    );
    let (a, b) = (vectors(6, 300, 2), vectors(6, 520, 3));
    check(
        &fc(2, Activation::Gelu),
        Input::Vectors(a.as_ref()),
        Some(Input::Vectors(b.as_ref())),
        false,
    );
}

#[test]
fn branching_and_quadrature_networks_tile_too() {
    let x = vectors(5, 300, 4);
    let residual = ArchSpec::parse(
        "Dense(W_std=1.5), FanOut(2), parallel(Identity, serial(Relu, Dense)), FanInSum, Relu, Dense",
    )
    .unwrap()
    .build(Shape::Vector { dim: 5 })
    .unwrap();
    check(&residual, Input::Vectors(x.as_ref()), None, true);
    // A quadrature dual depends on its arguments' order: K(X, X) is then
    // computed whole (no mirroring), as the single call does.
    let y = vectors(5, 40, 5);
    let quad = fc(2, Activation::numerical("tanh").unwrap());
    check(&quad, Input::Vectors(y.as_ref()), None, false);
}

#[test]
fn image_tiles_assemble_into_the_single_call() {
    let data = images(6, 6, 6, 2, 1);
    let x = image_input(&data, 6, 6, 6, 2);
    check(&cnn(), x, None, true);
    let other = images(4, 6, 6, 2, 2);
    let y = image_input(&other, 4, 6, 6, 2);
    check(&cnn(), x, Some(y), false);
}

#[test]
fn splits_partition_the_columns_and_balance_the_pairs() {
    let x = vectors(3, 1000, 6);
    let arch = fc(1, Activation::Relu);
    let tiles = KernelTiles::new(&arch, Input::Vectors(x.as_ref()), None, Par::Seq).unwrap();
    assert_eq!(tiles.unit(), 256);
    assert_eq!(tiles.pairs(0..1000), 1000 * 1001 / 2);
    for parts in 1..=6 {
        let split = tiles.split(parts);
        assert_eq!(split.len(), parts);
        assert_eq!(split[0].start, 0);
        assert_eq!(split[parts - 1].end, 1000);
        for w in split.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        for r in &split {
            // Units start at multiples of 256; empty parts may sit at the end.
            assert!(r.start.is_multiple_of(256) || r.start == 1000, "{r:?}");
            assert!(tiles.compute(r.clone(), Par::Seq, &mut go).is_ok());
        }
    }
    // Images: units of one column, so parts are balanced to within one
    // column's pairs: part p ends at the first column where the cumulative
    // pairs reach p/parts of the total.
    let data = images(40, 2, 2, 1, 3);
    let img = image_input(&data, 40, 2, 2, 1);
    let arch = Architecture::new(vec![
        Layer::Conv {
            filter: (1, 1),
            strides: (1, 1),
            padding: Padding::Same,
            w_std: 1.0,
            b_std: None,
        },
        Layer::Activation(Activation::Relu),
        Layer::GlobalAvgPool,
        Layer::Dense {
            w_std: 1.0,
            b_std: None,
        },
    ])
    .unwrap();
    let tiles = KernelTiles::new(&arch, img, None, Par::Seq).unwrap();
    let total = tiles.pairs(0..40);
    for parts in [2, 3, 4, 7] {
        let split = tiles.split(parts);
        for r in &split {
            let got = tiles.pairs(r.clone());
            // One column holds at most 40 pairs.
            assert!(
                got.abs_diff(total / parts as u128) <= 40,
                "{r:?}: {got} pairs"
            );
        }
    }
}

#[test]
fn ranges_off_the_units_are_refused() {
    let x = vectors(3, 600, 7);
    let arch = fc(1, Activation::Relu);
    let tiles = KernelTiles::new(&arch, Input::Vectors(x.as_ref()), None, Par::Seq).unwrap();
    for bad in [100..300, 0..601] {
        assert!(matches!(
            tiles.compute(bad, Par::Seq, &mut go),
            Err(FeatureError::Tile { .. })
        ));
    }
    assert!(tiles.compute(512..600, Par::Seq, &mut go).is_ok());
    assert_eq!(
        tiles
            .compute(256..256, Par::Seq, &mut go)
            .unwrap()
            .nngp
            .ncols(),
        0
    );
}
