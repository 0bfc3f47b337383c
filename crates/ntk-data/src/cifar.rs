//! CIFAR-10, binary version ("suitable for C programs").
//!
//! Each batch file holds 10 000 records of 3073 bytes: one label byte
//! (0–9), then 3072 pixel bytes as three 32×32 planes (R, G, B), each row
//! by row. Records are converted to NHWC.

use crate::error::{DataError, Result};

/// Bytes per record: label + 3·32·32 pixels.
pub const RECORD_BYTES: usize = 1 + 3 * 32 * 32;
/// Records per batch file.
pub const RECORDS_PER_FILE: usize = 10_000;
/// Exact size of every batch file.
pub const FILE_BYTES: u64 = (RECORD_BYTES * RECORDS_PER_FILE) as u64;
/// The training batches, in order.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test batch.
pub const TEST_FILE: &str = "test_batch.bin";
/// Directory the official archive extracts to.
pub const ARCHIVE_DIR: &str = "cifar-10-batches-bin";
/// Class names, by label.
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Labelled images, NHWC, `f32` pixel values as stored (no scaling).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    /// `n·h·w·c` values, sample-major, then row, column, channel.
    pub data: Vec<f32>,
    /// One class per image.
    pub labels: Vec<usize>,
    /// Images.
    pub n: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl ImageSet {
    /// Values per image.
    pub fn image_len(&self) -> usize {
        self.h * self.w * self.c
    }

    /// The images with the given indices, in that order.
    ///
    /// # Panics
    /// If an index is out of range (a caller's logic error).
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let len = self.image_len();
        let mut data = Vec::with_capacity(indices.len() * len);
        for &i in indices {
            data.extend_from_slice(&self.data[i * len..(i + 1) * len]);
        }
        ImageSet {
            data,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            n: indices.len(),
            ..*self
        }
    }

    /// Appends `other` (same image shape).
    ///
    /// # Errors
    /// [`DataError::Shape`] if the image shapes differ.
    pub fn extend(&mut self, other: &ImageSet) -> Result<()> {
        if (self.h, self.w, self.c) != (other.h, other.w, other.c) {
            return Err(DataError::Shape {
                what: "image shape (h, w, c)".into(),
                expected: format!("{:?}", (self.h, self.w, self.c)),
                got: format!("{:?}", (other.h, other.w, other.c)),
            });
        }
        self.data.extend_from_slice(&other.data);
        self.labels.extend_from_slice(&other.labels);
        self.n += other.n;
        Ok(())
    }
}

/// Parses CIFAR-10 records. Any positive whole number of records is
/// accepted here (the file loader also insists on the exact official size).
///
/// # Errors
/// [`DataError::Length`] for an empty buffer or one that is not a whole
/// number of records; [`DataError::Format`] for a label above 9.
pub fn parse_batch(bytes: &[u8], what: &str) -> Result<ImageSet> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_BYTES) {
        let whole = (bytes.len() / RECORD_BYTES).max(1) * RECORD_BYTES;
        return Err(DataError::Length {
            what: format!("{what} (a whole number of {RECORD_BYTES}-byte records)"),
            expected: whole as u64,
            got: bytes.len() as u64,
        });
    }
    let n = bytes.len() / RECORD_BYTES;
    let plane = 32 * 32;
    let mut data = vec![0f32; n * 3 * plane];
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = rec[0];
        if label > 9 {
            return Err(DataError::format(
                what,
                "CIFAR-10 batch",
                format!("record {i} has label {label}; labels are 0..=9"),
            ));
        }
        labels.push(usize::from(label));
        let img = &mut data[i * 3 * plane..(i + 1) * 3 * plane];
        for (ch, chan) in rec[1..].chunks_exact(plane).enumerate() {
            for (p, &v) in chan.iter().enumerate() {
                img[p * 3 + ch] = f32::from(v);
            }
        }
    }
    Ok(ImageSet {
        data,
        labels,
        n,
        h: 32,
        w: 32,
        c: 3,
    })
}

/// The training and test sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Cifar10 {
    /// 50 000 training images (batches 1–5 in order).
    pub train: ImageSet,
    /// 10 000 test images.
    pub test: ImageSet,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: u8, seed: u8) -> Vec<u8> {
        let mut r = vec![label];
        r.extend((0..3072).map(|k| (k as u8).wrapping_mul(seed).wrapping_add(seed)));
        r
    }

    #[test]
    fn converts_planes_to_nhwc() {
        let mut bytes = record(3, 7);
        bytes.extend(record(9, 11));
        let set = parse_batch(&bytes, "synthetic").unwrap();
        assert_eq!((set.n, set.h, set.w, set.c), (2, 32, 32, 3));
        assert_eq!(set.labels, vec![3, 9]);
        for (i, rec) in [record(3, 7), record(9, 11)].iter().enumerate() {
            for row in 0..32 {
                for col in 0..32 {
                    for ch in 0..3 {
                        let want = rec[1 + ch * 1024 + row * 32 + col];
                        let got = set.data[i * 3072 + (row * 32 + col) * 3 + ch];
                        assert_eq!(got, f32::from(want));
                    }
                }
            }
        }
    }

    #[test]
    fn refuses_partial_records_and_bad_labels() {
        let bytes = record(1, 3);
        assert!(matches!(
            parse_batch(&bytes[..100], "t"),
            Err(DataError::Length { .. })
        ));
        assert!(matches!(
            parse_batch(&[], "t"),
            Err(DataError::Length { .. })
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            parse_batch(&long, "t"),
            Err(DataError::Length { .. })
        ));
        let bad = record(10, 3);
        assert!(matches!(
            parse_batch(&bad, "t"),
            Err(DataError::Format { .. })
        ));
    }

    #[test]
    fn select_and_extend() {
        let mut bytes = record(0, 1);
        bytes.extend(record(1, 2));
        bytes.extend(record(2, 3));
        let set = parse_batch(&bytes, "t").unwrap();
        let sub = set.select(&[2, 0]);
        assert_eq!(sub.labels, vec![2, 0]);
        assert_eq!(&sub.data[..3072], &set.data[2 * 3072..3 * 3072]);
        let mut a = set.select(&[0]);
        a.extend(&set.select(&[1, 2])).unwrap();
        assert_eq!(a, set);
    }
}
