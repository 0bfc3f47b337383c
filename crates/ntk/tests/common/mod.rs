//! Helpers shared by the `ntk` binary's test files (each file uses some of
//! them, hence `dead_code` allowed).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ntk_data::npy::{NpyElement, write_npy};

/// A fresh, empty directory `group/name` under cargo's test scratch space.
pub(crate) fn fresh_dir(group: &str, name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(group)
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `data` as a `.npy` file of `shape`.
pub(crate) fn save<T: NpyElement>(path: &Path, shape: &[usize], data: &[T]) {
    let mut buf = Vec::new();
    write_npy(&mut buf, shape, data).unwrap();
    std::fs::write(path, buf).unwrap();
}

/// The first 600 embedded digits flattened to vectors in [0, 1] (values
/// k/16, exact in binary and decimal), written to `d` as `x.npy`, their
/// labels as `y.npy` (int64) and the labels scaled to [0, 1] as `v.npy`
/// (regression targets).
pub(crate) fn digits(d: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let set = ntk_data::digits::load();
    let n = 600;
    let x: Vec<f64> = set.data[..n * 64]
        .iter()
        .map(|&v| f64::from(v) / 16.0)
        .collect();
    let y: Vec<i64> = set.labels[..n].iter().map(|&l| l as i64).collect();
    let v: Vec<f64> = set.labels[..n].iter().map(|&l| l as f64 / 9.0).collect();
    let (xp, yp, vp) = (d.join("x.npy"), d.join("y.npy"), d.join("v.npy"));
    save(&xp, &[n, 64], &x);
    save(&yp, &[n], &y);
    save(&vp, &[n], &v);
    (xp, yp, vp)
}

/// Six CIFAR-10 batch files of the official size; class `k` images are
/// brighter in channel `k % 3` so the labels are learnable.
pub(crate) fn write_cifar(dir: &Path) {
    let names = [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ];
    for (f, name) in names.iter().enumerate() {
        let mut bytes = Vec::with_capacity(10_000 * 3073);
        for i in 0..10_000usize {
            let label = (i * 7 + f) % 10;
            bytes.push(label as u8);
            for ch in 0..3 {
                for p in 0..1024usize {
                    let base = ((p * 31 + i * 17 + ch * 5) % 97) as u8;
                    let bright = if ch == label % 3 {
                        100 + 10 * (label as u8 / 3)
                    } else {
                        0
                    };
                    bytes.push(base.saturating_add(bright));
                }
            }
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
