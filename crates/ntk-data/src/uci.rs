//! The UCI regression sets of the 2021 sketching paper (docs/SOURCES.md §P1.4),
//! parsed with the public loader's rules — and without its bugs:
//! YearPredictionMSD's target is the year (column 0; the public loader
//! dropped it and regressed on the first timbre feature), and rows with
//! any missing value are dropped (the public loop only handled rows with
//! exactly one).

use crate::csv::{self, Table};
use crate::error::{DataError, Result};

/// One of the four datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UciDataset {
    /// Physicochemical properties of protein tertiary structure (CASP.csv):
    /// target RMSD (column 0), 9 features.
    Protein,
    /// Relative location of CT slices: drop `patientId` (column 0), target
    /// `reference` (last column), 384 features before removing constants.
    Ct,
    /// Range-query aggregates workloads: drop column 0, remove duplicate
    /// rows, drop rows with missing values, target the last column.
    Workloads,
    /// YearPredictionMSD: no header, target the year (column 0), 90 features.
    Msd,
}

/// A regression dataset, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// `n·d` features, row by row.
    pub x: Vec<f64>,
    /// `n` targets.
    pub y: Vec<f64>,
    /// Samples.
    pub n: usize,
    /// Features.
    pub d: usize,
}

impl UciDataset {
    /// Every dataset.
    pub const ALL: [UciDataset; 4] = [Self::Protein, Self::Ct, Self::Workloads, Self::Msd];

    /// Short name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Protein => "protein",
            Self::Ct => "ct",
            Self::Workloads => "workloads",
            Self::Msd => "msd",
        }
    }

    /// Looks a dataset up by its short name.
    pub fn by_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The UCI download URL used by the public code.
    pub fn url(self) -> &'static str {
        match self {
            Self::Protein => {
                "https://archive.ics.uci.edu/ml/machine-learning-databases/00265/CASP.csv"
            }
            Self::Ct => {
                "https://archive.ics.uci.edu/ml/machine-learning-databases/00206/slice_localization_data.zip"
            }
            Self::Workloads => {
                "https://archive.ics.uci.edu/ml/machine-learning-databases/00493/datasets.zip"
            }
            Self::Msd => {
                "https://archive.ics.uci.edu/ml/machine-learning-databases/00203/YearPredictionMSD.txt.zip"
            }
        }
    }

    /// The data file (inside the zip archive, or the download itself).
    pub fn data_file(self) -> &'static str {
        match self {
            Self::Protein => "CASP.csv",
            Self::Ct => "slice_localization_data.csv",
            Self::Workloads => "Range-Queries-Aggregates.csv",
            Self::Msd => "YearPredictionMSD.txt",
        }
    }

    /// Whether the file starts with a header line.
    pub fn has_header(self) -> bool {
        !matches!(self, Self::Msd)
    }

    /// Parses the data file's text into features and target, applying the
    /// dataset's rules, then removes constant feature columns.
    ///
    /// # Errors
    /// CSV errors; [`DataError::Shape`] for too few columns;
    /// [`DataError::Empty`] if no complete row remains.
    pub fn parse(self, text: &str) -> Result<Regression> {
        let table = csv::parse(text, self.has_header(), self.data_file())?;
        self.from_table(&table)
    }

    /// As [`UciDataset::parse`], from a parsed table.
    ///
    /// # Errors
    /// As [`UciDataset::parse`].
    pub fn from_table(self, t: &Table) -> Result<Regression> {
        let min_cols = match self {
            Self::Protein | Self::Msd => 2,
            Self::Ct | Self::Workloads => 3,
        };
        if t.ncols < min_cols {
            return Err(DataError::Shape {
                what: format!("{}: number of columns", self.data_file()),
                expected: format!("at least {min_cols}"),
                got: t.ncols.to_string(),
            });
        }
        // (target column, feature columns)
        let (target, features): (usize, Vec<usize>) = match self {
            Self::Protein | Self::Msd => (0, (1..t.ncols).collect()),
            Self::Ct | Self::Workloads => (t.ncols - 1, (1..t.ncols - 1).collect()),
        };
        let mut rows: Vec<Vec<f64>> = (0..t.nrows)
            .map(|r| {
                let mut row: Vec<f64> = features.iter().map(|&c| t.get(r, c)).collect();
                row.push(t.get(r, target));
                row
            })
            .filter(|row| row.iter().all(|v| v.is_finite()))
            .collect();
        if self == Self::Workloads {
            // np.unique(x, axis=0): lexicographically sorted distinct rows.
            rows.sort_by(|a, b| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| x.total_cmp(y))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            rows.dedup();
        }
        if rows.is_empty() {
            return Err(DataError::Empty {
                what: format!("{} (no complete rows)", self.data_file()),
            });
        }
        let d_all = features.len();
        let keep: Vec<usize> = (0..d_all)
            .filter(|&j| rows.iter().any(|r| r[j] != rows[0][j]))
            .collect();
        let n = rows.len();
        let mut x = Vec::with_capacity(n * keep.len());
        let mut y = Vec::with_capacity(n);
        for r in &rows {
            x.extend(keep.iter().map(|&j| r[j]));
            y.push(r[d_all]);
        }
        Ok(Regression {
            x,
            y,
            n,
            d: keep.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msd_target_is_the_year() {
        let r = UciDataset::Msd
            .parse("2001,0.5,7,1\n1999,0.25,7,2\n")
            .unwrap();
        assert_eq!(r.y, vec![2001.0, 1999.0]);
        // Column of 7s is constant and removed.
        assert_eq!((r.n, r.d), (2, 2));
        assert_eq!(r.x, vec![0.5, 1.0, 0.25, 2.0]);
    }

    #[test]
    fn ct_drops_the_patient_id() {
        let r = UciDataset::Ct
            .parse("patientId,v0,v1,reference\n0,1,2,30.5\n1,3,4,40.5\n")
            .unwrap();
        assert_eq!(r.y, vec![30.5, 40.5]);
        assert_eq!(r.x, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn workloads_dedups_sorts_and_drops_incomplete_rows() {
        let text = "id,a,b,y\n0,2,1,5\n1,1,9,6\n2,2,1,5\n3,,1,7\n4,1,,\n";
        let r = UciDataset::Workloads.parse(text).unwrap();
        assert_eq!(r.n, 2);
        assert_eq!(r.x, vec![1.0, 9.0, 2.0, 1.0]);
        assert_eq!(r.y, vec![6.0, 5.0]);
    }

    #[test]
    fn protein_and_errors() {
        let r = UciDataset::Protein
            .parse("RMSD,F1,F2\n1.5,2,3\n2.5,4,5\n")
            .unwrap();
        assert_eq!(r.y, vec![1.5, 2.5]);
        assert!(matches!(
            UciDataset::Protein.parse("RMSD\n1\n"),
            Err(DataError::Shape { .. })
        ));
        assert!(matches!(
            UciDataset::Protein.parse("RMSD,F1\n,\n"),
            Err(DataError::Empty { .. })
        ));
        assert_eq!(UciDataset::by_name("ct"), Some(UciDataset::Ct));
        assert_eq!(UciDataset::by_name("mnist"), None);
    }
}
