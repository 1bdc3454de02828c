//! Implementation detail of the `monitor` crate.
