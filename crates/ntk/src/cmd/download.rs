//! `ntk download`: fetch, verify and unpack a dataset, then parse it once
//! to prove it is usable.

use std::path::PathBuf;

use crate::ctx::{Ctx, data_dir};
use crate::error::{Result, usage};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ntk_data::download::{self, CIFAR10_BINARY, Members, Outcome};
use ntk_data::files;
use ntk_data::uci::UciDataset;

fn bar(ctx: &Ctx, label: &str) -> ProgressBar {
    let target = if ctx.common.quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let b = ProgressBar::with_draw_target(None, target);
    b.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} (eta {eta})",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    b.set_message(label.to_owned());
    b
}

/// `ntk download cifar10` or `ntk download uci NAME`.
pub(crate) fn run(
    ctx: &Ctx,
    dataset: &str,
    name: Option<&str>,
    dir: Option<PathBuf>,
    url: Option<&str>,
) -> Result<()> {
    let dir = data_dir(dir);
    match (dataset, name) {
        ("cifar10", None) => {
            let pb = bar(ctx, "cifar-10");
            let outcome = download::ensure_archive(
                &dir,
                &CIFAR10_BINARY,
                &Members::cifar10(),
                url,
                &mut |done, total| {
                    if let Some(t) = total {
                        pb.set_length(t);
                    }
                    pb.set_position(done);
                },
            );
            pb.finish_and_clear();
            let outcome = outcome?;
            let data = files::load_cifar10(&dir)?;
            let how = match outcome {
                Outcome::AlreadyPresent => "already present".to_owned(),
                Outcome::ExtractedLocal => {
                    "extracted from the local archive (MD5 and SHA-256 verified)".to_owned()
                }
                Outcome::Downloaded { bytes } => {
                    format!("downloaded {bytes} bytes (MD5 and SHA-256 verified)")
                }
            };
            ctx.say(&format!(
                "cifar10: {how}\n  {}: {} training and {} test images, 32x32x3\n",
                dir.join(ntk_data::cifar::ARCHIVE_DIR).display(),
                data.train.n,
                data.test.n
            ));
            Ok(())
        }
        ("uci", Some(n)) => {
            let set = UciDataset::by_name(n).ok_or_else(|| {
                usage(format!(
                    "unknown UCI dataset '{n}' (protein, ct, workloads, msd)"
                ))
            })?;
            let pb = bar(ctx, set.name());
            let path = download::ensure_uci(&dir, set, url, &mut |done, total| {
                if let Some(t) = total {
                    pb.set_length(t);
                }
                pb.set_position(done);
            });
            pb.finish_and_clear();
            let path = path?;
            let text = String::from_utf8(files::read(&path)?)
                .map_err(|_| usage(format!("{}: not UTF-8 text", path.display())))?;
            let data = set.parse(&text)?;
            ctx.say(&format!(
                "{}: {} ({} samples, {} features after removing constant columns)\n  UCI publishes no checksums: the SHA-256 of this first download is recorded beside it and later downloads must match it.\n",
                set.name(),
                path.display(),
                data.n,
                data.d
            ));
            Ok(())
        }
        ("uci", None) => Err(usage(
            "ntk download uci NAME: NAME is protein, ct, workloads or msd",
        )),
        (other, _) => Err(usage(format!(
            "unknown dataset '{other}' (cifar10, or uci NAME)"
        ))),
    }
}
