//! The 1797 8×8 handwritten digits (UCI optdigits test part, as shipped by
//! scikit-learn's `load_digits`), embedded so that demos and tests run
//! without network. Credit: E. Alpaydin and C. Kaynak (1998), UCI Machine
//! Learning Repository, CC BY 4.0 (`crates/ntk-data/data/README.md`).

use crate::cifar::ImageSet;

const IMAGES: &[u8] = include_bytes!("../data/digits_images.u8");
const LABELS: &[u8] = include_bytes!("../data/digits_labels.u8");

/// Number of images.
pub const N: usize = 1797;

/// The digits as `1797 × 8 × 8 × 1` images with values 0..=16 and labels
/// 0..=9.
pub fn load() -> ImageSet {
    debug_assert_eq!(IMAGES.len(), N * 64);
    debug_assert_eq!(LABELS.len(), N);
    ImageSet {
        data: IMAGES.iter().map(|&v| f32::from(v)).collect(),
        labels: LABELS.iter().map(|&l| usize::from(l)).collect(),
        n: N,
        h: 8,
        w: 8,
        c: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_range_and_balance() {
        let d = load();
        assert_eq!(d.data.len(), N * 64);
        assert!(d.data.iter().all(|&v| (0.0..=16.0).contains(&v)));
        let mut counts = [0usize; 10];
        for &l in &d.labels {
            counts[l] += 1;
        }
        // scikit-learn's documented class sizes lie between 174 and 183.
        assert!(
            counts.iter().all(|&c| (174..=183).contains(&c)),
            "{counts:?}"
        );
        // The first image is a 0 (scikit-learn's documented example).
        assert_eq!(d.labels[0], 0);
        assert_eq!(&d.data[..8], &[0., 0., 5., 13., 9., 1., 0., 0.]);
    }
}
