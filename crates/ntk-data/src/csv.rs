//! Numeric CSV: comma-separated, optional header line, optional double
//! quotes around cells. Empty cells and `NaN`/`nan`/`NA` read as NaN so
//! callers can drop incomplete rows; anything else that is not a number is
//! an error naming its line and column.

use crate::error::{DataError, Result};

/// A numeric table, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column names when the file had a header.
    pub header: Option<Vec<String>>,
    /// Rows.
    pub nrows: usize,
    /// Columns.
    pub ncols: usize,
    /// `nrows·ncols` values, row by row.
    pub data: Vec<f64>,
}

impl Table {
    /// Value at `(row, col)`.
    pub fn get(&self, row: usize, col: usize) -> f64 {
        self.data[row * self.ncols + col]
    }

    /// One column.
    pub fn column(&self, col: usize) -> Vec<f64> {
        (0..self.nrows).map(|r| self.get(r, col)).collect()
    }

    /// The table restricted to `cols` (in that order).
    pub fn select_columns(&self, cols: &[usize]) -> Table {
        let mut data = Vec::with_capacity(self.nrows * cols.len());
        for r in 0..self.nrows {
            data.extend(cols.iter().map(|&c| self.get(r, c)));
        }
        Table {
            header: self
                .header
                .as_ref()
                .map(|h| cols.iter().map(|&c| h[c].clone()).collect()),
            nrows: self.nrows,
            ncols: cols.len(),
            data,
        }
    }
}

fn unquote(cell: &str) -> &str {
    let t = cell.trim();
    t.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(t)
        .trim()
}

/// Parses `text` as a numeric CSV. `what` names the source in errors.
///
/// # Errors
/// [`DataError::Csv`] for a non-numeric cell, [`DataError::Shape`] for a
/// row whose length differs from the first, [`DataError::Empty`] without
/// any data row.
pub fn parse(text: &str, header: bool, what: &str) -> Result<Table> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let names = if header {
        let (_, line) = lines
            .next()
            .ok_or_else(|| DataError::Empty { what: what.into() })?;
        Some(
            line.split(',')
                .map(|c| unquote(c).to_owned())
                .collect::<Vec<_>>(),
        )
    } else {
        None
    };
    let mut ncols = names.as_ref().map(Vec::len);
    let mut data = Vec::new();
    let mut nrows = 0;
    for (idx, line) in lines {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let cells: Vec<&str> = line.split(',').collect();
        match ncols {
            None => ncols = Some(cells.len()),
            Some(n) if n != cells.len() => {
                return Err(DataError::Shape {
                    what: format!("{what}, line {}: number of columns", idx + 1),
                    expected: n.to_string(),
                    got: cells.len().to_string(),
                });
            }
            Some(_) => {}
        }
        for (col, cell) in cells.iter().enumerate() {
            let c = unquote(cell);
            let v = match c {
                "" | "NaN" | "nan" | "NA" | "?" => f64::NAN,
                _ => c.parse::<f64>().map_err(|_| DataError::Csv {
                    what: what.into(),
                    line: idx + 1,
                    column: col + 1,
                    cell: c.chars().take(40).collect(),
                })?,
            };
            data.push(v);
        }
        nrows += 1;
    }
    if nrows == 0 {
        return Err(DataError::Empty {
            what: format!("{what} (no data rows)"),
        });
    }
    Ok(Table {
        header: names,
        nrows,
        ncols: ncols.unwrap_or(0),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_and_without_header() {
        let t = parse("a,\"b\",c\n1,2.5,-3e2\r\n\n4,,NaN\n", true, "t").unwrap();
        assert_eq!(t.header.as_deref().unwrap(), ["a", "b", "c"]);
        assert_eq!((t.nrows, t.ncols), (2, 3));
        assert_eq!(&t.data[..3], &[1.0, 2.5, -300.0]);
        assert!(t.get(1, 1).is_nan() && t.get(1, 2).is_nan());
        let t = parse("1,2\n3,4\n", false, "t").unwrap();
        assert_eq!(t.data, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(t.column(1), vec![2.0, 4.0]);
        assert_eq!(t.select_columns(&[1, 0]).data, vec![2.0, 1.0, 4.0, 3.0]);
    }

    #[test]
    fn errors_name_the_cell() {
        match parse("x,y\n1,2\n3,abc\n", true, "f.csv") {
            Err(DataError::Csv { line, column, .. }) => assert_eq!((line, column), (3, 2)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse("1,2\n3\n", false, "f"),
            Err(DataError::Shape { .. })
        ));
        assert!(matches!(
            parse("x,y\n", true, "f"),
            Err(DataError::Empty { .. })
        ));
        assert!(matches!(
            parse("", false, "f"),
            Err(DataError::Empty { .. })
        ));
    }
}
