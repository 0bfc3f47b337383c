//! The image path's shortcuts against the plain recursion: leading average
//! pools are applied to the images (pooling is linear, so pooling the
//! position Gram matrix equals the Gram matrix of the pooled images).
//! Checked two ways: the NNGP against the same network behind a 1×1
//! convolution with `W_std = 1`, no bias (the NNGP is unchanged, and the
//! pools then run on the position-pair state); the NNGP and NTK against the
//! network's tail on images pooled by this test's own pooling.

use faer::{Mat, Par};
use ntk_features::{ArchSpec, Input, Shape, kernels};

/// Seeded inputs without a RNG dependency: a fixed LCG in [-1, 1).
fn images(n: usize, h: usize, w: usize, c: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n * h * w * c)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn max_rel(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let scale = (0..a.nrows())
        .flat_map(|i| (0..a.ncols()).map(move |j| (i, j)))
        .map(|(i, j)| a[(i, j)].abs())
        .fold(0.0, f64::max);
    (0..a.nrows())
        .flat_map(|i| (0..a.ncols()).map(move |j| (i, j)))
        .map(|(i, j)| (a[(i, j)] - b[(i, j)]).abs() / scale)
        .fold(0.0, f64::max)
}

/// Average pooling of NHWC images with zero padding counted in the
/// average (stax's `count_include_pad`), written independently of the
/// library: output `(i, j)` averages input rows `i·sh − lo_h ..` over `kh`
/// and columns likewise.
fn pool(
    x: &[f64],
    n: usize,
    (h, w, c): (usize, usize, usize),
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    same: bool,
) -> (Vec<f64>, usize, usize) {
    let (oh, ow, lh, lw) = if same {
        let (oh, ow) = (h.div_ceil(sh), w.div_ceil(sw));
        let ph = ((oh - 1) * sh + kh).saturating_sub(h);
        let pw = ((ow - 1) * sw + kw).saturating_sub(w);
        (oh, ow, ph / 2, pw / 2)
    } else {
        ((h - kh) / sh + 1, (w - kw) / sw + 1, 0, 0)
    };
    let mut out = vec![0.0; n * oh * ow * c];
    for s in 0..n {
        for i in 0..oh {
            for j in 0..ow {
                for a in 0..kh {
                    for b in 0..kw {
                        let (r, q) = (
                            (i * sh + a) as isize - lh as isize,
                            (j * sw + b) as isize - lw as isize,
                        );
                        if r < 0 || q < 0 || r >= h as isize || q >= w as isize {
                            continue;
                        }
                        for ch in 0..c {
                            out[((s * oh + i) * ow + j) * c + ch] += x
                                [((s * h + r as usize) * w + q as usize) * c + ch]
                                / (kh * kw) as f64;
                        }
                    }
                }
            }
        }
    }
    (out, oh, ow)
}

#[test]
fn leading_pools_on_images_equal_pools_on_the_state() {
    let tail = "Conv(filter_shape=(3, 3), padding=SAME, W_std=1.3, b_std=0.2), Relu, \
                Conv(filter_shape=(2, 2), padding=VALID, W_std=1.1), Erf, GlobalAvgPool, Dense(W_std=1.2, b_std=0.1)";
    // (layer, window, strides, SAME)
    let pools = [
        (
            "AvgPool(window_shape=(2, 2), strides=(2, 2))",
            (2, 2),
            (2, 2),
            false,
        ),
        (
            "AvgPool(window_shape=(3, 3), strides=(1, 1), padding=SAME)",
            (3, 3),
            (1, 1),
            true,
        ),
        (
            "AvgPool(window_shape=(2, 3), strides=(2, 1), padding=SAME)",
            (2, 3),
            (2, 1),
            true,
        ),
    ];
    let (h, w, c) = (9, 8, 2);
    let shape = Shape::Image { h, w, c };
    let x1 = images(5, h, w, c, 1);
    let x2 = images(3, h, w, c, 2);
    let i1 = Input::Images {
        data: &x1,
        n: 5,
        h,
        w,
        c,
    };
    let i2 = Input::Images {
        data: &x2,
        n: 3,
        h,
        w,
        c,
    };
    for (layer, k, st, same) in pools {
        let build = |text: &str, s| ArchSpec::parse(text).unwrap().build(s).unwrap();
        let fast = build(&format!("{layer}, {tail}"), shape);
        let behind = build(
            &format!("Conv(filter_shape=(1, 1), W_std=1.0), {layer}, {tail}"),
            shape,
        );
        let (p1, oh, ow) = pool(&x1, 5, (h, w, c), k, st, same);
        let (p2, _, _) = pool(&x2, 3, (h, w, c), k, st, same);
        let tail_arch = build(tail, Shape::Image { h: oh, w: ow, c });
        let j1 = Input::Images {
            data: &p1,
            n: 5,
            h: oh,
            w: ow,
            c,
        };
        let j2 = Input::Images {
            data: &p2,
            n: 3,
            h: oh,
            w: ow,
            c,
        };
        for (x2, y2) in [(None, None), (Some(i2), Some(j2))] {
            let kf = kernels(&fast, i1, x2, Par::Seq, &mut |_, _| {}).unwrap();
            let kb = kernels(&behind, i1, x2, Par::rayon(2), &mut |_, _| {}).unwrap();
            let kt = kernels(&tail_arch, j1, y2, Par::Seq, &mut |_, _| {}).unwrap();
            // Each route sums the same products of inputs (at most 9·9·2
            // terms per entry) in another order, then runs the same
            // recursion: rounding differences of a few ulps of the largest
            // entry, far below 1e-13.
            for (name, e) in [
                ("NNGP vs 1x1 conv", max_rel(&kb.nngp, &kf.nngp)),
                ("NNGP vs pooled images", max_rel(&kt.nngp, &kf.nngp)),
                ("NTK vs pooled images", max_rel(&kt.ntk, &kf.ntk)),
            ] {
                assert!(e < 1e-13, "{layer}: {name}: relative difference {e:e}");
            }
            for (f, p) in [
                (&kf.ntk_diag1, &kt.ntk_diag1),
                (&kf.nngp_diag2, &kb.nngp_diag2),
            ] {
                for (u, v) in f.iter().zip(p) {
                    assert!(
                        (u - v).abs() <= 1e-13 * v.abs(),
                        "{layer}: diagonal {u} vs {v}"
                    );
                }
            }
        }
    }
}
