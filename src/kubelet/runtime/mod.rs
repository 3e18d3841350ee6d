//! Containers through an OCI runtime behind one small trait.
