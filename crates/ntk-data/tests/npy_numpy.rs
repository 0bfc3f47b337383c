//! `.npy` files written by `numpy.save` (NumPy 2.4.6, see
//! `tests/fixtures/README.md`): the reader must agree with NumPy on every
//! supported dtype and refuse the rest with a typed error.

use std::path::Path;

use ntk_data::DataError;
use ntk_data::files::read_npy;
use ntk_data::npy::{DType, NpyData};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `np.arange(12).reshape(3, 4) * 0.5 - 1.25`
fn expected() -> Vec<f64> {
    (0..12).map(|k| f64::from(k) * 0.5 - 1.25).collect()
}

#[test]
fn floats_in_both_byte_orders() {
    for name in ["f64.npy", "f64_be.npy"] {
        let a = read_npy(&fixture(name)).unwrap();
        assert_eq!(a.shape, vec![3, 4]);
        assert_eq!(a.data, NpyData::F64(expected()), "{name}");
    }
    let a = read_npy(&fixture("f32.npy")).unwrap();
    assert_eq!(a.dtype(), DType::F32);
    assert_eq!(a.to_f64(), expected());
}

#[test]
fn integers() {
    let a = read_npy(&fixture("u8.npy")).unwrap();
    assert_eq!(a.shape, vec![1, 3, 4, 1]);
    assert_eq!(a.to_labels("u8").unwrap(), (0..12).collect::<Vec<_>>());
    let a = read_npy(&fixture("i32.npy")).unwrap();
    assert_eq!(a.shape, vec![3]);
    assert_eq!(a.data, NpyData::I32(vec![0, 4, 8]));
    let a = read_npy(&fixture("i64.npy")).unwrap();
    assert_eq!(a.data, NpyData::I64((0..12).collect()));
    let s = read_npy(&fixture("scalar.npy")).unwrap();
    assert!(s.shape.is_empty());
    assert_eq!(s.data, NpyData::F64(vec![3.5]));
}

#[test]
fn refused_with_reasons() {
    assert!(matches!(
        read_npy(&fixture("fortran.npy")),
        Err(DataError::Format { .. })
    ));
    assert!(matches!(
        read_npy(&fixture("bool.npy")),
        Err(DataError::UnsupportedDtype { .. })
    ));
    assert!(matches!(
        read_npy(&fixture("missing.npy")),
        Err(DataError::Io { .. })
    ));
}

#[test]
fn rows_read_by_range_equal_the_whole_array() {
    // NpyRows (inputs larger than memory) against read_npy, on NumPy's
    // files in both byte orders and in f32: every range of rows.
    use ntk_data::files::NpyRows;
    for name in ["f64.npy", "f64_be.npy", "f32.npy"] {
        let whole = read_npy(&fixture(name)).unwrap().to_f64();
        let mut rows = NpyRows::open(&fixture(name)).unwrap();
        assert_eq!(rows.shape(), &[3, 4]);
        for a in 0..=3 {
            for b in a..=3 {
                let got = rows.read_rows(a, b).unwrap();
                assert_eq!(got, whole[a * 4..b * 4], "{name} rows {a}..{b}");
            }
        }
        assert!(matches!(
            rows.read_rows(2, 4),
            Err(DataError::Length { .. })
        ));
    }
}

#[test]
fn a_truncated_or_over_long_file_is_refused_before_any_row_is_read() {
    use ntk_data::files::NpyRows;
    let bytes = std::fs::read(fixture("f64.npy")).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("npy_rows");
    std::fs::create_dir_all(&dir).unwrap();
    let short = dir.join("short.npy");
    std::fs::write(&short, &bytes[..bytes.len() - 8]).unwrap();
    assert!(matches!(
        NpyRows::open(&short),
        Err(DataError::Length { .. })
    ));
    let long = dir.join("long.npy");
    let mut more = bytes.clone();
    more.extend_from_slice(&[0; 8]);
    std::fs::write(&long, &more).unwrap();
    assert!(matches!(
        NpyRows::open(&long),
        Err(DataError::Length { .. })
    ));
    // Not a .npy at all, and a Fortran-order array.
    let text = dir.join("text.npy");
    std::fs::write(&text, b"hello, world").unwrap();
    assert!(NpyRows::open(&text).is_err());
    assert!(NpyRows::open(&fixture("fortran.npy")).is_err());
}
