//! Benchmark groups, one module per crate family.
pub(crate) mod dual;
