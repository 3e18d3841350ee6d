//! Field selectors (`fieldSelector=spec.nodeName=n1,status.phase!=Failed`), as upstream's
//! `fields.ParseSelector` reads them: comma-separated `field=value`, `field==value` or
//! `field!=value` terms, with `\,`, `\=` and `\\` escapes in values.

/// A field selector could not be parsed or names an unsupported field; the text is
/// upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    /// A term has no operator.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    Unparsable {
        /// The whole selector text.
        selector: String,
        /// The term that has no operator.
        term: String,
    },
    /// A backslash not followed by `\`, `,` or `=` (upstream's `InvalidEscapeSequence`).
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// A bare `,` or `=` inside a value; upstream prints the character's code point.
    #[error("invalid field selector: unescaped character in value: {}", u32::from(*.0))]
    UnescapedCharacter(char),
    /// The kind has no such field label (the API answers 400 with this text).
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

/// How a term compares the field with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    /// `=` or `==`
    Equals,
    /// `!=`
    NotEquals,
}

/// One `field<op>value` term, value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// Field label, e.g. `spec.nodeName`.
    pub field: String,
    /// Comparison.
    pub operator: FieldOperator,
    /// Value to compare with.
    pub value: String,
}

/// Terms that must all hold (upstream's `fields.Selector`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses `fieldSelector` text; terms are kept in upstream's order (sorted as text).
    pub fn parse(selector: &str) -> Result<Self, FieldSelectorError> {
        let mut terms = split_terms(selector);
        terms.sort();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let (field, operator, raw) =
                split_term(term).ok_or_else(|| FieldSelectorError::Unparsable {
                    selector: selector.to_string(),
                    term: term.to_string(),
                })?;
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value: unescape_value(raw)?,
            });
        }
        Ok(Self { requirements })
    }

    /// The terms, for the API to check that the kind supports each field.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Fails with `field label not supported: X` for the first field `supported` rejects,
    /// as upstream's field label conversion does.
    pub fn check_supported(
        &self,
        supported: impl Fn(&str) -> bool,
    ) -> Result<(), FieldSelectorError> {
        match self.requirements.iter().find(|r| !supported(&r.field)) {
            Some(r) => Err(FieldSelectorError::UnsupportedField(r.field.clone())),
            None => Ok(()),
        }
    }

    /// Whether every term holds; `lookup` gives a field's value, and a missing field
    /// compares as the empty string (upstream's `fields.Set.Get`).
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let actual = lookup(&r.field).unwrap_or_default();
            match r.operator {
                FieldOperator::Equals => actual == r.value,
                FieldOperator::NotEquals => actual != r.value,
            }
        })
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value an `=` term pins `field` to, if any (e.g. `metadata.name` for a watch of
    /// one object).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }
}

/// Splits on commas that are not escaped; escapes stay in the terms.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at the first operator; `!=` and `==` win over `=` at the same position.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, operator) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], operator, value));
            }
        }
    }
    None
}

/// Upstream's `fields.UnescapeValue`.
fn unescape_value(raw: &str) -> Result<String, FieldSelectorError> {
    if !raw.contains(['\\', ',', '=']) {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(FieldSelectorError::InvalidEscape(format!("\\{c}"))),
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => return Err(FieldSelectorError::UnescapedCharacter(c)),
            _ => out.push(c),
        }
    }
    if escaped {
        return Err(FieldSelectorError::InvalidEscape("\\".to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(field: &str) -> Option<String> {
        match field {
            "metadata.name" => Some("web-1".into()),
            "spec.nodeName" => Some("pi-1".into()),
            "status.phase" => Some("Running".into()),
            _ => None,
        }
    }

    #[test]
    fn parses_and_matches_terms() {
        let s =
            FieldSelector::parse("status.phase!=Failed,spec.nodeName==pi-1,metadata.name=web-1")
                .unwrap();
        let fields: Vec<&str> = s.requirements().iter().map(|r| r.field.as_str()).collect();
        assert_eq!(fields, ["metadata.name", "spec.nodeName", "status.phase"]);
        assert!(s.matches(lookup));
        assert!(!FieldSelector::parse("spec.nodeName=pi-2")
            .unwrap()
            .matches(lookup));
        assert!(FieldSelector::parse("spec.nodeName!=pi-2")
            .unwrap()
            .matches(lookup));
        // A missing field reads as empty.
        assert!(FieldSelector::parse("spec.other=").unwrap().matches(lookup));
        assert_eq!(
            FieldSelector::parse("metadata.name=a")
                .unwrap()
                .requires_exact_match("metadata.name"),
            Some("a")
        );
    }

    #[test]
    fn empty_selector_selects_everything() {
        let s = FieldSelector::parse("").unwrap();
        assert!(s.is_empty() && s.matches(|_| None));
        assert!(FieldSelector::parse(",,").unwrap().is_empty());
    }

    #[test]
    fn unescapes_values() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c\\d,spec.x=1").unwrap();
        assert_eq!(s.requirements()[0].value, r"a,b=c\d");
        assert_eq!(s.requirements()[1].value, "1");
    }

    #[test]
    fn errors_use_upstream_text() {
        let e = |s: &str| FieldSelector::parse(s).unwrap_err().to_string();
        assert_eq!(
            e("a=b,c"),
            "invalid selector: 'a=b,c'; can't understand 'c'"
        );
        assert_eq!(
            e(r"a=b\x"),
            r"invalid field selector: invalid escape sequence: \x"
        );
        assert_eq!(
            e(r"a=b\"),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            e("a=b=c"),
            "invalid field selector: unescaped character in value: 61"
        );
    }

    #[test]
    fn reports_unsupported_fields() {
        let s = FieldSelector::parse("spec.nodeName=a,spec.bogus=b").unwrap();
        let err = s
            .check_supported(|f| f == "spec.nodeName" || f.starts_with("metadata."))
            .unwrap_err();
        assert_eq!(err.to_string(), "field label not supported: spec.bogus");
        assert!(s.check_supported(|_| true).is_ok());
    }
}
