//! Loading CIFAR-10 from a directory: every batch file must exist with the
//! official size; damaged files are typed errors naming the path.

use std::path::Path;

use ntk_data::DataError;
use ntk_data::cifar::{FILE_BYTES, TRAIN_FILES};
use ntk_data::files::load_cifar10;

fn fresh(name: &str) -> std::path::PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cifar")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("cifar-10-batches-bin")).unwrap();
    d
}

#[test]
fn missing_truncated_and_oversized_files_are_refused() {
    let d = fresh("sizes");
    let inner = d.join("cifar-10-batches-bin");
    // Missing: names the first file.
    match load_cifar10(&d) {
        Err(DataError::Io { path, .. }) => assert!(path.ends_with(TRAIN_FILES[0])),
        other => panic!("{other:?}"),
    }
    // Truncated (a whole number of records, but not 10 000) and oversized.
    for (len, name) in [
        (3073 * 7, "truncated"),
        (FILE_BYTES as usize + 1, "oversized"),
    ] {
        std::fs::write(inner.join(TRAIN_FILES[0]), vec![0u8; len]).unwrap();
        match load_cifar10(&d) {
            Err(DataError::Length { expected, got, .. }) => {
                assert_eq!((expected, got), (FILE_BYTES, len as u64), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // Right size but a corrupt label byte.
    let mut bytes = vec![0u8; FILE_BYTES as usize];
    bytes[3073 * 5] = 200;
    std::fs::write(inner.join(TRAIN_FILES[0]), bytes).unwrap();
    match load_cifar10(&d) {
        Err(DataError::Format { reason, .. }) => assert!(reason.contains("record 5"), "{reason}"),
        other => panic!("{other:?}"),
    }
}
