//! A set of field paths, as a tree: upstream's `fieldpath.Set`, and its JSON form FieldsV1
//! (`{"f:spec": {"f:replicas": {}}}`, with `".": {}` marking a node that is itself in the
//! set and also has members below it).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::path::Element;

/// Deepest FieldsV1 tree read; deeper input is refused rather than walked.
const MAX_DEPTH: usize = 64;

/// A set of paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// The path leading here is itself in the set.
    member: bool,
    /// Members below, by next step.
    children: BTreeMap<Element, FieldSet>,
}

/// Why a FieldsV1 tree could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldsError {
    /// Not an object, or a step that is not `f:`, `k:`, `v:`, `i:` or `.`.
    #[error("invalid fieldsV1 at {0:?}")]
    Invalid(String),
    /// Nested deeper than any object.
    #[error("fieldsV1 nested too deeply")]
    TooDeep,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Whether nothing is in the set.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    /// Adds `path`.
    pub fn insert(&mut self, path: &[Element]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether `path` is in the set.
    pub fn contains(&self, path: &[Element]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// The set below `step`, if any.
    pub fn child(&self, step: &Element) -> Option<&FieldSet> {
        self.children.get(step)
    }

    /// Puts `set` below `step`, merged with what is there.
    pub fn insert_set(&mut self, step: Element, set: FieldSet) {
        if set.is_empty() {
            return;
        }
        let slot = self.children.entry(step).or_default();
        slot.union_with(&set);
    }

    /// Marks the path leading here as a member.
    pub fn mark(&mut self) {
        self.member = true;
    }

    /// Adds every member of `other`.
    pub fn union_with(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (step, set) in &other.children {
            self.children
                .entry(step.clone())
                .or_default()
                .union_with(set);
        }
    }

    /// Removes every member of `other`; branches left empty go.
    pub fn subtract(&mut self, other: &FieldSet) {
        if other.member {
            self.member = false;
        }
        for (step, set) in &other.children {
            if let Some(mine) = self.children.get_mut(step) {
                mine.subtract(set);
                if mine.is_empty() {
                    self.children.remove(step);
                }
            }
        }
    }

    /// The members of both.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (step, set) in &self.children {
            if let Some(theirs) = other.children.get(step) {
                let both = set.intersection(theirs);
                if !both.is_empty() {
                    out.children.insert(step.clone(), both);
                }
            }
        }
        out
    }

    /// Every member path, shallowest first within each branch.
    pub fn paths(&self) -> Vec<Vec<Element>> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect(&mut prefix, &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<Element>, out: &mut Vec<Vec<Element>>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (step, set) in &self.children {
            prefix.push(step.clone());
            set.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Reads a FieldsV1 tree.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldsError> {
        Self::read(value, 0)
    }

    fn read(value: &Value, depth: usize) -> Result<FieldSet, FieldsError> {
        if depth > MAX_DEPTH {
            return Err(FieldsError::TooDeep);
        }
        let Value::Object(map) = value else {
            return Err(FieldsError::Invalid(value.to_string()));
        };
        let mut set = FieldSet::new();
        for (key, sub) in map {
            if key == "." {
                set.member = true;
                continue;
            }
            let step = Element::decode(key).ok_or_else(|| FieldsError::Invalid(key.clone()))?;
            let mut child = Self::read(sub, depth + 1)?;
            if child.children.is_empty() {
                // `{}`: a leaf member
                child.member = true;
            }
            set.children.insert(step, child);
        }
        Ok(set)
    }

    /// The FieldsV1 tree of this set.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        for (step, set) in &self.children {
            map.insert(step.encode(), set.to_fields_v1_inner());
        }
        Value::Object(map)
    }

    fn to_fields_v1_inner(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (step, set) in &self.children {
            map.insert(step.encode(), set.to_fields_v1_inner());
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> Element {
        Element::Field(name.into())
    }

    #[test]
    fn fields_v1_round_trips() {
        let v1 = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}},
                       "f:replicas": {}}
        });
        let set = FieldSet::from_fields_v1(&v1).unwrap();
        assert!(set.contains(&[f("spec"), f("replicas")]));
        assert!(set.contains(&[f("metadata"), f("labels")]));
        assert!(!set.contains(&[f("metadata")]));
        assert_eq!(set.to_fields_v1(), v1);
        assert_eq!(set.paths().len(), 6);
    }

    #[test]
    fn union_subtract_and_intersection() {
        let mut a = FieldSet::new();
        a.insert(&[f("spec"), f("replicas")]);
        a.insert(&[f("spec"), f("paused")]);
        let mut b = FieldSet::new();
        b.insert(&[f("spec"), f("replicas")]);
        b.insert(&[f("metadata"), f("labels"), f("app")]);
        let both = a.intersection(&b);
        assert_eq!(both.paths(), vec![vec![f("spec"), f("replicas")]]);
        let mut u = a.clone();
        u.union_with(&b);
        assert_eq!(u.paths().len(), 3);
        a.subtract(&b);
        assert_eq!(a.paths(), vec![vec![f("spec"), f("paused")]]);
        a.subtract(&a.clone());
        assert!(a.is_empty());
        assert_eq!(a.to_fields_v1(), json!({}));
    }

    #[test]
    fn bad_trees_are_refused() {
        assert!(FieldSet::from_fields_v1(&json!([])).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
        let mut deep = json!({});
        for _ in 0..(MAX_DEPTH + 2) {
            deep = json!({ "f:a": deep });
        }
        assert_eq!(FieldSet::from_fields_v1(&deep), Err(FieldsError::TooDeep));
    }
}
