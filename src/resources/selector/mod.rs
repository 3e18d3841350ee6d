//! Label and field selectors for list and watch requests (`labelSelector`, `fieldSelector`
//! query parameters) and for `metav1.LabelSelector` objects inside specs.
//!
//! The grammar, matching rules and error texts follow upstream's
//! `k8s.io/apimachinery/pkg/labels` and `k8s.io/apimachinery/pkg/fields`, because kubectl shows
//! those messages to users verbatim.

mod field;
mod label;
mod label_parse;
mod name_rules;
pub mod typed;

pub use field::{FieldOperator, FieldRequirement, FieldSelector, FieldSelectorError};
pub use label::{LabelOperator, LabelRequirement, LabelSelector, LabelSelectorError};
