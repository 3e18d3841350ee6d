//! Field-level validation errors, as upstream's `field.Error`; the API turns them into the
//! `causes` of a 422 `Invalid` Status.

use std::fmt;

/// What is wrong with a field; maps to upstream's `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `FieldValueRequired`: "Required value".
    Required,
    /// `FieldValueInvalid`: "Invalid value".
    Invalid,
    /// `FieldValueForbidden`: "Forbidden".
    Forbidden,
    /// `FieldValueDuplicate`: "Duplicate value".
    Duplicate,
    /// `FieldValueNotSupported`: "Unsupported value".
    NotSupported,
    /// `FieldValueTooLong`: "Too long".
    TooLong,
    /// `FieldValueTooMany`: "Too many".
    TooMany,
    /// `FieldValueNotFound`: "Not found".
    NotFound,
}

impl FieldErrorKind {
    /// The `reason` of a Status cause.
    pub fn cause_type(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::Forbidden => "FieldValueForbidden",
            Self::Duplicate => "FieldValueDuplicate",
            Self::NotSupported => "FieldValueNotSupported",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::NotFound => "FieldValueNotFound",
        }
    }
}

/// One invalid field: `spec.containers[0].image: Required value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// What is wrong.
    pub kind: FieldErrorKind,
    /// Path of the field, e.g. `spec.containers[0].image`.
    pub field: String,
    /// The full upstream-style message after the field path, e.g. `Required value` or
    /// `Invalid value: "Foo": a lowercase RFC 1123 subdomain must ...`.
    pub detail: String,
}

impl FieldError {
    /// A required field is missing.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        let detail = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        Self {
            kind: FieldErrorKind::Required,
            field: field.into(),
            detail,
        }
    }

    /// A field has a value that is not allowed; `value` is rendered as JSON like upstream.
    pub fn invalid(field: impl Into<String>, value: &serde_json::Value, detail: &str) -> Self {
        Self {
            kind: FieldErrorKind::Invalid,
            field: field.into(),
            detail: format!("Invalid value: {value}: {detail}"),
        }
    }

    /// A field may not be set or changed.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self {
            kind: FieldErrorKind::Forbidden,
            field: field.into(),
            detail: format!("Forbidden: {detail}"),
        }
    }

    /// A value appears twice where it must be unique.
    pub fn duplicate(field: impl Into<String>, value: &serde_json::Value) -> Self {
        Self {
            kind: FieldErrorKind::Duplicate,
            field: field.into(),
            detail: format!("Duplicate value: {value}"),
        }
    }

    /// A value outside an enumeration; `supported` lists the allowed values.
    pub fn not_supported(
        field: impl Into<String>,
        value: &serde_json::Value,
        supported: &[&str],
    ) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        Self {
            kind: FieldErrorKind::NotSupported,
            field: field.into(),
            detail: format!(
                "Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
        }
    }

    /// A referenced value does not exist.
    pub fn not_found(field: impl Into<String>, value: &serde_json::Value) -> Self {
        Self {
            kind: FieldErrorKind::NotFound,
            field: field.into(),
            detail: format!("Not found: {value}"),
        }
    }

    /// A list has more items than allowed.
    pub fn too_many(field: impl Into<String>, have: usize, max: usize) -> Self {
        Self {
            kind: FieldErrorKind::TooMany,
            field: field.into(),
            detail: format!("Too many: {have}: must have at most {max} items"),
        }
    }

    /// A string or list is longer than allowed.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self {
            kind: FieldErrorKind::TooLong,
            field: field.into(),
            detail: format!("Too long: may not be more than {max} bytes"),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.detail)
    }
}

/// The errors as the text a Status cause's message shows, for tests to compare whole.
#[cfg(test)]
pub(crate) fn messages(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}
