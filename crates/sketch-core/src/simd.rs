//! The inner loops every Hadamard sketch spends its time in — the
//! Walsh–Hadamard transform, the gather of sampled rows, and the signed
//! sum of patch sketches — with an AVX2 build chosen at run time.
//!
//! Both builds give the same bits. The transform applies its stages in the
//! same order (`h = 1, 2, 4, …`, each `u + v` / `u − v` with `u` the lower
//! index) whatever the grouping of stages into passes, a gather only
//! copies and scales, one rounding per entry, and a signed sum does one
//! unfused multiply and add per entry.

use crate::real::Real;

/// `x ← H x` for a power-of-two length (the portable algorithm): the first
/// three stages fused per block of 8, then two stages per pass.
#[inline(always)]
pub(crate) fn fwht_portable<T: Real>(x: &mut [T]) {
    let n = x.len();
    let mut h = 1;
    if n >= 8 {
        // The first three stages fused per block of 8: their inner loops
        // would be 1, 2 and 4 elements long and defeat vectorisation.
        for b in x.chunks_exact_mut(8) {
            let (a0, a1) = (b[0] + b[1], b[0] - b[1]);
            let (a2, a3) = (b[2] + b[3], b[2] - b[3]);
            let (a4, a5) = (b[4] + b[5], b[4] - b[5]);
            let (a6, a7) = (b[6] + b[7], b[6] - b[7]);
            let (c0, c2, c1, c3) = (a0 + a2, a0 - a2, a1 + a3, a1 - a3);
            let (c4, c6, c5, c7) = (a4 + a6, a4 - a6, a5 + a7, a5 - a7);
            b[0] = c0 + c4;
            b[4] = c0 - c4;
            b[1] = c1 + c5;
            b[5] = c1 - c5;
            b[2] = c2 + c6;
            b[6] = c2 - c6;
            b[3] = c3 + c7;
            b[7] = c3 - c7;
        }
        h = 8;
    }
    // Two stages per pass (h and 2h): the same additions in the same order
    // as two radix-2 passes, with half the memory traffic.
    while 4 * h <= n {
        for block in x.chunks_exact_mut(4 * h) {
            let (ab, cd) = block.split_at_mut(2 * h);
            let (q0, q1) = ab.split_at_mut(h);
            let (q2, q3) = cd.split_at_mut(h);
            for (((a, b), c), d) in q0
                .iter_mut()
                .zip(q1.iter_mut())
                .zip(q2.iter_mut())
                .zip(q3.iter_mut())
            {
                let (s1, d1) = (*a + *b, *a - *b);
                let (s2, d2) = (*c + *d, *c - *d);
                *a = s1 + s2;
                *c = s1 - s2;
                *b = d1 + d2;
                *d = d1 - d2;
            }
        }
        h *= 4;
    }
    while h < n {
        for block in x.chunks_exact_mut(2 * h) {
            let (a, b) = block.split_at_mut(h);
            for (u, v) in a.iter_mut().zip(b.iter_mut()) {
                let (p, q) = (*u, *v);
                *u = p + q;
                *v = p - q;
            }
        }
        h *= 2;
    }
}

/// `out[k] = src[idx[k]]·scale` (the portable loop).
#[inline(always)]
pub(crate) fn gather_portable<T: Real>(src: &[T], idx: &[u32], scale: T, out: &mut [T]) {
    for (o, &r) in out.iter_mut().zip(idx) {
        *o = src[r as usize] * scale;
    }
}

/// `out[k] = (a[ia[k]] + b[ib[k]])·scale` (the portable loop).
#[inline(always)]
pub(crate) fn gather2_portable<T: Real>(
    a: &[T],
    ia: &[u32],
    b: &[T],
    ib: &[u32],
    scale: T,
    out: &mut [T],
) {
    for ((o, &i), &j) in out.iter_mut().zip(ia).zip(ib) {
        *o = (a[i as usize] + b[j as usize]) * scale;
    }
}

/// `f64`: the portable transform compiled for AVX2 where present (its
/// radix-4 loops vectorise four lanes wide).
pub(crate) fn fwht_f64(x: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: AVX2 was detected just above.
        unsafe {
            x86::fwht_f64_avx2(x)
        };
        return;
    }
    fwht_portable(x);
}

/// `f32`: the AVX2 transform where present.
pub(crate) fn fwht_f32(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if x.len() >= 32 && std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: AVX2 was detected just above.
        unsafe {
            x86::fwht_f32_avx2(x)
        };
        return;
    }
    fwht_portable(x);
}

/// Row indices for a gather, checked once: every index is below
/// [`bound`](Self::bound), which is at most `2³¹` (the hardware gather takes
/// signed 32-bit indices).
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows32 {
    idx: Vec<u32>,
    bound: usize,
}

impl Rows32 {
    /// `None` when an index is `2³¹` or more.
    pub fn new(rows: &[usize]) -> Option<Self> {
        let idx = rows
            .iter()
            .map(|&r| u32::try_from(r).ok().filter(|&v| v < 1 << 31))
            .collect::<Option<Vec<u32>>>()?;
        let bound = idx.iter().map(|&v| v as usize + 1).max().unwrap_or(0);
        Some(Self { idx, bound })
    }
    /// One past the largest index.
    pub fn bound(&self) -> usize {
        self.bound
    }
    /// The indices.
    pub fn as_slice(&self) -> &[u32] {
        &self.idx
    }
}

/// `f32` gather.
///
/// # Panics
/// If `out` and the rows differ in length or `src` is shorter than the
/// rows' bound.
pub(crate) fn gather_f32(src: &[f32], rows: &Rows32, scale: f32, out: &mut [f32]) {
    check_gather(src.len(), rows, out.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: AVX2 was detected; every index is below rows.bound ≤
        // src.len() (checked above, and by Rows32's construction).
        unsafe {
            x86::gather_f32_avx2(src, &rows.idx, scale, out)
        };
        return;
    }
    gather_portable(src, &rows.idx, scale, out);
}

/// `f64` gather (as [`gather_f32`]).
pub(crate) fn gather_f64(src: &[f64], rows: &Rows32, scale: f64, out: &mut [f64]) {
    check_gather(src.len(), rows, out.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: as for `gather_f32`.
        unsafe {
            x86::gather_f64_avx2(src, &rows.idx, scale, out)
        };
        return;
    }
    gather_portable(src, &rows.idx, scale, out);
}

/// `out[k] = (a[ra[k]] + b[rb[k]])·scale`, `f32`.
///
/// # Panics
/// As [`gather_f32`], for either source.
pub(crate) fn gather2_f32(
    a: &[f32],
    ra: &Rows32,
    b: &[f32],
    rb: &Rows32,
    scale: f32,
    out: &mut [f32],
) {
    check_gather(a.len(), ra, out.len());
    check_gather(b.len(), rb, out.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: AVX2 was detected; every index is below its rows' bound,
        // which is at most its source's length (checked above).
        unsafe {
            x86::gather2_f32_avx2(a, &ra.idx, b, &rb.idx, scale, out)
        };
        return;
    }
    gather2_portable(a, &ra.idx, b, &rb.idx, scale, out);
}

/// As [`gather2_f32`], `f64` (the portable loop).
pub(crate) fn gather2_f64(
    a: &[f64],
    ra: &Rows32,
    b: &[f64],
    rb: &Rows32,
    scale: f64,
    out: &mut [f64],
) {
    check_gather(a.len(), ra, out.len());
    check_gather(b.len(), rb, out.len());
    gather2_portable(a, &ra.idx, b, &rb.idx, scale, out);
}

/// `out = e∘y` (`first`) or `out += e∘y`, one multiply and one add per
/// entry, unfused, so every build gives the same bits (the patch sketch's
/// signed sum of taps).
#[inline(always)]
pub(crate) fn signed_sum_portable<T: Real>(e: &[T], y: &[T], out: &mut [T], first: bool) {
    if first {
        for ((o, &a), &b) in out.iter_mut().zip(e).zip(y) {
            *o = a * b;
        }
    } else {
        for ((o, &a), &b) in out.iter_mut().zip(e).zip(y) {
            *o += a * b;
        }
    }
}

/// [`signed_sum_portable`] compiled for AVX2 where present.
///
/// # Panics
/// Unless the three lengths agree.
pub(crate) fn signed_sum<T: Real>(e: &[T], y: &[T], out: &mut [T], first: bool) {
    assert!(
        e.len() == out.len() && y.len() == out.len(),
        "signed sum of {} and {} values into {}",
        e.len(),
        y.len(),
        out.len()
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: AVX2 was detected just above.
        unsafe {
            x86::signed_sum_avx2(e, y, out, first)
        };
        return;
    }
    signed_sum_portable(e, y, out, first);
}

fn check_gather(src: usize, rows: &Rows32, out: usize) {
    assert!(
        rows.idx.len() == out && rows.bound <= src,
        "gather of {} rows below {} from {src} values into {out}",
        rows.idx.len(),
        rows.bound
    );
}

/// `buf ← H(s∘v ⊕ 0)`, `f32`: with AVX2 the signs are applied in the
/// transform's first pass (the same bits as [`signed_pad`] then the
/// transform: multiplying by ±1 is exact).
///
/// # Panics
/// Unless `v.len() = signs.len() ≤ buf.len()`, a power of two.
pub(crate) fn signed_fwht_f32(v: &[f32], signs: &[f32], buf: &mut [f32]) {
    check_signed(v.len(), signs.len(), buf.len());
    #[cfg(target_arch = "x86_64")]
    if buf.len() >= 32 && std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: AVX2 was detected just above.
        unsafe {
            x86::signed_fwht_f32_avx2(v, signs, buf)
        };
        return;
    }
    signed_pad(v, signs, buf);
    fwht_portable(buf);
}

/// As [`signed_fwht_f32`], `f64`.
pub(crate) fn signed_fwht_f64(v: &[f64], signs: &[f64], buf: &mut [f64]) {
    check_signed(v.len(), signs.len(), buf.len());
    signed_pad(v, signs, buf);
    fwht_f64(buf);
}

fn check_signed(v: usize, signs: usize, buf: usize) {
    assert!(
        v == signs && v <= buf && buf.is_power_of_two(),
        "signed transform of {v} values with {signs} signs into {buf}"
    );
}

/// `buf = s∘v` padded with zeros (exact: the signs are ±1).
pub(crate) fn signed_pad<T: Real>(v: &[T], signs: &[T], buf: &mut [T]) {
    assert!(
        v.len() == signs.len() && v.len() <= buf.len(),
        "signed_pad lengths"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: AVX2 was detected just above.
        unsafe {
            x86::signed_pad_avx2(v, signs, buf)
        };
        return;
    }
    signed_pad_portable(v, signs, buf);
}

#[inline(always)]
fn signed_pad_portable<T: Real>(v: &[T], signs: &[T], buf: &mut [T]) {
    let (head, tail) = buf.split_at_mut(v.len());
    for ((b, &x), &s) in head.iter_mut().zip(v).zip(signs) {
        *b = x * s;
    }
    tail.iter_mut().for_each(|b| *b = T::zero());
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use core::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    pub(super) fn fwht_f64_avx2(x: &mut [f64]) {
        super::fwht_portable(x);
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn signed_pad_avx2<T: crate::real::Real>(v: &[T], signs: &[T], buf: &mut [T]) {
        super::signed_pad_portable(v, signs, buf);
    }

    /// One stage `h < 8` inside a vector: `t` is `v` with lanes `i` and
    /// `i ^ h` exchanged, and `MASK` has the bits of the lanes with
    /// `i & h ≠ 0` (the upper lane of each pair) set.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn stage<const MASK: i32>(v: __m256, t: __m256) -> __m256 {
        // Lane i with i & h = 0 keeps v_i + v_{i^h}; lane i with i & h ≠ 0
        // becomes v_{i^h} − v_i (the lower index minus the upper).
        _mm256_blend_ps::<MASK>(_mm256_add_ps(v, t), _mm256_sub_ps(t, v))
    }

    /// Stages 1, 2 and 4 of one vector of eight.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn stages_in_vector(v: __m256) -> __m256 {
        let v = stage::<0b1010_1010>(v, _mm256_permute_ps::<0b10_11_00_01>(v));
        let v = stage::<0b1100_1100>(v, _mm256_permute_ps::<0b01_00_11_10>(v));
        stage::<0b1111_0000>(v, _mm256_permute2f128_ps::<0x01>(v, v))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn bfly(a: __m256, b: __m256) -> (__m256, __m256) {
        (_mm256_add_ps(a, b), _mm256_sub_ps(a, b))
    }

    /// Stages 1–16 of the 32 values `v0..v3` (eight each), in registers.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn block32(v: [__m256; 4]) -> [__m256; 4] {
        let [v0, v1, v2, v3] = v.map(|v| stages_in_vector(v));
        let (v0, v1) = bfly(v0, v1);
        let (v2, v3) = bfly(v2, v3);
        let (v0, v2) = bfly(v0, v2);
        let (v1, v3) = bfly(v1, v3);
        [v0, v1, v2, v3]
    }

    /// Requires `x.len()` a power of two, at least 32.
    #[target_feature(enable = "avx2")]
    pub(super) fn fwht_f32_avx2(x: &mut [f32]) {
        let n = x.len();
        assert!(n >= 32 && n.is_power_of_two(), "fwht_f32_avx2 length {n}");
        let p = x.as_mut_ptr();
        // Stages 1–16 per block of 32 (four vectors), in registers.
        for b in (0..n).step_by(32) {
            // SAFETY: b + 32 ≤ n, so the four loads and stores are in bounds.
            unsafe {
                let l = |k: usize| _mm256_loadu_ps(p.add(b + 8 * k));
                let out = block32([l(0), l(1), l(2), l(3)]);
                for (k, v) in out.into_iter().enumerate() {
                    _mm256_storeu_ps(p.add(b + 8 * k), v);
                }
            }
        }
        passes_from_32(x);
    }

    /// `buf ← H(s∘v ⊕ 0)` with the signs applied in the first pass;
    /// requires `v.len() = s.len() ≤ buf.len()`, a power of two ≥ 32.
    #[target_feature(enable = "avx2")]
    pub(super) fn signed_fwht_f32_avx2(v: &[f32], s: &[f32], buf: &mut [f32]) {
        let (n, d) = (buf.len(), v.len());
        assert!(
            n >= 32 && n.is_power_of_two() && d <= n && s.len() == d,
            "signed_fwht_f32_avx2 lengths"
        );
        let p = buf.as_mut_ptr();
        let whole = d - d % 32;
        for b in (0..whole).step_by(32) {
            // SAFETY: b + 32 ≤ whole ≤ d ≤ n for the loads from v and s and
            // the stores into buf.
            unsafe {
                let l = |k: usize| {
                    _mm256_mul_ps(
                        _mm256_loadu_ps(v.as_ptr().add(b + 8 * k)),
                        _mm256_loadu_ps(s.as_ptr().add(b + 8 * k)),
                    )
                };
                let out = block32([l(0), l(1), l(2), l(3)]);
                for (k, r) in out.into_iter().enumerate() {
                    _mm256_storeu_ps(p.add(b + 8 * k), r);
                }
            }
        }
        if whole < d {
            // The partial block: signed values, then zeros.
            let mut t = [0.0f32; 32];
            for ((o, &x), &g) in t.iter_mut().zip(&v[whole..]).zip(&s[whole..]) {
                *o = x * g;
            }
            // SAFETY: whole + 32 ≤ n (whole < d ≤ n and both are multiples
            // of 32 or n); t holds 32 values.
            unsafe {
                let l = |k: usize| _mm256_loadu_ps(t.as_ptr().add(8 * k));
                let out = block32([l(0), l(1), l(2), l(3)]);
                for (k, r) in out.into_iter().enumerate() {
                    _mm256_storeu_ps(p.add(whole + 8 * k), r);
                }
            }
        }
        // Blocks of zeros transform to zeros.
        buf[d.next_multiple_of(32)..].fill(0.0);
        passes_from_32(buf);
    }

    /// Stages 32, 64, … of a transform whose stages 1–16 are done.
    #[target_feature(enable = "avx2")]
    fn passes_from_32(x: &mut [f32]) {
        let n = x.len();
        let p = x.as_mut_ptr();
        // Three stages per pass (h, 2h, 4h) where they fit, else two, else one.
        let mut h = 32;
        while h < n {
            let radix = if 8 * h <= n {
                8
            } else if 4 * h <= n {
                4
            } else {
                2
            };
            for base in (0..n).step_by(radix * h) {
                for j in (base..base + h).step_by(8) {
                    // SAFETY: j + (radix − 1)·h + 8 ≤ base + radix·h ≤ n.
                    unsafe {
                        match radix {
                            8 => {
                                let l = |k: usize| _mm256_loadu_ps(p.add(j + k * h));
                                let (a0, a1) = bfly(l(0), l(1));
                                let (a2, a3) = bfly(l(2), l(3));
                                let (a4, a5) = bfly(l(4), l(5));
                                let (a6, a7) = bfly(l(6), l(7));
                                let (c0, c2) = bfly(a0, a2);
                                let (c1, c3) = bfly(a1, a3);
                                let (c4, c6) = bfly(a4, a6);
                                let (c5, c7) = bfly(a5, a7);
                                let out = [bfly(c0, c4), bfly(c1, c5), bfly(c2, c6), bfly(c3, c7)];
                                for (k, (lo, hi)) in out.into_iter().enumerate() {
                                    _mm256_storeu_ps(p.add(j + k * h), lo);
                                    _mm256_storeu_ps(p.add(j + (k + 4) * h), hi);
                                }
                            }
                            4 => {
                                let l = |k: usize| _mm256_loadu_ps(p.add(j + k * h));
                                let (a0, a1) = bfly(l(0), l(1));
                                let (a2, a3) = bfly(l(2), l(3));
                                let (c0, c2) = bfly(a0, a2);
                                let (c1, c3) = bfly(a1, a3);
                                _mm256_storeu_ps(p.add(j), c0);
                                _mm256_storeu_ps(p.add(j + h), c1);
                                _mm256_storeu_ps(p.add(j + 2 * h), c2);
                                _mm256_storeu_ps(p.add(j + 3 * h), c3);
                            }
                            _ => {
                                let (a0, a1) =
                                    bfly(_mm256_loadu_ps(p.add(j)), _mm256_loadu_ps(p.add(j + h)));
                                _mm256_storeu_ps(p.add(j), a0);
                                _mm256_storeu_ps(p.add(j + h), a1);
                            }
                        }
                    }
                }
            }
            h *= radix;
        }
    }

    /// Requires every `idx[k] < src.len() ≤ i32::MAX` and equal lengths of
    /// `idx` and `out`.
    #[target_feature(enable = "avx2")]
    pub(super) fn gather_f32_avx2(src: &[f32], idx: &[u32], scale: f32, out: &mut [f32]) {
        let m = out.len().min(idx.len());
        let s = _mm256_set1_ps(scale);
        let whole = m - m % 8;
        for k in (0..whole).step_by(8) {
            // SAFETY: k + 8 ≤ m for the index load and the store; every
            // gathered index is below src.len() (the caller checked).
            unsafe {
                let i = _mm256_loadu_si256(idx.as_ptr().add(k).cast());
                let g = _mm256_i32gather_ps::<4>(src.as_ptr(), i);
                _mm256_storeu_ps(out.as_mut_ptr().add(k), _mm256_mul_ps(g, s));
            }
        }
        super::gather_portable(src, &idx[whole..m], scale, &mut out[whole..m]);
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn signed_sum_avx2<T: crate::real::Real>(
        e: &[T],
        y: &[T],
        out: &mut [T],
        first: bool,
    ) {
        super::signed_sum_portable(e, y, out, first);
    }

    /// As [`gather_f32_avx2`] from two sources, summed before the scale.
    #[target_feature(enable = "avx2")]
    pub(super) fn gather2_f32_avx2(
        a: &[f32],
        ia: &[u32],
        b: &[f32],
        ib: &[u32],
        scale: f32,
        out: &mut [f32],
    ) {
        let m = out.len().min(ia.len()).min(ib.len());
        let s = _mm256_set1_ps(scale);
        let whole = m - m % 8;
        for k in (0..whole).step_by(8) {
            // SAFETY: k + 8 ≤ m for the index loads and the store; every
            // gathered index is below its source's length (the caller checked).
            unsafe {
                let i = _mm256_loadu_si256(ia.as_ptr().add(k).cast());
                let j = _mm256_loadu_si256(ib.as_ptr().add(k).cast());
                let g = _mm256_add_ps(
                    _mm256_i32gather_ps::<4>(a.as_ptr(), i),
                    _mm256_i32gather_ps::<4>(b.as_ptr(), j),
                );
                _mm256_storeu_ps(out.as_mut_ptr().add(k), _mm256_mul_ps(g, s));
            }
        }
        super::gather2_portable(
            a,
            &ia[whole..m],
            b,
            &ib[whole..m],
            scale,
            &mut out[whole..m],
        );
    }

    /// As [`gather_f32_avx2`], four lanes of `f64`.
    #[target_feature(enable = "avx2")]
    pub(super) fn gather_f64_avx2(src: &[f64], idx: &[u32], scale: f64, out: &mut [f64]) {
        let m = out.len().min(idx.len());
        let s = _mm256_set1_pd(scale);
        let whole = m - m % 4;
        for k in (0..whole).step_by(4) {
            // SAFETY: as in `gather_f32_avx2`.
            unsafe {
                let i = _mm_loadu_si128(idx.as_ptr().add(k).cast());
                let g = _mm256_i32gather_pd::<8>(src.as_ptr(), i);
                _mm256_storeu_pd(out.as_mut_ptr().add(k), _mm256_mul_pd(g, s));
            }
        }
        super::gather_portable(src, &idx[whole..m], scale, &mut out[whole..m]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f64> {
        // A deterministic spread of magnitudes (rounding differs between
        // addition orders on such inputs, so a reordered stage would show).
        (0..n)
            .map(|k| {
                let t = ((k as u64 + 1) * 2654435761 + seed * 97) % 1000003;
                (t as f64 / 1000003.0 - 0.5) * 10f64.powi((k % 7) as i32 - 3)
            })
            .collect()
    }

    #[test]
    fn dispatched_transforms_equal_the_portable_bits() {
        for k in 0..=16 {
            let n = 1usize << k;
            let x64 = values(n, k as u64);
            let x32: Vec<f32> = x64.iter().map(|&v| v as f32).collect();
            let (mut a, mut b) = (x32.clone(), x32);
            fwht_f32(&mut a);
            fwht_portable(&mut b);
            assert!(
                a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "f32, n = {n}"
            );
            let (mut a, mut b) = (x64.clone(), x64);
            fwht_f64(&mut a);
            fwht_portable(&mut b);
            assert!(
                a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "f64, n = {n}"
            );
        }
    }

    #[test]
    fn dispatched_gathers_equal_the_portable_bits() {
        let src = values(1000, 3);
        let src32: Vec<f32> = src.iter().map(|&v| v as f32).collect();
        for m in [0usize, 1, 3, 4, 7, 8, 9, 31, 64, 333] {
            let rows: Vec<usize> = (0..m).map(|k| (k * 7919 + 13) % 1000).collect();
            let checked = Rows32::new(&rows).expect("small indices");
            let idx = checked.as_slice();
            let (mut a, mut b) = (vec![0.0; m], vec![0.0; m]);
            gather_f64(&src, &checked, 0.3, &mut a);
            gather_portable(&src, idx, 0.3, &mut b);
            assert_eq!(a, b, "f64, m = {m}");
            let (mut a, mut b) = (vec![0.0f32; m], vec![0.0f32; m]);
            gather_f32(&src32, &checked, 0.3, &mut a);
            gather_portable(&src32, idx, 0.3, &mut b);
            assert_eq!(a, b, "f32, m = {m}");
            // The dispatched build against the definition, entry by entry.
            for (k, &i) in idx.iter().enumerate() {
                assert_eq!(a[k], src32[i as usize] * 0.3f32);
            }
        }
    }

    #[test]
    fn dispatched_signed_sums_equal_the_definition() {
        // out = e∘y, then out += e∘y, against the definition entry by entry
        // (one product, one sum: the same rounding in every build), at
        // lengths with remainders 0–7 of an 8-wide loop.
        for n in [0usize, 1, 3, 7, 8, 9, 15, 16, 31, 333] {
            let e: Vec<f64> = values(n, 11).iter().map(|v| v.signum()).collect();
            let (y1, y2) = (values(n, 12), values(n, 13));
            let mut b = vec![f64::NAN; n];
            signed_sum(&e, &y1, &mut b, true);
            signed_sum(&e, &y2, &mut b, false);
            let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
            let (e32, y1_32, y2_32) = (f(&e), f(&y1), f(&y2));
            let mut a = vec![f32::NAN; n];
            signed_sum(&e32, &y1_32, &mut a, true);
            signed_sum(&e32, &y2_32, &mut a, false);
            for k in 0..n {
                assert_eq!(b[k], e[k] * y1[k] + e[k] * y2[k], "f64, n = {n}, k = {k}");
                let want = e32[k] * y1_32[k] + e32[k] * y2_32[k];
                assert_eq!(a[k].to_bits(), want.to_bits(), "f32, n = {n}, k = {k}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "signed sum")]
    fn a_signed_sum_of_mismatched_lengths_panics() {
        let mut out = [0.0f32; 3];
        signed_sum(&[1.0; 3], &[1.0; 2], &mut out, false);
    }

    #[test]
    fn dispatched_two_source_gathers_equal_the_definition() {
        let a: Vec<f32> = values(500, 4).iter().map(|&v| v as f32).collect();
        let b: Vec<f32> = values(40, 5).iter().map(|&v| v as f32).collect();
        for m in [0usize, 5, 8, 19, 256] {
            let ra = Rows32::new(&(0..m).map(|k| (k * 31 + 7) % 500).collect::<Vec<_>>()).unwrap();
            let rb = Rows32::new(&(0..m).map(|k| (k * 13 + 1) % 40).collect::<Vec<_>>()).unwrap();
            let mut out = vec![0.0f32; m];
            gather2_f32(&a, &ra, &b, &rb, 0.7, &mut out);
            for k in 0..m {
                let want = (a[ra.as_slice()[k] as usize] + b[rb.as_slice()[k] as usize]) * 0.7;
                assert_eq!(out[k].to_bits(), want.to_bits(), "m = {m}, entry {k}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "gather of 8 rows below 17 from 16 values")]
    fn a_gather_past_the_source_panics_instead_of_reading_it() {
        let src = [1.0f32; 16];
        let rows = Rows32::new(&[0, 1, 2, 3, 4, 5, 6, 16]).expect("small");
        let mut out = [0.0f32; 8];
        gather_f32(&src, &rows, 1.0, &mut out);
    }

    #[test]
    fn rows_past_two_to_the_31_are_refused() {
        assert!(Rows32::new(&[0, (1 << 31) - 1]).is_some());
        assert_eq!(Rows32::new(&[0, 1 << 31]), None);
        assert_eq!(Rows32::new(&[3, 9, 4]).map(|r| r.bound()), Some(10));
    }

    #[test]
    fn signed_transforms_equal_the_signed_copy_then_the_transform() {
        // Remainders 0, 1, 2, 6, 8 and 31 of the first pass's blocks of 32
        // (a partial block, then zeros), an empty input, and a transform
        // shorter than one block (the portable path).
        for (d, n) in [
            (0usize, 32usize),
            (5, 8),
            (31, 32),
            (32, 32),
            (33, 64),
            (70, 128),
            (1000, 1024),
            (8194, 16384),
        ] {
            let v64 = values(d, d as u64);
            let s64: Vec<f64> = (0..d)
                .map(|k| if (k * 7) % 5 < 2 { -1.0 } else { 1.0 })
                .collect();
            let v32: Vec<f32> = v64.iter().map(|&x| x as f32).collect();
            let s32: Vec<f32> = s64.iter().map(|&x| x as f32).collect();
            let (mut a, mut b) = (vec![f32::NAN; n], vec![f32::NAN; n]);
            signed_fwht_f32(&v32, &s32, &mut a);
            signed_pad(&v32, &s32, &mut b);
            fwht_portable(&mut b);
            assert!(
                a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "f32 d = {d}"
            );
            let (mut a, mut b) = (vec![f64::NAN; n], vec![f64::NAN; n]);
            signed_fwht_f64(&v64, &s64, &mut a);
            signed_pad(&v64, &s64, &mut b);
            fwht_portable(&mut b);
            assert!(
                a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "f64 d = {d}"
            );
        }
    }

    #[test]
    fn signed_pad_is_the_signed_copy_then_zeros() {
        let v: Vec<f32> = (0..37).map(|k| k as f32 - 11.5).collect();
        let s: Vec<f32> = (0..37)
            .map(|k| if k % 3 == 0 { -1.0 } else { 1.0 })
            .collect();
        let mut buf = vec![f32::NAN; 64];
        signed_pad(&v, &s, &mut buf);
        for k in 0..64 {
            let want = if k < 37 { v[k] * s[k] } else { 0.0 };
            assert_eq!(buf[k].to_bits(), want.to_bits(), "entry {k}");
        }
    }
}
