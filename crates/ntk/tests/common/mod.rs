//! Helpers shared by the `ntk` binary's test files.

use std::path::Path;

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
