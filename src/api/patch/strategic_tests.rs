//! Tests of the strategic merge patch against upstream behaviour.
