//! Human and machine output: progress bars that appear only on work longer
//! than about a second (and only on a terminal), tables, JSON files.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ntk_data::files;

/// A progress bar that stays hidden for its first second.
pub(crate) struct Progress {
    bar: ProgressBar,
    start: Instant,
    shown: bool,
    quiet: bool,
}

impl Progress {
    pub(crate) fn new(label: &str, quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>14} [{bar:40}] {pos}/{len} {elapsed_precise} (eta {eta})",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message(label.to_owned());
        Self {
            bar,
            start: Instant::now(),
            shown: false,
            quiet,
        }
    }

    /// Callback for `ntk_features::kernels`.
    pub(crate) fn update(&mut self, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        if !self.shown && !self.quiet && self.start.elapsed() > Duration::from_secs(1) {
            // Hidden automatically when stderr is not a terminal.
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
    }

    /// Seconds since the bar was created.
    pub(crate) fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    pub(crate) fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// Writes pretty JSON, refusing to overwrite unless `force`.
pub(crate) fn write_json(path: &Path, value: &serde_json::Value, force: bool) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    text.push('\n');
    files::write_new(path, text.as_bytes(), force)?;
    Ok(())
}

/// A two-column table on stdout.
pub(crate) fn table(rows: &[(&str, String)]) -> String {
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut s = String::new();
    for (k, v) in rows {
        s.push_str(&format!("  {k:<w$}  {v}\n"));
    }
    s
}

/// `12.3 s`, `4.5 min`, `2.1 h`.
pub(crate) fn human_seconds(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}
