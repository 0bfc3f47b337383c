//! Benchmark groups, one module per crate family.
pub(crate) mod dual;
pub(crate) mod exact;
pub(crate) mod features;
pub(crate) mod sketch;
pub(crate) mod solve;
