//! Dense reference implementations, documented as test oracles (like
//! RustFFT's `Dft`): explicit tensor powers and sketches applied to them.

/// The Kronecker product `a ⊗ b` (index `i·len(b) + j`).
pub fn kron(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter()
        .flat_map(|x| b.iter().map(move |y| x * y))
        .collect()
}

/// The explicit tensor power `x^{⊗p}` (length `d^p`; 1 for `p = 0`).
pub fn tensor_power(x: &[f64], p: usize) -> Vec<f64> {
    (0..p).fold(vec![1.0], |acc, _| kron(&acc, x))
}

/// `⟨a, b⟩` in `f64`.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The circular convolution `(a ⊛ b)_k = Σ_i a_i b_{(k − i) mod m}`,
/// by the direct `O(m²)` sum.
pub fn circular_convolution(a: &[f64], b: &[f64]) -> Vec<f64> {
    let m = a.len();
    (0..m)
        .map(|k| (0..m).map(|i| a[i] * b[(k + m - i) % m]).sum())
        .collect()
}
