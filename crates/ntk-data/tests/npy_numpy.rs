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
