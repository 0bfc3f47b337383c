//! PolySketch (Ahle et al. 2020): a binary tree of TensorSRHTs sketching
//! `x^{⊗p}` and, from the same tree, every lower degree.

use crate::error::{Result, SketchError};
use crate::map::{ScratchLen, Sketch, nonzero};
use crate::real::Real;
use crate::seed::Seed;
use crate::srht::{Srht, TensorSrht, Transform};
use rustfft::num_complex::Complex;

/// A tree of degree-2 sketches over `L = 2^h ≥ p` leaves (`h = ⌈log₂ p⌉`):
/// level 0 holds `L/2` TensorSRHTs `(d, d) → m`, level `ℓ` holds `L/2^{ℓ+1}`
/// TensorSRHTs `(m, m) → m`, all with independent seeds.
///
/// The degree-`j` sketch puts `x` on the first `j` leaves and the constant 1
/// on the others: a subtree of 1s is skipped, a level-0 node with one `x`
/// applies the SRHT of its first branch, and a node whose right subtree is
/// all 1s passes its left child through. Every degree `1..=p` thus comes
/// from one tree, with `E⟨S_j(x), S_j(y)⟩ = ⟨x, y⟩^j` by independence of the
/// nodes. Non-powers of two pad the tree; nothing changes the estimator.
///
/// Cost per sample: `L/2` leaf transforms of length `d` and `O(L)` of
/// length `m` (all degrees together: `O(L log L)` node evaluations).
#[derive(Debug, Clone)]
pub struct PolySketch<T: Real> {
    /// `levels[ℓ][i]`.
    levels: Vec<Vec<TensorSrht<T>>>,
    /// Degree 1 when `p = 1` (no tree).
    single: Option<Srht<T>>,
    degree: usize,
    d: usize,
    m: usize,
}

impl<T: Real> PolySketch<T> {
    /// Degree `p ≥ 1`, input `d`, node (and output) dimension `m` reals.
    ///
    /// # Errors
    /// Zero dimensions; [`SketchError::InvalidDegree`]; an odd `m` with
    /// [`Transform::Fourier`].
    pub fn new(
        d: usize,
        m: usize,
        degree: usize,
        transform: Transform,
        seed: Seed,
    ) -> Result<Self> {
        nonzero("input dimension", d)?;
        nonzero("sketch dimension", m)?;
        if degree == 0 {
            return Err(SketchError::InvalidDegree { degree });
        }
        if degree == 1 {
            return Ok(Self {
                levels: Vec::new(),
                single: Some(Srht::new(d, m, transform, seed)?),
                degree,
                d,
                m,
            });
        }
        let leaves = degree.next_power_of_two();
        let h = leaves.trailing_zeros() as usize;
        let mut levels = Vec::with_capacity(h);
        let mut node = 0u64;
        for l in 0..h {
            let count = leaves >> (l + 1);
            let din = if l == 0 { d } else { m };
            let mut row = Vec::with_capacity(count);
            for _ in 0..count {
                row.push(TensorSrht::new(din, din, m, transform, seed.child(node))?);
                node += 1;
            }
            levels.push(row);
        }
        Ok(Self {
            levels,
            single: None,
            degree,
            d,
            m,
        })
    }

    fn nodes_before(&self, level: usize) -> usize {
        self.levels[..level].iter().map(Vec::len).sum()
    }

    fn node_scratch(&self) -> ScratchLen {
        let mut s = self
            .single
            .as_ref()
            .map(|x| x.scratch_len())
            .unwrap_or_default();
        for row in &self.levels {
            if let Some(n) = row.first() {
                s = s.max(n.pair_scratch_len());
            }
        }
        s
    }

    /// Scratch of [`Self::apply_leaves`] and [`Self::apply_all_degrees`].
    pub fn tree_scratch_len(&self) -> ScratchLen {
        let nodes: usize = self.levels.iter().map(Vec::len).sum();
        ScratchLen {
            real: (nodes + self.levels.len()) * self.m,
            complex: 0,
        }
        .then(self.node_scratch())
    }

    /// Sketches of `x, x^{⊗2}, …, x^{⊗p}` into `out` (`p` blocks of `m`).
    ///
    /// # Panics
    /// On length mismatches.
    pub fn apply_all_degrees(
        &self,
        x: &[T],
        out: &mut [T],
        real: &mut [T],
        complex: &mut [Complex<T>],
    ) {
        assert_eq!(
            (x.len(), out.len()),
            (self.d, self.degree * self.m),
            "PolySketch all-degree lengths"
        );
        if let Some(s) = &self.single {
            s.apply_one(x, out, real, complex);
            return;
        }
        let (full, bound, node_real) = self.split(real);
        self.fill_full(&|_| x, full, node_real, complex);
        for (j, o) in (1..=self.degree).zip(out.chunks_exact_mut(self.m)) {
            let v = self.value(
                self.levels.len() - 1,
                0,
                j,
                &|_| x,
                full,
                bound,
                node_real,
                complex,
            );
            o.copy_from_slice(self.slice(v, full, bound));
        }
    }

    /// The multilinear form behind the map: a sketch of `x₁ ⊗ … ⊗ x_p` with
    /// the leaves' inputs given separately (`apply_one(x)` is `leaves = [x; p]`).
    ///
    /// # Panics
    /// Unless there are `p` inputs of length `d` and `out` has length `m`.
    pub fn apply_leaves(
        &self,
        leaves: &[&[T]],
        out: &mut [T],
        real: &mut [T],
        complex: &mut [Complex<T>],
    ) {
        assert_eq!(
            leaves.len(),
            self.degree,
            "PolySketch needs one input per degree"
        );
        assert!(
            leaves.iter().all(|l| l.len() == self.d),
            "PolySketch input length"
        );
        assert_eq!(out.len(), self.m, "PolySketch output length");
        if let Some(s) = &self.single {
            s.apply_one(leaves[0], out, real, complex);
            return;
        }
        let (full, bound, node_real) = self.split(real);
        let leaf = |k: usize| leaves[k];
        self.fill_full(&leaf, full, node_real, complex);
        let v = self.value(
            self.levels.len() - 1,
            0,
            self.degree,
            &leaf,
            full,
            bound,
            node_real,
            complex,
        );
        out.copy_from_slice(self.slice(v, full, bound));
    }

    fn split<'a>(&self, real: &'a mut [T]) -> (&'a mut [T], &'a mut [T], &'a mut [T]) {
        let nodes: usize = self.levels.iter().map(Vec::len).sum();
        let (full, rest) = real.split_at_mut(nodes * self.m);
        let (bound, node_real) = rest.split_at_mut(self.levels.len() * self.m);
        (full, bound, node_real)
    }

    /// Outputs of every node whose leaves all hold inputs (`< p`).
    fn fill_full<'a>(
        &self,
        leaf: &dyn Fn(usize) -> &'a [T],
        full: &mut [T],
        real: &mut [T],
        complex: &mut [Complex<T>],
    ) {
        let m = self.m;
        for (l, row) in self.levels.iter().enumerate() {
            let base = self.nodes_before(l);
            for (i, node) in row.iter().enumerate() {
                let hi = (i + 1) << (l + 1);
                if hi > self.degree {
                    break;
                }
                if l == 0 {
                    node.apply_pair(
                        leaf(2 * i),
                        leaf(2 * i + 1),
                        &mut full[(base + i) * m..(base + i + 1) * m],
                        real,
                        complex,
                    );
                } else {
                    let prev = self.nodes_before(l - 1);
                    let (done, todo) = full.split_at_mut((base + i) * m);
                    let a = &done[(prev + 2 * i) * m..(prev + 2 * i + 1) * m];
                    let b = &done[(prev + 2 * i + 1) * m..(prev + 2 * i + 2) * m];
                    node.apply_pair(a, b, &mut todo[..m], real, complex);
                }
            }
        }
    }

    /// The degree-`j` value of node `(l, i)` (see the type's documentation).
    #[allow(clippy::too_many_arguments)]
    fn value<'a>(
        &self,
        l: usize,
        i: usize,
        j: usize,
        leaf: &dyn Fn(usize) -> &'a [T],
        full: &[T],
        bound: &mut [T],
        real: &mut [T],
        complex: &mut [Complex<T>],
    ) -> Val {
        let lo = i << (l + 1);
        let hi = lo + (1 << (l + 1));
        let mid = lo + (1 << l);
        if j >= hi {
            return Val::Full(self.nodes_before(l) + i);
        }
        debug_assert!(j > lo, "an all-identity subtree is never evaluated");
        let m = self.m;
        if l == 0 {
            self.levels[0][i].apply_first(leaf(lo), &mut bound[..m], real, complex);
            return Val::Bound(0);
        }
        let left = self.value(l - 1, 2 * i, j, leaf, full, bound, real, complex);
        if j <= mid {
            return left;
        }
        let Val::Full(left_node) = left else {
            unreachable!("the left subtree is full when j > mid")
        };
        // The right subtree holds `j − mid` inputs: a full node of a lower
        // level (a power-of-two count aligned with its left edge) or a mixed
        // value in the boundary buffer of a lower level.
        let right = self.value(l - 1, 2 * i + 1, j, leaf, full, bound, real, complex);
        let (lower, upper) = bound.split_at_mut(l * m);
        let right_val = match right {
            Val::Full(node) => &full[node * m..(node + 1) * m],
            Val::Bound(rl) => &lower[rl * m..(rl + 1) * m],
        };
        self.levels[l][i].apply_pair(
            &full[left_node * m..(left_node + 1) * m],
            right_val,
            &mut upper[..m],
            real,
            complex,
        );
        Val::Bound(l)
    }

    fn slice<'b>(&self, v: Val, full: &'b [T], bound: &'b [T]) -> &'b [T] {
        let m = self.m;
        match v {
            Val::Full(n) => &full[n * m..(n + 1) * m],
            Val::Bound(l) => &bound[l * m..(l + 1) * m],
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Val {
    /// Output of a full node (index into the flattened node list).
    Full(usize),
    /// Result stored in the boundary buffer of a level.
    Bound(usize),
}

impl<T: Real> Sketch<T> for PolySketch<T> {
    fn dim_in(&self) -> usize {
        self.d
    }
    fn dim_out(&self) -> usize {
        self.m
    }
    fn degree(&self) -> usize {
        self.degree
    }
    fn scratch_len(&self) -> ScratchLen {
        self.tree_scratch_len()
    }
    fn apply_one(&self, x: &[T], out: &mut [T], real: &mut [T], complex: &mut [Complex<T>]) {
        assert_eq!((x.len(), out.len()), (self.d, self.m), "PolySketch lengths");
        if let Some(s) = &self.single {
            s.apply_one(x, out, real, complex);
            return;
        }
        let (full, bound, node_real) = self.split(real);
        self.fill_full(&|_| x, full, node_real, complex);
        let v = self.value(
            self.levels.len() - 1,
            0,
            self.degree,
            &|_| x,
            full,
            bound,
            node_real,
            complex,
        );
        out.copy_from_slice(self.slice(v, full, bound));
    }
}
