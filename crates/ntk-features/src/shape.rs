//! The shape of one sample as it flows through a network.

/// The shape of one sample flowing through the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A vector of `dim` features (or, after Flatten/GAP, the kernel's scalar state).
    Vector {
        /// Feature dimension.
        dim: usize,
    },
    /// An `h × w` image with `c` channels (NHWC).
    Image {
        /// Height.
        h: usize,
        /// Width.
        w: usize,
        /// Channels.
        c: usize,
    },
}

impl core::fmt::Display for Shape {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Vector { dim } => write!(f, "({dim},)"),
            Self::Image { h, w, c } => write!(f, "({h}, {w}, {c})"),
        }
    }
}
