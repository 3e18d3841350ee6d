//! The JSONPath subset printer columns and scale paths use (`.spec.replicas`,
//! `.status.conditions[0].type`, `.spec.items[*].name`): member and index steps, `[*]` for
//! every item. Anything else is refused when the CRD is written.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.name` or `['name']`.
    Member(String),
    /// `[3]`.
    Index(usize),
    /// `[*]`.
    Every,
}

/// The path is not in the supported subset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported JSON path {0:?}: use member steps (.a.b), indexes ([0]) and [*]")]
pub struct PathError(pub String);

/// The longest path accepted, in steps.
const MAX_STEPS: usize = 32;

/// Parses `path` (with or without the `{}` kubectl accepts around it).
pub fn parse(path: &str) -> Result<Vec<Step>, PathError> {
    let err = || PathError(path.to_string());
    let p = path.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut steps = Vec::new();
    let mut rest = p;
    while !rest.is_empty() {
        if steps.len() >= MAX_STEPS {
            return Err(err());
        }
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() {
                return Err(err());
            }
            steps.push(Step::Member(name.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(err)?;
            let inner = &r[..end];
            let step = if inner == "*" {
                Step::Every
            } else if let Some(q) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                Step::Member(q.to_string())
            } else {
                Step::Index(inner.parse().map_err(|_| err())?)
            };
            steps.push(step);
            rest = &r[end + 1..];
        } else {
            return Err(err());
        }
    }
    if steps.is_empty() {
        return Err(err());
    }
    Ok(steps)
}

/// Every value `steps` reach in `v`.
pub fn find<'a>(v: &'a Value, steps: &[Step]) -> Vec<&'a Value> {
    let Some((first, rest)) = steps.split_first() else {
        return vec![v];
    };
    match (first, v) {
        (Step::Member(m), Value::Object(o)) => o.get(m).map(|c| find(c, rest)).unwrap_or_default(),
        (Step::Index(i), Value::Array(a)) => a.get(*i).map(|c| find(c, rest)).unwrap_or_default(),
        (Step::Every, Value::Array(a)) => a.iter().flat_map(|c| find(c, rest)).collect(),
        (Step::Every, Value::Object(o)) => o.values().flat_map(|c| find(c, rest)).collect(),
        _ => Vec::new(),
    }
}

/// The JSON pointer of a path of member steps only (scale subresource paths).
pub fn pointer(steps: &[Step]) -> Option<String> {
    let mut out = String::new();
    for s in steps {
        match s {
            Step::Member(m) => {
                out.push('/');
                out.push_str(&m.replace('~', "~0").replace('/', "~1"));
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn members_indexes_and_every_item() {
        let v = json!({"spec": {"items": [{"name": "a"}, {"name": "b"}], "size": 3}});
        let s = parse(".spec.items[*].name").unwrap();
        assert_eq!(find(&v, &s), [&json!("a"), &json!("b")]);
        assert_eq!(
            find(&v, &parse("{.spec.items[1].name}").unwrap()),
            [&json!("b")]
        );
        assert_eq!(find(&v, &parse(".spec['size']").unwrap()), [&json!(3)]);
        assert!(find(&v, &parse(".spec.missing").unwrap()).is_empty());
        assert_eq!(
            pointer(&parse(".spec.replicas").unwrap()).unwrap(),
            "/spec/replicas"
        );
        assert!(pointer(&parse(".spec.items[0]").unwrap()).is_none());
    }

    #[test]
    fn other_syntax_is_refused() {
        for bad in ["", ".", "spec", ".a[", ".a[x]", ".a[?(@.x)]", "..a"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
