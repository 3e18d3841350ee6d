//! Label and field selectors for list and watch requests (`labelSelector`, `fieldSelector`
//! query parameters) and for `metav1.LabelSelector` objects inside specs, stored
//! ([`object`]) or typed ([`typed`]).
//!
//! The grammar, matching rules and error texts follow upstream's
//! `k8s.io/apimachinery/pkg/labels` and `k8s.io/apimachinery/pkg/fields`, because kubectl shows
//! those messages to users verbatim.

mod field;
mod go_text;
mod label;
mod label_parse;
pub mod object;
pub mod typed;

pub use field::{FieldOperator, FieldRequirement, FieldSelector, FieldSelectorError};
pub use go_text::{go_label_selector, go_string_map, invalid_shown};
pub use label::{LabelOperator, LabelRequirement, LabelSelector, LabelSelectorError};
