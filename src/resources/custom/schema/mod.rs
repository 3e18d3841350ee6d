//! A custom resource's structural schema (a CRD version's `openAPIV3Schema`), read once into a
//! tree that prunes, defaults and validates objects as upstream's apiextensions-apiserver
//! does. Reading the schema checks upstream's structural rules; what breaks them is reported
//! as the CRD's field errors.

mod defaults;
mod list_types;
mod parse;
mod prune;
mod validate;

use regex::Regex;
use serde_json::Value;

pub use parse::{parse, MAX_DEPTH};

/// A JSON type a schema node may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
    /// A string.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
}

impl Type {
    /// The name the schema spells.
    pub fn name(self) -> &'static str {
        match self {
            Type::Object => "object",
            Type::Array => "array",
            Type::String => "string",
            Type::Integer => "integer",
            Type::Number => "number",
            Type::Boolean => "boolean",
        }
    }
}

/// What an object node says of members its `properties` do not name.
#[derive(Debug, Default)]
pub enum Additional {
    /// Nothing: they are pruned unless the node preserves unknown fields.
    #[default]
    Unspecified,
    /// `additionalProperties: {schema}`: every member is a value of this schema (a map).
    Schema(Box<Schema>),
    /// `additionalProperties: true`: any member, kept as it is.
    Any,
}

/// Value checks of one node (upstream's value validations).
#[derive(Debug, Default)]
pub struct Checks {
    /// `minimum`.
    pub minimum: Option<f64>,
    /// `maximum`.
    pub maximum: Option<f64>,
    /// `exclusiveMinimum`.
    pub exclusive_minimum: bool,
    /// `exclusiveMaximum`.
    pub exclusive_maximum: bool,
    /// `multipleOf`.
    pub multiple_of: Option<f64>,
    /// `minLength`, in characters.
    pub min_length: Option<u64>,
    /// `maxLength`, in characters.
    pub max_length: Option<u64>,
    /// `pattern`, compiled, with its text for messages.
    pub pattern: Option<(Regex, String)>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxItems`.
    pub max_items: Option<u64>,
    /// `uniqueItems`.
    pub unique_items: bool,
    /// `minProperties`.
    pub min_properties: Option<u64>,
    /// `maxProperties`.
    pub max_properties: Option<u64>,
    /// `enum`.
    pub enumeration: Vec<Value>,
    /// `format` (`int32`, `int64`, `byte`, `date-time`, ...).
    pub format: Option<String>,
}

/// One node of a structural schema.
#[derive(Debug, Default)]
pub struct Schema {
    /// `type`; `None` only with `x-kubernetes-int-or-string` or
    /// `x-kubernetes-preserve-unknown-fields`.
    pub kind: Option<Type>,
    /// `properties`, sorted by name.
    pub properties: Vec<(String, Schema)>,
    /// `additionalProperties`.
    pub additional: Additional,
    /// `items`.
    pub items: Option<Box<Schema>>,
    /// `required`.
    pub required: Vec<String>,
    /// `default`.
    pub default: Option<Value>,
    /// `nullable`.
    pub nullable: bool,
    /// `x-kubernetes-preserve-unknown-fields`.
    pub preserve_unknown: bool,
    /// `x-kubernetes-int-or-string`.
    pub int_or_string: bool,
    /// `x-kubernetes-embedded-resource`: the value is an object with `apiVersion`, `kind`
    /// and `metadata`.
    pub embedded: bool,
    /// `x-kubernetes-list-type`.
    pub list_type: Option<String>,
    /// `x-kubernetes-list-map-keys`.
    pub list_map_keys: Vec<String>,
    /// Value checks.
    pub checks: Checks,
    /// `allOf`, `anyOf`, `oneOf`: value validations only (structural schemas keep types out
    /// of them).
    pub all_of: Vec<Schema>,
    /// `anyOf`.
    pub any_of: Vec<Schema>,
    /// `oneOf`.
    pub one_of: Vec<Schema>,
    /// `not`.
    pub not: Option<Box<Schema>>,
}

impl Schema {
    /// The schema of member `name` of an object node.
    pub fn property(&self, name: &str) -> Option<&Schema> {
        self.properties
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .and_then(|i| self.properties.get(i))
            .map(|(_, s)| s)
            .or(match &self.additional {
                Additional::Schema(s) => Some(s),
                _ => None,
            })
    }

    /// Whether members no schema names are kept.
    pub fn keeps_unknown(&self) -> bool {
        self.preserve_unknown || matches!(self.additional, Additional::Any)
    }
}

/// Joins a field path the way upstream's messages spell it.
pub(crate) fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// A list item's path.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

pub use defaults::apply_defaults;
pub use list_types::patch_schema;
pub use prune::prune;
pub use validate::validate;
