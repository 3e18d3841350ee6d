//! `$(VAR)` references in a container's `command`, `args` and `env[].value`, expanded the way
//! upstream's `third_party/forked/golang/expansion.Expand` does: `$$` is an escaped `$`, a
//! reference to an unknown variable (or an unterminated `$(`) stays in the text unchanged.

use std::collections::HashMap;

/// Expands `$(NAME)` in `input` with `lookup`; unknown names are left as `$(NAME)`.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.extend_from_slice(&bytes[checkpoint..cursor]);
            let rest = &bytes[cursor + 1..];
            let advance = match rest[0] {
                // `$$` escapes a dollar sign.
                b'$' => {
                    out.push(b'$');
                    1
                }
                b'(' => match rest.iter().position(|&b| b == b')') {
                    Some(close) => {
                        let name = String::from_utf8_lossy(&rest[1..close]);
                        match lookup(&name) {
                            Some(value) => out.extend_from_slice(value.as_bytes()),
                            None => {
                                out.extend_from_slice(b"$(");
                                out.extend_from_slice(name.as_bytes());
                                out.push(b')');
                            }
                        }
                        close + 1
                    }
                    // An unterminated reference is kept as written.
                    None => {
                        out.extend_from_slice(b"$(");
                        1
                    }
                },
                other => {
                    out.push(b'$');
                    out.push(other);
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.extend_from_slice(&bytes[checkpoint.min(bytes.len())..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// Expands `input` against a map of variables.
pub fn expand_with(input: &str, vars: &HashMap<String, String>) -> String {
    expand(input, &|name| vars.get(name).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<String, String> {
        [("A", "1"), ("EMPTY", ""), ("B", "two words")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn references_escapes_and_unknowns() {
        let v = vars();
        assert_eq!(expand_with("$(A)-$(B)", &v), "1-two words");
        assert_eq!(expand_with("x$(EMPTY)y", &v), "xy");
        assert_eq!(expand_with("$$(A)", &v), "$(A)");
        assert_eq!(expand_with("$$$(A)", &v), "$1");
        assert_eq!(expand_with("$(NOPE) $(A", &v), "$(NOPE) $(A");
        assert_eq!(expand_with("cost $5 and $", &v), "cost $5 and $");
        assert_eq!(expand_with("$(A)$(A)é", &v), "11é");
        assert_eq!(expand_with("$é", &v), "$é");
    }
}
