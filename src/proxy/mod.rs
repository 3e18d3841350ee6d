//! The built-in kube-proxy: every node programs Services into Bramble's own nftables table
//! from the shared Service and EndpointSlice informers. [`model`] works out what to program.

pub mod model;
