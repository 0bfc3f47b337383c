//! `Flatten()` ("CNN-Vec"): an image's positions become one vector. Kernel:
//! the mean over the diagonal positions (the image path's, `exact::images`);
//! on vectors nothing. Features: the per-position features concatenated and
//! divided by `√(HW)`.

use super::Layer;
use crate::error::Result;
use crate::features::recipe::{Dims, checked};
use crate::features::state::State;
use crate::parse::Args;
use crate::shape::Shape;
use sketch_core::Real;

/// stax's parameter names.
pub(crate) const ARGS: &[&str] = &["batch_axis", "batch_axis_out"];

/// The layer from its bound arguments.
pub(crate) fn parse(a: &mut Args<'_>) -> Result<Layer> {
    a.only("batch_axis", &["0"])?;
    a.only("batch_axis_out", &["0"])?;
    Ok(Layer::Flatten)
}

/// The output shape: one position.
pub(crate) fn output(input: Shape) -> Shape {
    match input {
        Shape::Image { .. } => Shape::Vector { dim: 1 },
        s => s,
    }
}

/// The exact update of one sample's features.
pub(crate) fn features<T: Real>(st: &mut State<T>) {
    if st.pos > 1 {
        let s = T::cast(1.0 / (st.pos as f64).sqrt());
        st.phi.iter_mut().for_each(|v| *v *= s);
        st.psi.iter_mut().for_each(|v| *v *= s);
        st.dphi *= st.pos;
        st.dpsi *= st.pos;
        st.pos = 1;
        st.h = 1;
        st.w = 1;
    }
}

/// The features' dimensions after the layer.
pub(crate) fn dims(dims: &mut Dims) -> Result<()> {
    dims.phi = checked(
        "flattened NNGP feature length",
        dims.phi.checked_mul(dims.pos),
    )?;
    dims.psi = checked(
        "flattened NTK feature length",
        dims.psi.checked_mul(dims.pos),
    )?;
    dims.pos = 1;
    Ok(())
}
