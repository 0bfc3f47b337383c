//! The feature methods, one file each ([`registry`](super::registry) lists
//! them), behind one interface ([`interface`]): this module declares them
//! from the registry and dispatches [`Method`]'s calls to them.
//!
//! A *layered* method turns each activation layer into a stage
//! ([`FeatureMethod::activation`]): the shared walk (`features::build`) runs
//! the exact linear steps and the budget compressions around it. A
//! *whole-network* method ([`FeatureMethod::whole_network`]) replaces the
//! network by a stage of its own. Either way the stage is an
//! [`ActStage`](super::stage::ActStage): its scratch, whether it needs the
//! exact variances, and `apply` on a batch of samples' states.

mod homogeneous;
mod interface;
mod poly;

pub(crate) use interface::{ActCx, WholeCx};
pub use ntkrf::ntkrf_width;
pub use subspace::{spectral_error, statistical_dimension};

use super::config::{FeatureConfig, Method};
use super::map::FeatureMap;
use crate::error::{FeatureError, Result};
use crate::plan::Plan;
use dual_activations::DualActivation;
use interface::{Built, FeatureMethod};
use sketch_core::Real;

/// Declares every registered method's module and dispatches [`Method`]'s
/// calls to its type.
macro_rules! method_dispatch {
    ($($(#[$doc:meta])* $variant:ident => $module:ident :: $ty:ident),+ $(,)?) => {
        $(mod $module;)+

        impl Method {
            /// The name used on the command line, in model files and in Python.
            pub fn name(self) -> &'static str {
                match self {
                    $(Method::$variant => <$module::$ty as FeatureMethod>::NAME,)+
                }
            }

            /// One line saying what the method covers (help texts).
            pub fn summary(self) -> &'static str {
                match self {
                    $(Method::$variant => <$module::$ty as FeatureMethod>::SUMMARY,)+
                }
            }

            /// Whether maps of this method scale each sample to the exact
            /// diagonal unless [`FeatureConfig::calibrate`] says otherwise.
            pub fn calibrates_by_default(self) -> bool {
                match self {
                    $(Method::$variant => <$module::$ty as FeatureMethod>::CALIBRATES,)+
                }
            }

            pub(crate) fn whole_network<T: Real>(
                self,
                cx: &WholeCx<'_>,
                plan: Plan<'_>,
            ) -> Option<Result<FeatureMap<T>>> {
                match self {
                    $(Method::$variant => <$module::$ty as FeatureMethod>::whole_network(cx, plan),)+
                }
            }

            pub(crate) fn activation<T: Real>(
                self,
                cx: &mut ActCx<'_>,
                dual: DualActivation,
            ) -> Result<Built<T>> {
                match self {
                    $(Method::$variant => <$module::$ty as FeatureMethod>::activation(cx, dual),)+
                }
            }

            pub(crate) fn position_budget(
                self,
                config: &FeatureConfig,
                image: bool,
                pos: usize,
            ) -> usize {
                match self {
                    $(Method::$variant => {
                        <$module::$ty as FeatureMethod>::position_budget(config, image, pos)
                    })+
                }
            }

            pub(crate) fn compress_budget(self, config: &FeatureConfig, inner: usize) -> usize {
                match self {
                    $(Method::$variant => {
                        <$module::$ty as FeatureMethod>::compress_budget(config, inner)
                    })+
                }
            }

            pub(crate) fn finish(self, config: &FeatureConfig, activations: usize) -> Result<()> {
                match self {
                    $(Method::$variant => <$module::$ty as FeatureMethod>::finish(config, activations),)+
                }
            }
        }
    };
}

feature_methods!(method_dispatch);

impl core::fmt::Display for Method {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = FeatureError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| FeatureError::InvalidOption {
                what: "method",
                reason: format!(
                    "unknown method `{s}`; expected one of: {}",
                    Self::ALL.map(Method::name).join(", ")
                ),
            })
    }
}
