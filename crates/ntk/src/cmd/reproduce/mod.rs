//! `ntk reproduce mnist|uci|cifar`: the papers' experiments on this
//! machine, one module each (data and protocol), on the engine in
//! `crate::repro`.

pub(crate) mod cifar;
pub(crate) mod mnist;
pub(crate) mod uci;
