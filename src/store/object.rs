//! One stored object as the store holds it in memory: its compact JSON text, validated once
//! when it was written or loaded, and parsed only when someone asks. A parsed
//! `serde_json::Value` costs many times its JSON (every map is a B-tree node, every string its
//! own allocation; a 5 KB pod is about 100 KB as a `Value`), and every durable object plus the
//! recent history lives in memory, so the text is what is kept. Readers that need a few fields
//! deserialize just those ([`Object::read`]), skipping the rest without allocating; writers of
//! API responses copy the text ([`Object::json`]).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::StoreError;

/// The deepest nesting of arrays and objects serde_json parses (its recursion limit);
/// checking the text against it keeps [`Object::value`] from failing.
const MAX_NESTING: usize = 127;

/// How deeply arrays and objects nest in valid JSON text.
fn nesting(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// One stored object and the revision that wrote it.
#[derive(Debug, Clone)]
pub struct Object {
    /// The revision of the write that produced this state.
    pub revision: u64,
    /// The object as compact JSON; `metadata.resourceVersion` equals `revision`.
    pub(super) value: Box<RawValue>,
    /// Its size as JSON, what the watch history's byte budget counts.
    pub size: usize,
}

impl Object {
    /// An object from JSON text, checked to be one JSON value that
    /// [`Object::value`] can parse (serde_json's nesting limit included).
    pub fn from_json(revision: u64, json: Vec<u8>) -> Result<Object, StoreError> {
        let text = String::from_utf8(json).map_err(|e| {
            StoreError::Json(serde::de::Error::custom(format_args!(
                "object is not UTF-8: {e}"
            )))
        })?;
        Self::checked(revision, RawValue::from_string(text)?)
    }

    /// An object from a parsed value, serialised straight into its text (serde_json's own
    /// output is not parsed again to be checked).
    pub fn from_value(revision: u64, value: &Value) -> Result<Object, StoreError> {
        Self::checked(revision, serde_json::value::to_raw_value(value)?)
    }

    /// `value` as an object, once its nesting is within what [`Object::value`] parses.
    fn checked(revision: u64, value: Box<RawValue>) -> Result<Object, StoreError> {
        if nesting(value.get().as_bytes()) > MAX_NESTING {
            return Err(StoreError::Json(serde::de::Error::custom(format_args!(
                "object is nested more than {MAX_NESTING} levels deep"
            ))));
        }
        let size = value.get().len();
        Ok(Object {
            revision,
            value,
            size,
        })
    }

    /// The object's JSON text, as stored (compact, keys in order).
    pub fn json(&self) -> &str {
        self.value.get()
    }

    /// The object, parsed. The text was checked when the object was made, so this does not
    /// fail; should it ever, the error is logged and the object reads as `null`.
    pub fn value(&self) -> Value {
        serde_json::from_str(self.json()).unwrap_or_else(|e| {
            tracing::error!(error = %e, revision = self.revision, "stored object no longer parses");
            Value::Null
        })
    }

    /// The fields of the object that `T` declares, borrowing strings from the text where `T`
    /// allows; everything else is skipped without being built.
    pub fn read<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.json())
    }
}

impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.revision == other.revision && self.json() == other.json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_json_text_and_parses_it_back() {
        let v = json!({"metadata": {"name": "a", "labels": {"app": "web"}}, "spec": {"n": [1, 2]}});
        let o = Object::from_value(7, &v).unwrap();
        assert_eq!(o.value(), v);
        assert_eq!(o.json(), serde_json::to_string(&v).unwrap());
        assert_eq!(o.size, o.json().len());
        assert_eq!(o.revision, 7);
    }

    #[test]
    fn reads_only_the_fields_asked_for() {
        #[derive(Deserialize)]
        struct Meta<'a> {
            #[serde(borrow)]
            name: &'a str,
        }
        #[derive(Deserialize)]
        struct Named<'a> {
            #[serde(borrow)]
            metadata: Meta<'a>,
        }
        let o = Object::from_value(
            1,
            &json!({"metadata": {"name": "a", "uid": "u"}, "spec": {}}),
        )
        .unwrap();
        assert_eq!(o.read::<Named<'_>>().unwrap().metadata.name, "a");
    }

    #[test]
    fn refuses_text_that_is_not_one_json_value() {
        assert!(Object::from_json(1, b"{\"a\":".to_vec()).is_err());
        assert!(Object::from_json(1, b"{} {}".to_vec()).is_err());
        assert!(Object::from_json(1, vec![b'"', 0xff, b'"']).is_err());
    }

    #[test]
    fn refuses_nesting_deeper_than_the_parser_reads() {
        // A deeper object could be written but never read back (nor loaded after a
        // restart): the store takes exactly what serde_json parses.
        for levels in 120..140 {
            let text = format!(
                "{}\"a]}}\\\"[{{\"{}",
                "[{\"k\":".repeat(levels / 2),
                "}]".repeat(levels / 2)
            );
            let parses = serde_json::from_str::<Value>(&text).is_ok();
            let stored = Object::from_json(1, text.clone().into_bytes());
            assert_eq!(stored.is_ok(), parses, "{levels} levels");
            if let Ok(o) = stored {
                assert_eq!(o.value(), serde_json::from_str::<Value>(&text).unwrap());
            }
        }
        let mut deep = json!(1);
        for _ in 0..200 {
            deep = json!([deep]);
        }
        assert!(Object::from_value(1, &deep).is_err());
    }

    #[test]
    fn holds_about_its_json_size() {
        let v = json!({"metadata": {"name": "x".repeat(1000)}});
        let o = Object::from_value(1, &v).unwrap();
        // The text is kept in an allocation of exactly its length.
        assert_eq!(o.json().len(), o.size);
        assert!(o.size < 1100);
        assert!(std::mem::size_of::<Object>() <= 32);
    }
}
