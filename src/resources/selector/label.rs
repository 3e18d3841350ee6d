//! Label selectors: requirements on an object's labels, from the `labelSelector` query text
//! or from a `metav1.LabelSelector` object, as upstream's `labels.Selector` and
//! `metav1.LabelSelectorAsSelector` build them.

use std::fmt;

use serde_json::{Map, Value};

use super::go_text::{aggregate, go_quote, go_string_slice, invalid};
use super::label_parse;
use crate::resources::validation::{is_qualified_name, is_valid_label_value};

/// A label selector could not be built; the text is upstream's, which kubectl shows as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelSelectorError {
    /// One requirement of the query text is malformed or invalid (upstream wraps these).
    #[error("unable to parse requirement: {0}")]
    Requirement(String),
    /// The query text is malformed between requirements.
    #[error("{0}")]
    Syntax(String),
    /// A `matchExpressions` operator other than In, NotIn, Exists or DoesNotExist.
    #[error("{} is not a valid pod selector operator", go_quote(.0))]
    UnknownOperator(String),
    /// A `matchLabels`/`matchExpressions` entry breaks upstream's `NewRequirement` rules.
    #[error("{0}")]
    Invalid(String),
}

/// How a requirement relates a label to its values (upstream's `selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelOperator {
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`
    NotIn,
    /// `key=a`
    Equals,
    /// `key==a`
    DoubleEquals,
    /// `key!=a`
    NotEquals,
    /// `key>1`
    GreaterThan,
    /// `key<1`
    LessThan,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
}

/// One requirement: a key, an operator and (for most operators) values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRequirement {
    key: String,
    operator: LabelOperator,
    values: Vec<String>,
}

impl LabelRequirement {
    /// Builds a requirement after upstream's `labels.NewRequirement` checks; errors are the
    /// aggregated `field.Error` texts (`key: Invalid value: ...`).
    pub fn new(key: &str, operator: LabelOperator, values: Vec<String>) -> Result<Self, String> {
        let mut errs = Vec::new();
        let key_errs = is_qualified_name(key);
        if !key_errs.is_empty() {
            errs.push(invalid("key", &go_quote(key), &key_errs.join("; ")));
        }
        let rendered = go_string_slice(&values);
        match operator {
            LabelOperator::In | LabelOperator::NotIn if values.is_empty() => errs.push(invalid(
                "values",
                &rendered,
                "for 'in', 'notin' operators, values set can't be empty",
            )),
            LabelOperator::Equals | LabelOperator::DoubleEquals | LabelOperator::NotEquals
                if values.len() != 1 =>
            {
                errs.push(invalid(
                    "values",
                    &rendered,
                    "exact-match compatibility requires one single value",
                ))
            }
            LabelOperator::Exists | LabelOperator::DoesNotExist if !values.is_empty() => {
                errs.push(invalid(
                    "values",
                    &rendered,
                    "values set must be empty for exists and does not exist",
                ))
            }
            LabelOperator::GreaterThan | LabelOperator::LessThan => {
                if values.len() != 1 {
                    errs.push(invalid(
                        "values",
                        &rendered,
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(invalid(
                            &format!("values[{i}]"),
                            &go_quote(v),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            let value_errs = is_valid_label_value(v);
            if !value_errs.is_empty() {
                errs.push(invalid(
                    &format!("values[{i}][{key}]"),
                    &go_quote(v),
                    &value_errs.join("; "),
                ));
            }
        }
        if !errs.is_empty() {
            return Err(aggregate(errs));
        }
        Ok(Self {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> LabelOperator {
        self.operator
    }

    /// The values (sorted and unique when parsed from text).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Upstream's `Requirement.Matches`: NotIn and != also match objects without the label;
    /// Gt/Lt compare as 64-bit integers and never match a non-numeric label.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let label = labels.get(&self.key).and_then(Value::as_str);
        let has_value = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            LabelOperator::In | LabelOperator::Equals | LabelOperator::DoubleEquals => {
                label.is_some_and(has_value)
            }
            LabelOperator::NotIn | LabelOperator::NotEquals => !label.is_some_and(has_value),
            LabelOperator::Exists => label.is_some(),
            LabelOperator::DoesNotExist => label.is_none(),
            LabelOperator::GreaterThan | LabelOperator::LessThan => {
                let (Some(label), [bound]) = (label, self.values.as_slice()) else {
                    return false;
                };
                match (label.parse::<i64>(), bound.parse::<i64>()) {
                    (Ok(l), Ok(b)) if self.operator == LabelOperator::GreaterThan => l > b,
                    (Ok(l), Ok(b)) => l < b,
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for LabelRequirement {
    /// Upstream's `Requirement.String`, e.g. `a in (x,y)` or `!a`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut values = self.values.clone();
        values.sort();
        let joined = values.join(",");
        let key = &self.key;
        match self.operator {
            LabelOperator::Exists => write!(f, "{key}"),
            LabelOperator::DoesNotExist => write!(f, "!{key}"),
            LabelOperator::Equals => write!(f, "{key}={joined}"),
            LabelOperator::DoubleEquals => write!(f, "{key}=={joined}"),
            LabelOperator::NotEquals => write!(f, "{key}!={joined}"),
            LabelOperator::GreaterThan => write!(f, "{key}>{joined}"),
            LabelOperator::LessThan => write!(f, "{key}<{joined}"),
            LabelOperator::In => write!(f, "{key} in ({joined})"),
            LabelOperator::NotIn => write!(f, "{key} notin ({joined})"),
        }
    }
}

/// A set of requirements that must all hold (upstream's `labels.Selector`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
    /// Upstream's `labels.Nothing()`: what a missing (`null`) selector object selects.
    nothing: bool,
}

impl LabelSelector {
    /// Parses the `labelSelector` query text as upstream's `labels.Parse`.
    pub fn parse(text: &str) -> Result<Self, LabelSelectorError> {
        let mut requirements = label_parse::parse(text)?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Builds a selector from a `metav1.LabelSelector` object as upstream's
    /// `LabelSelectorAsSelector` does: `null` selects nothing, `{}` selects everything.
    pub fn from_label_selector(selector: &Value) -> Result<Self, LabelSelectorError> {
        if selector.is_null() {
            return Ok(Self {
                requirements: Vec::new(),
                nothing: true,
            });
        }
        let malformed = |what: &str| LabelSelectorError::Invalid(format!("{what}: malformed"));
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").filter(|v| !v.is_null()) {
            let labels = labels.as_object().ok_or_else(|| malformed("matchLabels"))?;
            let mut keys: Vec<&String> = labels.keys().collect();
            keys.sort();
            for key in keys {
                let value = labels[key.as_str()]
                    .as_str()
                    .ok_or_else(|| malformed("matchLabels"))?;
                let r = LabelRequirement::new(key, LabelOperator::Equals, vec![value.to_string()])
                    .map_err(LabelSelectorError::Invalid)?;
                requirements.push(r);
            }
        }
        if let Some(exprs) = selector.get("matchExpressions").filter(|v| !v.is_null()) {
            let exprs = exprs
                .as_array()
                .ok_or_else(|| malformed("matchExpressions"))?;
            for expr in exprs {
                let text = |field: &str| expr.get(field).and_then(Value::as_str).unwrap_or("");
                let operator = match text("operator") {
                    "In" => LabelOperator::In,
                    "NotIn" => LabelOperator::NotIn,
                    "Exists" => LabelOperator::Exists,
                    "DoesNotExist" => LabelOperator::DoesNotExist,
                    other => return Err(LabelSelectorError::UnknownOperator(other.to_string())),
                };
                let values = match expr.get("values") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|v| v.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| malformed("matchExpressions.values"))?,
                    Some(_) => return Err(malformed("matchExpressions.values")),
                };
                let r = LabelRequirement::new(text("key"), operator, values)
                    .map_err(LabelSelectorError::Invalid)?;
                requirements.push(r);
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Whether every requirement holds for `labels` (`metadata.labels`; absent means empty).
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector selects everything (no requirements).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[LabelRequirement] {
        &self.requirements
    }

    /// The value a requirement pins `key` to (`key=v`, `key==v`, `key in (v)`), if any.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.operator, r.values.as_slice()) {
            (LabelOperator::Equals | LabelOperator::DoubleEquals | LabelOperator::In, [value]) => {
                Some(value)
            }
            _ => None,
        }
    }
}

impl fmt::Display for LabelSelector {
    /// Upstream's `Selector.String`: requirements joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
#[path = "label_tests.rs"]
mod tests;
