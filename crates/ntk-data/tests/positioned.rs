//! `NpyPositioned`: an array filled by row segments in any order from two
//! handles reads back as the array written in order (`write_npy`'s bytes),
//! segments outside it are refused, and an unfinished file leaves nothing.

use std::path::PathBuf;

use ntk_data::DataError;
use ntk_data::files::{NpyPositioned, read, temp_path, write_npy};

fn fresh(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("positioned");
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    let _ = std::fs::remove_file(&p);
    let _ = std::fs::remove_file(temp_path(&p));
    p
}

#[test]
fn segments_in_any_order_give_the_ordered_file() {
    let (rows, cols) = (5, 7);
    let value = |i: usize, j: usize| (i * 10 + j) as f64 * 0.25 - 3.0;
    let want = fresh("ordered.npy");
    let data: Vec<f64> = (0..rows * cols)
        .map(|k| value(k / cols, k % cols))
        .collect();
    write_npy(&want, &[rows, cols], &data, false).unwrap();

    let got = fresh("positioned.npy");
    let mut owner = NpyPositioned::create(&got, [rows, cols], false).unwrap();
    let mut other = NpyPositioned::open(&got, [rows, cols]).unwrap();
    // Rows backwards, each in two segments, split across the two handles.
    for i in (0..rows).rev() {
        let row: Vec<f64> = (0..cols).map(|j| value(i, j)).collect();
        other.write_row(i, 3, &row[3..]).unwrap();
        owner.write_row(i, 0, &row[..3]).unwrap();
    }
    assert!(!got.exists(), "not under its name before finish");
    other.finish().unwrap();
    owner.finish().unwrap();
    assert_eq!(read(&got).unwrap(), read(&want).unwrap());
    assert!(!temp_path(&got).exists());
}

#[test]
fn bad_segments_and_unfinished_files() {
    let p = fresh("bad.npy");
    let mut w = NpyPositioned::create(&p, [2, 3], false).unwrap();
    for (row, col, len) in [(2, 0, 1), (0, 2, 2), (1, 4, 0)] {
        assert!(matches!(
            w.write_row(row, col, &vec![1.0; len]),
            Err(DataError::Shape { .. })
        ));
    }
    assert!(matches!(
        NpyPositioned::open(&p, [3, 3]),
        Err(DataError::Shape { .. })
    ));
    drop(w);
    assert!(!p.exists() && !temp_path(&p).exists());
    // An existing output is not replaced unless forced.
    std::fs::write(&p, b"mine").unwrap();
    assert!(NpyPositioned::create(&p, [1, 1], false).is_err());
    assert_eq!(std::fs::read(&p).unwrap(), b"mine");
}
