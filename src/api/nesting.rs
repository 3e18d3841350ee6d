//! Nesting limits for request bodies, checked in time linear in the body before it is decoded.
//!
//! Upstream's decoders stop at a fixed depth (apimachinery's JSON decoding and go-yaml refuse
//! more than 10000 levels, "exceeded max depth") so that one request cannot cost the server
//! more than its size. Here JSON goes through `serde_json`, whose recursion limit (128) stops
//! it after reading only as far as the 129th level; YAML gets the same limit, so that every
//! object the server accepts can be read back by its store. YAML does not: `serde_yaml_ng` has libyaml read the whole
//! stream into events before its deserializer counts depth, and libyaml's scanner spends
//! time proportional to the current depth on every token, so a 100 KB body nested 50,000
//! deep costs minutes. [`check_yaml`] walks libyaml's event stream itself and stops at the
//! first event deeper than [`MAX_DEPTH`], before the rest is scanned.

use std::mem::MaybeUninit;

/// The deepest collection nesting a body may have: `serde_json`'s recursion limit, which
/// also bounds what the server can read back from its store.
pub const MAX_DEPTH: usize = 128;

/// Why a body was refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NestingError {
    /// Collections nest deeper than [`MAX_DEPTH`].
    #[error("nesting depth exceeds the limit of {MAX_DEPTH} (at line {line})")]
    TooDeep {
        /// One-based line of the first collection over the limit.
        line: u64,
    },
    /// libyaml could not set up a parser.
    #[error("the YAML parser could not be initialised")]
    Parser,
}

/// One libyaml parser over a borrowed input. libyaml keeps a pointer to the parser in its
/// own read-handler state, so the parser lives in a box that never moves.
struct EventParser<'a> {
    parser: Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>,
    _input: &'a [u8],
}

impl<'a> EventParser<'a> {
    fn new(input: &'a [u8]) -> Result<Self, NestingError> {
        let mut parser = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
        let p = parser.as_mut_ptr();
        // SAFETY: `p` points to writable memory for a parser that `yaml_parser_initialize`
        // fills in; on failure nothing was allocated and the box is dropped uninitialised.
        if unsafe { unsafe_libyaml::yaml_parser_initialize(p) }.fail {
            return Err(NestingError::Parser);
        }
        // SAFETY: the parser is initialised; `input` outlives it (held by `_input`), and the
        // boxed parser never moves while libyaml refers to it.
        unsafe {
            unsafe_libyaml::yaml_parser_set_encoding(p, unsafe_libyaml::YAML_UTF8_ENCODING);
            unsafe_libyaml::yaml_parser_set_input_string(p, input.as_ptr(), input.len() as u64);
        }
        Ok(EventParser {
            parser,
            _input: input,
        })
    }

    /// The next event's type and one-based line; `None` on a syntax error (left to the
    /// decoder, which reports it with the document's context).
    fn next(&mut self) -> Option<(unsafe_libyaml::yaml_event_type_t, u64)> {
        let p = self.parser.as_mut_ptr();
        let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        let e = event.as_mut_ptr();
        // SAFETY: the parser is initialised (by `new`); `e` is writable memory that
        // `yaml_parser_parse` fills on success and that is deleted right after reading it.
        unsafe {
            if unsafe_libyaml::yaml_parser_parse(p, e).fail {
                return None;
            }
            let event = &*e;
            let out = (event.type_, event.start_mark.line + 1);
            unsafe_libyaml::yaml_event_delete(e);
            Some(out)
        }
    }
}

impl Drop for EventParser<'_> {
    fn drop(&mut self) {
        // SAFETY: `new` only returns initialised parsers, deleted exactly once here.
        unsafe { unsafe_libyaml::yaml_parser_delete(self.parser.as_mut_ptr()) }
    }
}

/// Refuses a YAML stream whose sequences and mappings nest deeper than [`MAX_DEPTH`],
/// stopping at the first event over it. Syntax errors are left to the decoder (which
/// reports them with the document's context), except that scanning stops there too.
pub fn check_yaml(input: &[u8]) -> Result<(), NestingError> {
    let mut parser = EventParser::new(input)?;
    let mut depth = 0usize;
    loop {
        let Some((kind, line)) = parser.next() else {
            return Ok(());
        };
        match kind {
            unsafe_libyaml::YAML_SEQUENCE_START_EVENT
            | unsafe_libyaml::YAML_MAPPING_START_EVENT => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(NestingError::TooDeep { line });
                }
            }
            unsafe_libyaml::YAML_SEQUENCE_END_EVENT | unsafe_libyaml::YAML_MAPPING_END_EVENT => {
                depth = depth.saturating_sub(1);
            }
            // after its end (or an error) libyaml hands out empty events: stop at either
            unsafe_libyaml::YAML_STREAM_END_EVENT | unsafe_libyaml::YAML_NO_EVENT => return Ok(()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_pass() {
        let doc = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: {a: b}\ndata:\n  k: |\n    [[[ not yaml ]]]\n---\n- [1, [2, [3]]]\n";
        assert_eq!(check_yaml(doc), Ok(()));
        let nested = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(check_yaml(nested.as_bytes()), Ok(()));
        // syntax errors are the decoder's to report
        assert_eq!(check_yaml(b"a: [1, 2"), Ok(()));
    }

    #[test]
    fn deep_flow_block_and_json_nesting_is_refused_quickly() {
        let flow = "[".repeat(100_000);
        let compact = "- ".repeat(50_000) + "x";
        let mut block = String::new();
        for i in 0..(MAX_DEPTH + 1) {
            block += &format!("{}k:\n", " ".repeat(i));
        }
        block += &format!("{}v", " ".repeat(MAX_DEPTH + 1));
        let json = "{\"a\":".repeat(100_000);
        let quoted = "[ \"]\", ".repeat(50_000);
        for body in [flow, compact, block, json, quoted] {
            let err = check_yaml(body.as_bytes()).expect_err(&body[..20]);
            assert!(matches!(err, NestingError::TooDeep { .. }), "{err}");
        }
        assert_eq!(
            check_yaml("[".repeat(200).as_bytes())
                .unwrap_err()
                .to_string(),
            "nesting depth exceeds the limit of 128 (at line 1)"
        );
    }
}
