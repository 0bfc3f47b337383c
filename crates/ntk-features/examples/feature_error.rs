//! Relative Frobenius error of feature maps against the exact kernel:
//! `cargo run --release -p ntk-features --example feature_error -- ARCH D [n] [d]`.
#![allow(clippy::print_stdout)]

use faer::{Mat, Par};
use ntk_features::{
    ArchSpec, FeatureConfig, FeatureMap, Input, KernelKind, Method, Shape, Toggle, gram_error,
    kernels,
};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arch_s = args.first().map_or("Dense(W_std=1.5, b_std=0.1), Gelu, Dense(W_std=1.5, b_std=0.1), Gelu, Dense(W_std=1.5, b_std=0.1), Gelu, Dense(W_std=1.5)", |s| s.as_str());
    let dim: usize = args.get(1).map_or(8192, |s| s.parse().unwrap());
    let n: usize = args.get(2).map_or(100, |s| s.parse().unwrap());
    let d: usize = args.get(3).map_or(784, |s| s.parse().unwrap());
    let method: Method = args.get(4).map_or(Method::Hermite, |s| s.parse().unwrap());
    let degree: Option<usize> = args.get(5).and_then(|s| s.parse().ok());
    let image = args.get(6).map(|s| s == "image").unwrap_or(false);
    let (shape, x): (Shape, Vec<f64>) = if let Ok(path) = std::env::var("MNIST_VECTORS") {
        // MNIST_VECTORS=path/to/mnist5k_images.u8: the first n digits as raw
        // 784-vectors scaled to [0, 1] (`d` is ignored); CENTRE=1 subtracts
        // the sample's mean digit.
        let raw = std::fs::read(path).unwrap();
        let mut x: Vec<f64> = raw[..n * 784]
            .iter()
            .map(|&v| f64::from(v) / 255.0)
            .collect();
        if std::env::var("CENTRE").is_ok_and(|v| v == "1") {
            for i in 0..784 {
                let m = (0..n).map(|j| x[j * 784 + i]).sum::<f64>() / n as f64;
                (0..n).for_each(|j| x[j * 784 + i] -= m);
            }
        }
        // SPREAD=1: each digit rescaled to an RMS (sqrt(q)) spread
        // log-uniformly over [0.3, 3], real inputs of several norms.
        if std::env::var("SPREAD").is_ok_and(|v| v == "1") {
            for j in 0..n {
                let v = &mut x[j * 784..(j + 1) * 784];
                let rms = (v.iter().map(|a| a * a).sum::<f64>() / 784.0).sqrt();
                let target = 0.3 * 10f64.powf(j as f64 / (n - 1).max(1) as f64);
                if rms > 0.0 {
                    v.iter_mut().for_each(|a| *a *= target / rms);
                }
            }
        }
        (Shape::Vector { dim: 784 }, x)
    } else if let Ok(path) = std::env::var("MNIST") {
        // MNIST=path/to/mnist5k_images.u8: real digits padded to 32×32, three
        // channels (the digit, its one-pixel shift, its negative), each image
        // centred and scaled to unit norm (the 2022 protocol's per-image step).
        let raw = std::fs::read(path).unwrap();
        let skip: usize = std::env::var("MNIST_SKIP").map_or(0, |v| v.parse().unwrap());
        let mut x = vec![0.0; n * 32 * 32 * 3];
        for j in 0..n {
            let img = &raw[(j + skip) * 784..(j + skip + 1) * 784];
            let px = |r: usize, c: usize| -> f64 {
                if (2..30).contains(&r) && (2..30).contains(&c) {
                    f64::from(img[(r - 2) * 28 + (c - 2)]) / 255.0
                } else {
                    0.0
                }
            };
            let o = &mut x[j * 3072..(j + 1) * 3072];
            for r in 0..32 {
                for c in 0..32 {
                    o[(r * 32 + c) * 3] = px(r, c);
                    o[(r * 32 + c) * 3 + 1] = if c > 0 { px(r, c - 1) } else { 0.0 };
                    o[(r * 32 + c) * 3 + 2] = 1.0 - px(r, c);
                }
            }
            let m = o.iter().sum::<f64>() / 3072.0;
            o.iter_mut().for_each(|v| *v -= m);
            let nrm = o.iter().map(|v| v * v).sum::<f64>().sqrt();
            o.iter_mut().for_each(|v| *v /= nrm);
        }
        (Shape::Image { h: 32, w: 32, c: 3 }, x)
    } else if image && std::env::var("DATA").is_ok_and(|v| v == "gauss") {
        // DATA=gauss with `image`: i.i.d. standard normal pixels.
        let s = (d as f64).sqrt() as usize;
        let u = |k: usize| {
            (((k as f64 + 0.5) * 0.7311).sin() * 43758.5453)
                .fract()
                .abs()
                .max(1e-300)
        };
        let x = (0..n * s * s * 3)
            .map(|k| {
                (-2.0 * u(2 * k).ln()).sqrt() * (2.0 * std::f64::consts::PI * u(2 * k + 1)).cos()
            })
            .collect();
        (Shape::Image { h: s, w: s, c: 3 }, x)
    } else if image {
        let s = (d as f64).sqrt() as usize;
        (
            Shape::Image { h: s, w: s, c: 3 },
            (0..n * s * s * 3)
                .map(|k| ((k as f64 * 0.7311).sin() * 43758.5453).fract() * 2.0 - 1.0)
                .collect(),
        )
    } else if std::env::var("DATA").is_ok_and(|v| v == "gauss") {
        // DATA=gauss: i.i.d. standard normal entries (the peers' `fc` workload's distribution).
        let u = |k: usize| {
            (((k as f64 + 0.5) * 0.7311).sin() * 43758.5453)
                .fract()
                .abs()
                .max(1e-300)
        };
        let x = (0..n * d)
            .map(|k| {
                (-2.0 * u(2 * k).ln()).sqrt() * (2.0 * std::f64::consts::PI * u(2 * k + 1)).cos()
            })
            .collect();
        (Shape::Vector { dim: d }, x)
    } else {
        // Norms spread log-uniformly over [0.1, 10] (times sqrt(d) so that q = |x|^2/d spans 1e-2..1e2).
        let mut x = vec![0.0; n * d];
        for j in 0..n {
            let mut s = 0.0;
            for i in 0..d {
                let v = ((((j * d + i) as f64) * 0.7311).sin() * 43758.5453).fract() - 0.5;
                x[j * d + i] = v;
                s += v * v;
            }
            // NORMS=raw: Euclidean norms in [0.1, 10]; otherwise RMS (sqrt(q)) in [0.1, 10].
            let raw = std::env::var("NORMS").is_ok_and(|v| v == "raw");
            let scale = if raw { 1.0 } else { (d as f64).sqrt() };
            let target = 10f64.powf(-1.0 + 2.0 * j as f64 / (n - 1).max(1) as f64) * scale;
            for i in 0..d {
                x[j * d + i] *= target / s.sqrt();
            }
        }
        (Shape::Vector { dim: d }, x)
    };
    let arch = ArchSpec::parse(arch_s).unwrap().build(shape).unwrap();
    let t = Instant::now();
    let k = match shape {
        Shape::Vector { .. } => kernels(
            &arch,
            Input::Vectors(faer::MatRef::from_column_major_slice(&x, d, n)),
            None,
            Par::rayon(0),
            &mut |_, _| {},
        )
        .unwrap(),
        Shape::Image { h, w, c } => kernels(
            &arch,
            Input::Images {
                data: &x,
                n,
                h,
                w,
                c,
            },
            None,
            Par::rayon(0),
            &mut |_, _| {},
        )
        .unwrap(),
    };
    println!("exact: {:.2} s", t.elapsed().as_secs_f64());
    for kernel in [KernelKind::Nngp, KernelKind::Ntk] {
        let kk: &Mat<f64> = if kernel == KernelKind::Nngp {
            &k.nngp
        } else {
            &k.ntk
        };
        let tr: f64 = (0..n).map(|i| kk[(i, i)]).sum();
        let f2: f64 = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| kk[(i, j)].powi(2))
            .sum();
        println!(
            "{kernel:?}: error of an ideal Gaussian projection of the exact features to D: {:.3} %",
            100.0 * ((1.0 + tr * tr / f2) / dim as f64).sqrt()
        );
        let mut errs = Vec::new();
        let first: u64 = std::env::var("SEED0").map_or(0, |v| v.parse().unwrap());
        for seed in first..first + 3 {
            let mut cfg = FeatureConfig::new(dim, method, kernel, seed);
            cfg.degree = degree;
            // MATCH=0 / MATCH=1: plain or tail-matched truncation (default: by input kind).
            match std::env::var("MATCH").as_deref() {
                Ok("0") => cfg.match_tails = Toggle::Off,
                Ok("1") => cfg.match_tails = Toggle::On,
                _ => {}
            }
            // CAL=0 / CAL=1: calibration to the exact diagonal off or on (default: by method).
            match std::env::var("CAL").as_deref() {
                Ok("0") => cfg.calibrate = Toggle::Off,
                Ok("1") => cfg.calibrate = Toggle::On,
                _ => {}
            }
            if let Ok(v) = std::env::var("INNER") {
                cfg.inner_dim = Some(v.parse().unwrap());
            }
            if let Ok(v) = std::env::var("NODE") {
                cfg.node_dim = Some(v.parse().unwrap());
            }
            if let Ok(v) = std::env::var("POLY") {
                cfg.polynomial = v.parse().unwrap();
            }
            if cfg.polynomial == ntk_features::Polynomial::Data {
                // Fit on every other sample (at most FIT of them, default 256):
                // the error below is then measured on fitted and unseen samples alike.
                let fit: usize = std::env::var("FIT").map_or(256, |v| v.parse().unwrap());
                let cols: Vec<usize> = (0..n).step_by(2).take(fit).collect();
                let sub = Mat::<f64>::from_fn(d, cols.len(), |i, j| x[cols[j] * d + i]);
                let t = Instant::now();
                cfg.fit_polynomials(&arch, sub.as_ref()).unwrap();
                if seed == first {
                    println!(
                        "  polynomial fit on {} samples: {:.3} s",
                        cols.len(),
                        t.elapsed().as_secs_f64()
                    );
                    for p in &cfg.data_polynomials {
                        println!("    kappa1 {:?} kappa0 {:?}", p.kappa1, p.kappa0);
                    }
                }
            }
            let t = Instant::now();
            let map = FeatureMap::<f32>::new(&arch, shape, &cfg).unwrap();
            let setup = t.elapsed().as_secs_f64();
            let xf: Vec<f32> = x.iter().map(|v| *v as f32).collect();
            let t = Instant::now();
            let z = map.apply(&xf, Par::rayon(0), &mut |_, _| {}).unwrap();
            let el = t.elapsed().as_secs_f64();
            let kk: &Mat<f64> = if kernel == KernelKind::Nngp {
                &k.nngp
            } else {
                &k.ntk
            };
            let e = gram_error(z.as_ref(), kk.as_ref()).unwrap();
            if std::env::var("DIAG").is_ok() {
                let mut zz = z.clone();
                for i in 0..zz.ncols() {
                    let nrm: f64 = (0..zz.nrows())
                        .map(|j| (zz[(j, i)] as f64).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    let s = (kk[(i, i)].sqrt() / nrm) as f32;
                    for j in 0..zz.nrows() {
                        zz[(j, i)] *= s;
                    }
                }
                let e2 = gram_error(zz.as_ref(), kk.as_ref()).unwrap();
                println!("  seed {seed}: diag-normalised error {:.4} %", 100.0 * e2);
            }
            {
                // The error against the spread of the kernel's entries: ‖ZZᵀ − K‖_F / ‖K − mean(K)‖_F,
                // and the range of the exact cosines (how far from rank one K is).
                let n = kk.nrows();
                let mean = (0..n)
                    .flat_map(|i| (0..n).map(move |j| (i, j)))
                    .map(|(i, j)| kk[(i, j)])
                    .sum::<f64>()
                    / (n * n) as f64;
                let (mut num, mut den, mut cmin, mut cmax) = (0.0, 0.0, 1f64, -1f64);
                for i in 0..n {
                    for j in 0..n {
                        let g: f64 = (0..z.nrows())
                            .map(|r| f64::from(z[(r, i)]) * f64::from(z[(r, j)]))
                            .sum();
                        num += (g - kk[(i, j)]).powi(2);
                        den += (kk[(i, j)] - mean).powi(2);
                        if i != j {
                            let c = kk[(i, j)] / (kk[(i, i)] * kk[(j, j)]).sqrt();
                            cmin = cmin.min(c);
                            cmax = cmax.max(c);
                        }
                    }
                }
                println!(
                    "  seed {seed}: error vs spread {:.3} % (exact cosines {cmin:.4}..{cmax:.4})",
                    100.0 * (num / den).sqrt()
                );
            }
            println!(
                "{kernel:?} seed {seed}: D'={} degrees {:?} error {:.4} % time {:.3} ms/sample, setup {:.3} s",
                map.dim(),
                map.degrees(),
                100.0 * e,
                1e3 * el / n as f64,
                setup
            );
            errs.push(e);
        }
        println!(
            "{kernel:?} mean error {:.4} %",
            100.0 * errs.iter().sum::<f64>() / 3.0
        );
    }
}
