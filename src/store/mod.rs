//! Versioned object store on sled.
