//! Label and field selectors.
#![allow(missing_docs)]
use serde_json::{Map, Value};
pub struct LabelSelector(Vec<(String, String)>);
pub struct FieldSelector(Vec<(String, String)>);
#[derive(Debug, thiserror::Error)]
#[error("bad selector")]
pub struct SelectorError;
fn pairs(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('='))
        .map(|(a, b)| (a.into(), b.into()))
        .collect()
}
impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        Ok(Self(pairs(s)))
    }
    pub fn matches(&self, l: &Map<String, Value>) -> bool {
        self.0
            .iter()
            .all(|(k, v)| l.get(k).and_then(Value::as_str) == Some(v))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        Ok(Self(pairs(s)))
    }
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
    pub fn matches(&self, f: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|(k, v)| f(k).as_deref() == Some(v))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
