//! Every command-line option of `ntk`: the clap types and nothing else
//! (the commands in `cmd` turn them into the engine's values).

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ntk_features::{KernelKind, Method, Toggle};
use ntk_pipeline::Precision;

/// A value parser of the library's named choices: the possible values are
/// `names` (shown in `--help`), parsed by the type's own `FromStr`.
fn named<T>(names: impl IntoIterator<Item = &'static str>) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|s| s.parse::<T>())
}

fn kernels() -> impl TypedValueParser<Value = KernelKind> {
    named(KernelKind::ALL.map(KernelKind::name))
}

/// The help of `--method`, from the library's registry of methods.
fn method_help() -> String {
    let methods: Vec<String> = Method::ALL
        .iter()
        .map(|m| format!("{} ({})", m.name(), m.summary()))
        .collect();
    format!("Feature method: {}", methods.join("; "))
}

/// `--calibrate`'s help, the methods' defaults read from the registry.
fn calibrate_help() -> String {
    let by = |on: bool| -> String {
        Method::ALL
            .iter()
            .filter(|m| m.calibrates_by_default() == on)
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "Scale each sample's features to the exact kernel diagonal K(x, x) (auto: on for {}; off for {})",
        by(true),
        by(false)
    )
}

/// Exact NNGP / NTK / CNTK kernels with neural-tangents' conventions, and
/// kernel ridge regression on them.
#[derive(Debug, Parser)]
#[command(name = "ntk", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Under MPI: bytes per message at most (tests make them small so that
    /// reductions cross slab boundaries).
    #[arg(long, global = true, default_value_t = 128 << 20, hide = true)]
    pub(crate) slab_bytes: usize,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags shared by every command.
#[derive(Debug, Clone, Args)]
pub(crate) struct Common {
    /// Worker threads (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Seed of every random choice (validation splits).
    #[arg(long, global = true, default_value_t = 0)]
    pub(crate) seed: u64,
    /// No progress bars or tables on stderr/stdout (errors still print).
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
    /// Overwrite existing output files (refused otherwise).
    #[arg(long, global = true)]
    pub(crate) force: bool,
}

/// How feature maps are built (shared by `features`, `eval`, `fit`).
#[derive(Debug, Clone, Args)]
pub(crate) struct FeatureArgs {
    #[arg(long, default_value = "hermite", help = method_help())]
    pub(crate) method: String,
    /// Truncation degree: hermite's Hermite degree (default: from
    /// --tolerance, at most 8); the polynomial degree of ntksketch,
    /// cntksketch and onepass (default 4) and subspace (default: from
    /// --tolerance on the series' tail, at most 8).
    #[arg(long)]
    pub(crate) degree: Option<usize>,
    /// Relative tail tolerance for the automatic degree (hermite, subspace).
    #[arg(long)]
    pub(crate) tolerance: Option<f64>,
    /// Per-sample (per-position) state budget inside the network
    /// (default: D for vectors, D at every position for cntksketch, about 128·D/positions for other image methods; ntkrf:
    /// its TensorSRHT dimension, default D).
    #[arg(long, value_name = "M")]
    pub(crate) inner_dim: Option<usize>,
    /// PolySketch node dimension, or random-feature width (default: the
    /// inner budget; ntkrf: D/4).
    #[arg(long, value_name = "M")]
    pub(crate) node_dim: Option<usize>,
    /// Arc-cosine polynomials of ntksketch and cntksketch: fit (the 2021
    /// code's nonnegative monotone fits), taylor, or data (ntksketch: the
    /// 2021 fits reweighted to the correlations of 256 evenly spaced
    /// training samples, stored in the model).
    #[arg(long, default_value = "fit")]
    pub(crate) polynomial: String,
    /// Feature precision.
    #[arg(long, default_value = "f32", value_parser = named::<Precision>(Precision::ALL.map(Precision::name)))]
    pub(crate) dtype: Precision,
    #[arg(long, default_value = "auto", help = calibrate_help(), value_parser = named::<Toggle>(Toggle::ALL.map(Toggle::name)))]
    pub(crate) calibrate: Toggle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TaskKind {
    Classify,
    Regress,
}

/// Training data and how λ is chosen (shared by `eval` and `fit`).
#[derive(Debug, Clone, Args)]
pub(crate) struct Training {
    /// Architecture string (stax layers, or Myrtle5 / Myrtle7 / Myrtle10);
    /// not with --k-train.
    #[arg(long)]
    pub(crate) arch: Option<String>,
    /// Training inputs, (n, d) or (n, H, W, C), .npy or .csv.
    #[arg(long, value_name = "FILE")]
    pub(crate) x_train: Option<PathBuf>,
    /// Training targets: integer labels (classify) or values (regress).
    #[arg(long, value_name = "FILE")]
    pub(crate) y_train: Option<PathBuf>,
    /// CIFAR-10's binary batches as the training (and, for eval, test) set,
    /// pixel values 0..255 (the directory `ntk download cifar10` fills:
    /// DIR, or without DIR $NTK_DATA_DIR, else target/data).
    #[arg(long, value_name = "DIR", num_args = 0..=1, conflicts_with_all = ["x_train", "y_train"])]
    pub(crate) cifar: Option<Option<PathBuf>>,
    /// Only the first N training samples.
    #[arg(long, value_name = "N")]
    pub(crate) n_train: Option<usize>,
    /// A precomputed training kernel K(X_train, X_train), (n, n) .npy as
    /// `ntk kernel` writes it (eval only; with --k-test and --y-train).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["arch", "x_train", "cifar", "features"])]
    pub(crate) k_train: Option<PathBuf>,
    /// Standardise each channel (images) or feature (vectors) with the
    /// training mean and standard deviation.
    #[arg(long)]
    pub(crate) standardize: bool,
    /// Centre each sample to mean 0 and scale it to unit norm (after
    /// --standardize).
    #[arg(long)]
    pub(crate) normalize: bool,
    /// ZCA whitening (C + λI)^(-1/2) of the training inputs' second moment
    /// C, λ = REG·tr(C)/d (after --normalize; the 2022 paper: 0.1).
    #[arg(long, value_name = "REG")]
    pub(crate) zca: Option<f64>,
    /// Which kernel to regress with.
    #[arg(long, default_value = "ntk", value_parser = kernels())]
    pub(crate) kernel: KernelKind,
    /// Classification (one-hot targets, argmax) or regression.
    #[arg(long, value_enum, default_value_t = TaskKind::Classify)]
    pub(crate) task: TaskKind,
    /// Ridge λ, added to the kernel diagonal exactly as given.
    #[arg(
        long,
        conflicts_with_all = ["lambda_grid", "diag_reg"],
        required_unless_present_any = ["lambda_grid", "diag_reg", "gram"]
    )]
    pub(crate) lambda: Option<f64>,
    /// neural-tangents' `diag_reg`: λ = R times the mean of the training
    /// kernel's diagonal (exact kernels only).
    #[arg(long, value_name = "R", conflicts_with_all = ["lambda_grid", "features"])]
    pub(crate) diag_reg: Option<f64>,
    /// Training time of the infinite ensemble trained by gradient descent on
    /// the MSE (neural-tangents' `predict.gradient_descent_mse_ensemble`);
    /// `inf` (the default) is kernel ridge. Exact kernels only.
    #[arg(long, value_name = "T", conflicts_with = "features")]
    pub(crate) time: Option<f64>,
    /// Learning rate of that gradient descent (with --time).
    #[arg(long, default_value_t = 1.0, value_name = "ETA", requires = "time")]
    pub(crate) learning_rate: f64,
    /// Candidate λ values, chosen on a validation split of the training set.
    #[arg(long, value_delimiter = ',', value_name = "L1,L2,...")]
    pub(crate) lambda_grid: Option<Vec<f64>>,
    /// Fraction of the training set held out to choose λ from the grid.
    #[arg(long, default_value_t = 0.2, requires = "lambda_grid")]
    pub(crate) val_fraction: f64,
    /// Choose λ from the grid by K-fold cross-validation (seeded folds)
    /// instead of one validation split (exact or precomputed kernels).
    #[arg(
        long,
        value_name = "K",
        requires = "lambda_grid",
        conflicts_with = "features"
    )]
    pub(crate) folds: Option<usize>,
    /// Primal ridge on D explicit features instead of the exact kernel.
    #[arg(long, value_name = "D")]
    pub(crate) features: Option<usize>,
    #[command(flatten)]
    pub(crate) feature_args: FeatureArgs,
    /// With --features: the exact kernel on this many seeded training
    /// samples, and the features' relative error on them (0 skips).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub(crate) check: usize,
    /// Samples per chunk of the exact feature sums (fits agree bit for bit
    /// only at equal chunk sizes; tests make chunks small).
    #[arg(long, default_value_t = ntk_pipeline::CHUNK, value_name = "N", hide = true)]
    pub(crate) chunk: usize,
    /// `ntk fit` only: solve from the accumulator files `ntk gram --shard`
    /// wrote (all shards of one job array, any order); the architecture,
    /// feature map, data and λ rule are the ones recorded in them.
    #[arg(
        long,
        value_name = "FILE",
        num_args = 1..,
        conflicts_with_all = ["arch", "x_train", "y_train", "cifar", "features", "k_train", "lambda", "lambda_grid", "diag_reg"]
    )]
    pub(crate) gram: Vec<PathBuf>,
}

/// `ntk gram`: one shard of a job array's feature ridge, or the merge of
/// shard files.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct GramArgs {
    #[command(subcommand)]
    pub(crate) merge: Option<GramCommand>,
    #[command(flatten)]
    pub(crate) train: Training,
    /// This job's shard I/N (0 <= I < N): the I-th of N contiguous ranges of
    /// chunks of the training set (Slurm: --shard $SLURM_ARRAY_TASK_ID/N).
    #[arg(long, value_name = "I/N", required = true)]
    pub(crate) shard: Option<String>,
    /// Output accumulator file (docs/FORMATS.md).
    #[arg(long, value_name = "FILE", required = true)]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GramCommand {
    /// Merge accumulator files of one job array (any order, any subset;
    /// the same bits whatever the order).
    Merge {
        /// Accumulator files written by `ntk gram --shard` or by a merge.
        #[arg(required = true, num_args = 1.., value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Output accumulator file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// `ntk kernel`: exact kernels, one job array's tile of them, or the merge
/// of tile files.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct KernelArgs {
    #[command(subcommand)]
    pub(crate) merge: Option<KernelCommand>,
    /// Architecture string.
    #[arg(long, required = true)]
    pub(crate) arch: Option<String>,
    /// First inputs, (n1, d) or (n1, H, W, C).
    #[arg(long, value_name = "FILE", required = true)]
    pub(crate) x1: Option<PathBuf>,
    /// Second inputs (default: X1; only half the work is done then).
    #[arg(long, value_name = "FILE")]
    pub(crate) x2: Option<PathBuf>,
    /// Output for the NNGP matrix (n1, n2), float64.
    #[arg(long, value_name = "OUT.npy", conflicts_with = "tile")]
    pub(crate) nngp: Option<PathBuf>,
    /// Output for the NTK matrix (n1, n2), float64.
    #[arg(long, value_name = "OUT.npy", conflicts_with = "tile")]
    pub(crate) ntk: Option<PathBuf>,
    /// This job's tile I/N (0 <= I < N) of the output's columns, balanced
    /// by pair count (Slurm: --tile $SLURM_ARRAY_TASK_ID/N); needs --out.
    #[arg(long, value_name = "I/N", requires = "out")]
    pub(crate) tile: Option<String>,
    /// Output tile file (docs/FORMATS.md), with --tile.
    #[arg(long, value_name = "FILE", requires = "tile")]
    pub(crate) out: Option<PathBuf>,
    /// Also write a JSON summary (shapes, timings, architecture).
    #[arg(long, value_name = "OUT.json")]
    pub(crate) json: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KernelCommand {
    /// Assemble the tile files of one job array into the kernels' .npy
    /// files (the bytes one `ntk kernel` writes).
    Merge {
        /// Tile files written by `ntk kernel --tile` (every tile once).
        #[arg(required = true, num_args = 1.., value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Output for the NNGP matrix.
        #[arg(long, value_name = "OUT.npy", required_unless_present = "ntk")]
        nngp: Option<PathBuf>,
        /// Output for the NTK matrix.
        #[arg(long, value_name = "OUT.npy")]
        ntk: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Exact kernel matrices K(X1, X2) as .npy (X2 defaults to X1); with
    /// --tile, one tile of a job array, and `merge` of tile files.
    Kernel(KernelArgs),
    /// Explicit features Z (n, D') with Z Zᵀ ≈ the kernel `ntk kernel` computes.
    Features(FeaturesArgs),
    /// Kernel ridge: fit on the training set, report on the test set.
    Eval {
        #[command(flatten)]
        train: Training,
        /// Test inputs.
        #[arg(long, value_name = "FILE")]
        x_test: Option<PathBuf>,
        /// Test targets.
        #[arg(long, value_name = "FILE")]
        y_test: Option<PathBuf>,
        /// Only the first M test samples.
        #[arg(long, value_name = "M")]
        n_test: Option<usize>,
        /// With --k-train: the precomputed K(X_train, X_test), (n_train,
        /// n_test) .npy, as `ntk kernel --x1 TRAIN --x2 TEST` writes it.
        #[arg(long, value_name = "FILE", requires = "k_train")]
        k_test: Option<PathBuf>,
        /// Write the results as JSON.
        #[arg(long, value_name = "OUT.json")]
        json: Option<PathBuf>,
    },
    /// Job arrays without MPI: a shard's exact feature sums (`--shard I/N`),
    /// `merge` of shard files; `ntk fit --gram FILE...` solves.
    Gram(GramArgs),
    /// Fit kernel ridge and save the model (architecture, inputs, coefficients).
    Fit {
        #[command(flatten)]
        train: Training,
        /// Output model file.
        #[arg(long, value_name = "MODEL")]
        model: PathBuf,
    },
    /// Predict with a saved model: labels (classify) or values (regress).
    Predict {
        /// Model file written by `ntk fit`.
        #[arg(long, value_name = "MODEL")]
        model: PathBuf,
        /// Inputs to predict.
        #[arg(long, value_name = "FILE")]
        x: PathBuf,
        /// Predictions: int64 labels (n,) or float64 values (n,) / (n, k).
        #[arg(long, value_name = "OUT.npy")]
        out: PathBuf,
        /// Also write the raw regression outputs (n, k), float64.
        #[arg(long, value_name = "OUT.npy")]
        scores: Option<PathBuf>,
    },
    /// Offline demo: exact kernel ridge on the embedded 8x8 digits; writes
    /// demo.json and demo.svg.
    Demo {
        /// Directory for demo.json and demo.svg (replaced only with --force,
        /// except in the default directory, which belongs to the demo).
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// The papers' experiments on this machine: `mnist` (offline, the
    /// embedded digits), `uci NAME`, `cifar`; writes report.{json,md,svg}.
    Reproduce {
        #[command(subcommand)]
        which: Reproduction,
    },
    /// Download and verify a dataset: `cifar10`, or `uci NAME` (protein, ct,
    /// workloads, msd).
    Download {
        /// `cifar10` or `uci`.
        dataset: String,
        /// The UCI dataset name.
        name: Option<String>,
        /// Data directory (default: $NTK_DATA_DIR, else target/data).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// A mirror URL (the pinned checksums still apply).
        #[arg(long)]
        url: Option<String>,
    },
    /// Print the parsed network layer by layer, or explain what is wrong.
    Arch {
        /// Architecture string.
        arch: String,
        /// Input shape per sample, e.g. 784 or 32,32,3 (shows output shapes).
        #[arg(long, value_delimiter = ',', value_name = "D | H,W,C")]
        input_shape: Option<Vec<usize>>,
    },
}

/// Options of `ntk features`.
#[derive(Debug, Clone, Args)]
pub(crate) struct FeaturesArgs {
    /// Architecture string.
    #[arg(long)]
    pub(crate) arch: String,
    /// Inputs, (n, d) or (n, H, W, C).
    #[arg(long, value_name = "FILE")]
    pub(crate) x: PathBuf,
    /// Requested feature dimension D (the output has min(D, natural)).
    #[arg(long, value_name = "D")]
    pub(crate) dim: usize,
    #[command(flatten)]
    pub(crate) feature_args: FeatureArgs,
    /// Which kernel the features approximate.
    #[arg(long, default_value = "ntk", value_parser = kernels())]
    pub(crate) kernel: KernelKind,
    /// Output features (n, D'), .npy in the chosen precision.
    #[arg(long, value_name = "OUT.npy")]
    pub(crate) out: PathBuf,
    /// The exact kernel on this many seeded samples and the features'
    /// relative error on them (0 skips).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub(crate) check: usize,
    /// Also write a JSON summary.
    #[arg(long, value_name = "OUT.json")]
    pub(crate) json: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Reproduction {
    /// Exact NTK/CNTK kernel ridge against ntksketch, ntkrf, hermite,
    /// random and cntksketch features on 5000 embedded MNIST digits.
    Mnist(MnistArgs),
    /// Exact NTK against ntksketch and ntkrf on a UCI regression set
    /// (protein, ct, workloads, msd; `ntk download uci NAME` first).
    Uci(UciArgs),
    /// Sketched CNTK features against the exact CNTK on CIFAR-10
    /// (`ntk download cifar10` first).
    Cifar(CifarArgs),
}

/// Options of `ntk reproduce mnist`.
#[derive(Debug, Clone, Args)]
pub(crate) struct MnistArgs {
    /// Training digits (seeded shuffle of the 5000; the rest up to --test
    /// are the test set).
    #[arg(long, default_value_t = 4000)]
    pub(crate) train: usize,
    /// Test digits.
    #[arg(long, default_value_t = 1000)]
    pub(crate) test: usize,
    /// Training digits of the exact fully connected kernels (default: all).
    #[arg(long, value_name = "N")]
    pub(crate) exact_train: Option<usize>,
    /// Training digits of the exact CNTK (its cost grows with (14·14)² per pair).
    #[arg(long, default_value_t = 300, value_name = "N")]
    pub(crate) exact_conv_train: usize,
    /// Test digits of the exact CNTK.
    #[arg(long, default_value_t = 300, value_name = "M")]
    pub(crate) exact_conv_test: usize,
    /// Feature dimensions.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1024,4096",
        value_name = "D1,D2,..."
    )]
    pub(crate) dims: Vec<usize>,
    /// Skip the convolutional network (fully connected only).
    #[arg(long)]
    pub(crate) no_conv: bool,
    /// Directory of report.{json,md,svg}.
    #[arg(long, value_name = "DIR", default_value = "target/reproduce/mnist")]
    pub(crate) out_dir: PathBuf,
    /// Commit recorded in the report (cargo xtask passes it).
    #[arg(long)]
    pub(crate) commit: Option<String>,
}

/// Options of `ntk reproduce uci`.
#[derive(Debug, Clone, Args)]
pub(crate) struct UciArgs {
    /// protein, ct, workloads or msd.
    pub(crate) name: String,
    /// Data directory holding uci/NAME/ (default: $NTK_DATA_DIR, else target/data).
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Architecture string (default: a depth-2 ReLU network without bias,
    /// the 2021 code's NTK).
    #[arg(long, default_value = DEFAULT_ARCH)]
    pub(crate) arch: String,
    /// Feature dimension of ntksketch and ntkrf (the paper's 8192).
    #[arg(long, default_value_t = 8192, value_name = "D")]
    pub(crate) dim: usize,
    /// Folds (contiguous, unshuffled, as the public code's KFold).
    #[arg(long, default_value_t = 4)]
    pub(crate) folds: usize,
    /// Run only the first this many folds (all by default).
    #[arg(long, value_name = "K")]
    pub(crate) max_folds: Option<usize>,
    /// Largest training subset of the exact NTK (its solve is cubic).
    #[arg(long, default_value_t = 5000, value_name = "N")]
    pub(crate) exact_train: usize,
    /// Largest training subset of the feature ridge (all by default).
    #[arg(long, value_name = "N")]
    pub(crate) max_train: Option<usize>,
    /// Directory of report.{json,md,svg} (default target/reproduce/uci/NAME).
    #[arg(long, value_name = "DIR")]
    pub(crate) out_dir: Option<PathBuf>,
    /// Commit recorded in the report (cargo xtask passes it).
    #[arg(long)]
    pub(crate) commit: Option<String>,
}

/// Options of `ntk reproduce cifar`.
#[derive(Debug, Clone, Args)]
pub(crate) struct CifarArgs {
    /// 2021, 2022 or both.
    #[arg(long, default_value = "2021")]
    pub(crate) protocol: String,
    /// Directory holding CIFAR-10's binary batches (default: $NTK_DATA_DIR,
    /// else target/data; `ntk download cifar10` puts them there).
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Training images (the first N of the official training set).
    #[arg(long, default_value_t = 50_000)]
    pub(crate) train: usize,
    /// Test images (the first M of the official test set).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) test: usize,
    /// Feature dimensions (the papers: 16384).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "4096,16384",
        value_name = "D1,D2,..."
    )]
    pub(crate) dims: Vec<usize>,
    /// Training images of the exact kernel (and of the features run at the
    /// same n); 0 skips the exact kernel.
    #[arg(long, default_value_t = 300, value_name = "N")]
    pub(crate) exact_train: usize,
    /// Test images of the exact kernel.
    #[arg(long, default_value_t = 300, value_name = "M")]
    pub(crate) exact_test: usize,
    /// Per-position feature budget. Default: D for the 2021 protocol (the
    /// 2021 code's m at every pixel, so the output has D features), the
    /// library's default (about 128·D/positions) for the 2022 protocol.
    #[arg(long, value_name = "M")]
    pub(crate) inner_dim: Option<usize>,
    /// Do not cache feature blocks under DATA_DIR/cache/features (by
    /// default they are, so an interrupted run resumes).
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Directory of report.{json,md,svg}.
    #[arg(long, value_name = "DIR", default_value = "target/reproduce/cifar")]
    pub(crate) out_dir: PathBuf,
    /// Commit recorded in the report (cargo xtask passes it).
    #[arg(long)]
    pub(crate) commit: Option<String>,
}

/// The architecture of `ntk reproduce uci` without `--arch`.
pub(crate) const DEFAULT_ARCH: &str =
    "Dense(W_std=1.414), Relu, Dense(W_std=1.414), Relu, Dense(W_std=1.414)";
