//! Matrix products on the CPU through the `gemm` crate (burn's own CPU kernel), behind one safe,
//! bounds-checked door: row-major views with any row stride and offset, optionally transposed, so
//! callers multiply blocks of larger buffers (a layer's rows, one attention head's columns)
//! without copying them out first.

/// A read-only `rows × cols` matrix inside a slice: element `(r, c)` is
/// `data[offset + r·row_stride + c]`, or with `transposed` the stored matrix is `cols × rows`
/// and `(r, c)` reads stored `(c, r)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatRef<'a> {
    data: &'a [f32],
    offset: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    transposed: bool,
}

impl<'a> MatRef<'a> {
    /// The whole of `data` as a `rows × cols` row-major matrix.
    pub(crate) fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, 0, rows, cols, cols)
    }

    /// A `rows × cols` block starting at `offset` with `row_stride` between rows.
    pub(crate) fn strided(
        data: &'a [f32],
        offset: usize,
        rows: usize,
        cols: usize,
        row_stride: usize,
    ) -> Self {
        Self {
            data,
            offset,
            rows,
            cols,
            row_stride,
            transposed: false,
        }
    }

    /// Rows of the logical matrix.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of the logical matrix.
    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// The transpose (no data moves).
    pub(crate) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            transposed: !self.transposed,
            ..self
        }
    }

    /// (row stride, column stride) of the logical matrix.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (1, self.row_stride as isize)
        } else {
            (self.row_stride as isize, 1)
        }
    }

    /// Panics unless every element lies inside the slice.
    fn check(&self, what: &str) {
        let (stored_rows, stored_cols) = if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        };
        if stored_rows == 0 || stored_cols == 0 {
            return;
        }
        let last = self.offset + (stored_rows - 1) * self.row_stride + stored_cols - 1;
        assert!(
            stored_cols <= self.row_stride && last < self.data.len(),
            "{what}: a {stored_rows}×{stored_cols} block (stride {}, offset {}) does not fit in {} values",
            self.row_stride,
            self.offset,
            self.data.len()
        );
    }
}

/// `c = alpha·c + a·b` for a `c` block of `a.rows × b.cols` at `c_offset` with `c_row_stride`
/// (`alpha` 0 overwrites, 1 accumulates). `parallel` lets gemm use rayon's threads.
///
/// # Panics
/// When a block does not fit in its slice or the shapes disagree (a bug in the caller, never an
/// input).
pub(crate) fn gemm(
    c: &mut [f32],
    c_offset: usize,
    c_row_stride: usize,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    parallel: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm: {m}×{k} · {}×{n}", b.rows);
    a.check("gemm lhs");
    b.check("gemm rhs");
    if m == 0 || n == 0 {
        return;
    }
    let c_last = c_offset + (m - 1) * c_row_stride + n - 1;
    assert!(
        n <= c_row_stride && c_last < c.len(),
        "gemm: a {m}×{n} output (stride {c_row_stride}, offset {c_offset}) does not fit in {} values",
        c.len()
    );
    if k == 0 {
        c_scale(c, c_offset, c_row_stride, m, n, alpha);
        return;
    }
    let (a_rs, a_cs) = a.strides();
    let (b_rs, b_cs) = b.strides();
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(rayon::current_num_threads().max(1))
    } else {
        gemm::Parallelism::None
    };
    #[allow(unsafe_code)]
    // SAFETY: `check` and the assertion above prove that every element gemm touches — rows
    // 0..m, 0..k, 0..n at the strides passed from each offset — lies inside `a.data`, `b.data`
    // and `c`; `c` is a unique borrow, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr().add(c_offset),
            1,
            c_row_stride as isize,
            alpha != 0.0,
            a.data.as_ptr().add(a.offset),
            a_cs,
            a_rs,
            b.data.as_ptr().add(b.offset),
            b_cs,
            b_rs,
            alpha,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

fn c_scale(c: &mut [f32], offset: usize, stride: usize, m: usize, n: usize, alpha: f32) {
    for row in 0..m {
        for value in &mut c[offset + row * stride..offset + row * stride + n] {
            *value *= alpha;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn plain_transposed_and_strided_products_agree_with_the_definition() {
        let (m, k, n) = (7, 5, 3);
        let a = values(m * k, 1);
        let b = values(k * n, 2);
        let want = naive(&a, &b, m, k, n);
        let mut c = vec![0.0; m * n];
        gemm(
            &mut c,
            0,
            n,
            0.0,
            MatRef::new(&a, m, k),
            MatRef::new(&b, k, n),
            false,
        );
        assert!(c.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-5));
        // b stored transposed (n × k), read as its transpose.
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let mut c2 = vec![1.0; m * n];
        gemm(
            &mut c2,
            0,
            n,
            0.0,
            MatRef::new(&a, m, k),
            MatRef::new(&bt, n, k).t(),
            true,
        );
        assert!(c2.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-5));
        // a as the columns 2..2+k of a wider buffer, c into columns 1..1+n of another, added.
        let wide: Vec<f32> = (0..m)
            .flat_map(|r| {
                let mut row = vec![9.0; 2];
                row.extend_from_slice(&a[r * k..(r + 1) * k]);
                row.push(9.0);
                row
            })
            .collect();
        let mut out = vec![1.0; m * (n + 2)];
        gemm(
            &mut out,
            1,
            n + 2,
            1.0,
            MatRef::strided(&wide, 2, m, k, k + 3),
            MatRef::new(&b, k, n),
            false,
        );
        for r in 0..m {
            assert_eq!(out[r * (n + 2)], 1.0, "outside the block");
            for j in 0..n {
                let got = out[r * (n + 2) + 1 + j];
                assert!((got - 1.0 - want[r * n + j]).abs() < 1e-5);
            }
        }
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_block_past_the_end_is_refused() {
        let a = vec![0.0; 10];
        let mut c = vec![0.0; 4];
        gemm(
            &mut c,
            0,
            2,
            0.0,
            MatRef::strided(&a, 4, 2, 4, 4),
            MatRef::new(&a, 4, 2),
            false,
        );
    }
}
